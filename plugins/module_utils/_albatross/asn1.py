# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ASN.1 schemas of the albatross wire grammar (PRIVATE to the collection).

The schemas follow the protocol specification §3 tag for tag. The OCaml codec nests
CHOICEs (``choice2 (choice6 ..) ..``) but that nesting has no wire form, so every
grammar CHOICE is one flat ``Choice`` whose alternatives carry their own explicit tag.

``check_der`` is a small pure-Python structural check run before asn1crypto sees
any bytes: asn1crypto accepts BER (indefinite and non-minimal lengths, constructed
strings) while albatross' decoder is strict DER.

The asn1crypto import is optional so that the module can be imported without it;
``require()`` raises a clear error at use time.
"""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError

try:
    from asn1crypto import core
except ImportError as exc:
    core = None
    ASN1CRYPTO_IMPORT_ERROR: ImportError | None = exc
else:
    ASN1CRYPTO_IMPORT_ERROR = None

#: Deepest nesting of constructed values the grammar needs is about 12; anything far
#: deeper is hostile and must not exhaust the stack.
MAX_DEPTH = 32

# Universal tags of the grammar: BOOLEAN, INTEGER, OCTET STRING, NULL, UTF8String,
# GeneralizedTime (primitive); SEQUENCE, SET (constructed).
_PRIMITIVE_UNIVERSAL = frozenset((1, 2, 4, 5, 12, 24))
_CONSTRUCTED_UNIVERSAL = frozenset((16, 17))


def require() -> None:
    """Raise ProtocolError when asn1crypto is missing."""
    if core is None:
        raise ProtocolError("the Python library asn1crypto is required for the albatross protocol: %s" % ASN1CRYPTO_IMPORT_ERROR)


def read_header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Return (tag byte, content start, content end) of the TLV at ``pos`` (strict DER)."""
    if end - pos < 2:
        raise ProtocolError("DER: truncated header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ProtocolError("DER: multi-byte tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise ProtocolError("DER: indefinite length")
    else:
        count = first & 0x7F
        if count > 4 or end - pos < count:
            raise ProtocolError("DER: bad length")
        raw = data[pos:pos + count]
        if raw[0] == 0:
            raise ProtocolError("DER: non-minimal length")
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            raise ProtocolError("DER: non-minimal length")
        pos += count
    if end - pos < length:
        raise ProtocolError("DER: value longer than its container")
    return tag, pos, pos + length


def _check_primitive(number: int, data: bytes, start: int, end: int) -> None:
    size = end - start
    if number == 1 and size != 1:
        raise ProtocolError("DER: BOOLEAN must have one byte")
    if number == 5 and size != 0:
        raise ProtocolError("DER: NULL must be empty")
    if number == 2:
        if size == 0:
            raise ProtocolError("DER: empty INTEGER")
        if size > 1 and ((data[start] == 0 and data[start + 1] < 0x80) or (data[start] == 0xFF and data[start + 1] >= 0x80)):
            raise ProtocolError("DER: non-minimal INTEGER")


def _walk(data: bytes, pos: int, end: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError("DER: nesting too deep")
    while pos < end:
        tag, start, stop = read_header(data, pos, end)
        klass = tag >> 6
        constructed = bool(tag & 0x20)
        number = tag & 0x1F
        if klass == 0:
            if number in _CONSTRUCTED_UNIVERSAL:
                if not constructed:
                    raise ProtocolError("DER: primitive SEQUENCE/SET")
                _walk(data, start, stop, depth + 1)
            elif number in _PRIMITIVE_UNIVERSAL:
                if constructed:
                    raise ProtocolError("DER: constructed string or scalar")
                _check_primitive(number, data, start, stop)
            else:
                raise ProtocolError("DER: unexpected universal tag %d" % number)
        elif klass == 2:
            # Every context tag of the grammar is EXPLICIT or an IMPLICIT SEQUENCE.
            if not constructed:
                raise ProtocolError("DER: primitive context tag [%d]" % number)
            _walk(data, start, stop, depth + 1)
        else:
            raise ProtocolError("DER: application or private tag")
        pos = stop


def check_der(data: bytes) -> None:
    """Raise ProtocolError unless ``data`` is exactly one strict-DER value."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError("expected bytes, got %s" % type(data).__name__)
    data = bytes(data)
    if not data:
        raise ProtocolError("empty message")
    _tag, _start, stop = read_header(data, 0, len(data))
    if stop != len(data):
        raise ProtocolError("trailing bytes")
    _walk(data, 0, len(data), 0)


if core is not None:

    class GenTime(core.Primitive):
        """GeneralizedTime with raw contents: albatross' ``.fff`` rules are applied by the codec."""

        tag = 24

        @property
        def native(self) -> bytes | None:
            return None if self.contents is None else bytes(self.contents)

    class RawUTF8(core.Primitive):
        """UTF8String kept as bytes (albatross does not validate it)."""

        tag = 12

        @property
        def native(self) -> bytes | None:
            return None if self.contents is None else bytes(self.contents)

    class Int64(core.OctetString):
        """Int64: OCTET STRING of exactly 8 bytes, big-endian two's complement."""

    class MacAddr(core.OctetString):
        pass

    class IntSet(core.SetOf):
        _child_spec = core.Integer

    class IntSeq(core.SequenceOf):
        _child_spec = core.Integer

    class StrSeq(core.SequenceOf):
        _child_spec = RawUTF8

    class Typ(core.Choice):
        _alternatives = [
            ('solo5', core.Null, {'explicit': 0}),
            ('bhyve', core.Null, {'explicit': 1}),
        ]

    class FailBehaviour(core.Choice):
        _alternatives = [
            ('quit', core.Null, {'explicit': 0}),
            ('restart', IntSet, {'explicit': 1}),
        ]

    class BlockSpec(core.Sequence):
        _fields = [
            ('name', RawUTF8),
            ('device', RawUTF8, {'optional': True}),
            ('sector_size', core.Integer, {'optional': True}),
        ]

    class BlockSpecs(core.SetOf):
        _child_spec = BlockSpec

    class BridgeSpec(core.Sequence):
        _fields = [
            ('netif', RawUTF8),
            ('bridge', RawUTF8, {'optional': True}),
            ('mac', MacAddr, {'optional': True}),
        ]

    class BridgeSpecs(core.SetOf):
        _child_spec = BridgeSpec

    _DEVICE_FIELDS = [
        ('blocks', BlockSpecs, {'explicit': 0, 'optional': True}),
        ('bridges', BridgeSpecs, {'explicit': 1, 'optional': True}),
        ('arguments', StrSeq, {'explicit': 2, 'optional': True}),
    ]
    _CURRENT_TAIL = [
        ('cpus', core.Integer, {'explicit': 3, 'optional': True}),
        ('linux_boot_partition', RawUTF8, {'explicit': 4, 'optional': True}),
    ]

    class UnikernelConfig(core.Sequence):
        _fields = [
            ('typ', Typ),
            ('compressed', core.Boolean),
            ('image', core.OctetString),
            ('startup', core.Integer, {'optional': True}),
            ('add_name', core.Boolean),
            ('fail_behaviour', FailBehaviour),
            ('cpuids', IntSet),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS + _CURRENT_TAIL

    class UnikernelConfigV4(core.Sequence):
        _fields = [
            ('typ', Typ),
            ('compressed', core.Boolean),
            ('image', core.OctetString),
            ('startup', core.Integer, {'optional': True}),
            ('add_name', core.Boolean),
            ('fail_behaviour', FailBehaviour),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS

    class UnikernelConfigV3(core.Sequence):
        _fields = [
            ('typ', Typ),
            ('compressed', core.Boolean),
            ('image', core.OctetString),
            ('fail_behaviour', FailBehaviour),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS

    class UnikernelArguments(core.Sequence):
        _fields = [
            ('fail_behaviour', FailBehaviour),
            ('startup', core.Integer, {'optional': True}),
            ('add_name', core.Boolean),
            ('cpuids', IntSet),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS + _CURRENT_TAIL

    class UnikernelArgumentsV1(core.Sequence):
        _fields = [
            ('fail_behaviour', FailBehaviour),
            ('startup', core.Integer, {'optional': True}),
            ('add_name', core.Boolean),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS

    class UnikernelArgumentsV0(core.Sequence):
        _fields = [
            ('fail_behaviour', FailBehaviour),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
        ] + _DEVICE_FIELDS

    class RestartArgs(core.Choice):
        _alternatives = [
            ('none', core.Null, {'explicit': 0}),
            ('v0', UnikernelArgumentsV0, {'explicit': 1}),
            ('v1', UnikernelArgumentsV1, {'explicit': 2}),
            ('current', UnikernelArguments, {'explicit': 3}),
        ]

    class Policy(core.Sequence):
        _fields = [
            ('cpuids', IntSeq),
            ('unikernels', core.Integer),
            ('memory', core.Integer),
            ('block', core.Integer, {'optional': True}),
            ('bridges', StrSeq),
        ]

    class SinceCount(core.Choice):
        _alternatives = [
            ('since', GenTime, {'explicit': 0}),
            ('count', core.Integer, {'explicit': 1}),
        ]

    class ConsoleCmd(core.Choice):
        _alternatives = [
            ('console_add', core.Integer, {'explicit': 0}),
            ('console_subscribe', SinceCount, {'explicit': 2}),
            ('console_list_inactive', core.Null, {'explicit': 3}),
        ]

    class Tap(core.Sequence):
        _fields = [('bridge', RawUTF8), ('tap', RawUTF8)]

    class Taps(core.SequenceOf):
        _child_spec = Tap

    class StatsAdd(core.Sequence):
        _fields = [('vmmdev', RawUTF8), ('pid', core.Integer), ('network', Taps)]

    class StatsCmd(core.Choice):
        _alternatives = [
            ('stats_add', StatsAdd, {'explicit': 0}),
            ('stats_remove', core.Null, {'explicit': 1}),
            ('stats_subscribe', core.Null, {'explicit': 2}),
            ('stats_initial', core.Null, {'explicit': 3}),
        ]

    class PolicyCmd(core.Choice):
        _alternatives = [
            ('policy_info', core.Null, {'explicit': 0}),
            ('policy_add', Policy, {'explicit': 1}),
            ('policy_remove', core.Null, {'explicit': 2}),
        ]

    class BlockAddOld(core.Sequence):
        _fields = [('size', core.Integer), ('compressed', core.Boolean), ('data', core.OctetString, {'optional': True})]

    class BlockSetOld(core.Sequence):
        _fields = [('compressed', core.Boolean), ('data', core.OctetString)]

    class BlockCmd(core.Choice):
        _alternatives = [
            ('block_info', core.Null, {'explicit': 0}),
            ('block_add', core.Integer, {'explicit': 1}),
            ('block_remove', core.Null, {'explicit': 2}),
            ('block_add_old', BlockAddOld, {'explicit': 3}),
            ('block_set_old', BlockSetOld, {'explicit': 4}),
            ('block_dump_old', core.Integer, {'explicit': 5}),
            ('block_dump', core.Integer, {'explicit': 6}),
            ('block_set', core.Boolean, {'explicit': 7}),
        ]

    class UnikernelCmd(core.Choice):
        _alternatives = [
            ('unikernel_destroy', core.Null, {'explicit': 3}),
            ('unikernel_create_old', UnikernelConfigV3, {'explicit': 9}),
            ('unikernel_force_create_old', UnikernelConfigV3, {'explicit': 10}),
            ('unikernel_get', core.Integer, {'explicit': 11}),
            ('unikernel_restart', RestartArgs, {'explicit': 14}),
            ('unikernel_info_old4', core.Null, {'explicit': 15}),
            ('unikernel_create_old2', UnikernelConfigV4, {'explicit': 16}),
            ('unikernel_force_create_old2', UnikernelConfigV4, {'explicit': 17}),
            ('unikernel_info_old5', core.Null, {'explicit': 18}),
            ('unikernel_info', core.Null, {'explicit': 19}),
            ('unikernel_create', UnikernelConfig, {'explicit': 20}),
            ('unikernel_force_create', UnikernelConfig, {'explicit': 21}),
        ]

    class Command(core.Choice):
        # [2] log is kept so that it parses; the codec then refuses it like albatross.
        _alternatives = [
            ('console', ConsoleCmd, {'explicit': 0}),
            ('stats', StatsCmd, {'explicit': 1}),
            ('log', core.Null, {'explicit': 2}),
            ('unikernel', UnikernelCmd, {'explicit': 3}),
            ('policy', PolicyCmd, {'explicit': 4}),
            ('block', BlockCmd, {'explicit': 5}),
        ]

    class CertExtension(core.Sequence):
        _fields = [('version', core.Integer), ('command', Command)]
