# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Direct DER reader and writer for the frequent Wire messages (PRIVATE to the collection).

Building asn1crypto objects costs about 0.3 ms per unikernel of an info reply, so a
fleet of servers spends most of its decoding time there. This module reads and writes
the messages that carry bulk data (unikernel info replies) and the small ones every
session ends with (empty, string, failure) straight from and to bytes.

It covers only the canonical form: every element in schema order with exactly the
expected tag, values within albatross' ranges. Anything else (other payloads, old
layouts, extension fields, any anomaly or error) raises ``Unsupported`` and the caller
hands the message to the asn1crypto codec in ``messages``, which stays the reference:
it accepts or refuses the message and words every error. The reader raises nothing
but ``Unsupported`` and ProtocolError (from ``read_header``); the caller also falls back
on any other error, so the unit tests call this reader directly to catch such bugs.
Each header is read by ``asn1.read_header``, the same strict DER check the reference
runs first, so whatever this module accepts is strict DER, and its value equals the
reference's (a differential test checks both on valid and mutated input).
"""

from __future__ import annotations

import datetime

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec as c
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.asn1 import read_header
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    WIRE_VERSION,
    BlockDeviceInfo,
    FailBehaviour,
    Failure,
    Header,
    NetworkInterfaceInfo,
    Success,
    UnikernelInfo,
    Wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import normalize_name

# Tags: universal primitives, universal constructed, context-specific constructed [n] = 0xA0 + n.
_INTEGER, _OCTETS, _NULL, _UTF8, _TIME = 0x02, 0x04, 0x05, 0x0C, 0x18
_SEQ, _SET = 0x30, 0x31
_CTX = 0xA0
_SUCCESS, _FAILURE = 0xA1, 0xA2
_EMPTY, _STRING, _INFO = 0xA0, 0xA1, 0xAD
_NULL_TLV = b"\x05\x00"
_TYPS = ("solo5", "bhyve")


class Unsupported(Exception):
    """The message is not in the canonical subset handled here."""


# ---------------------------------------------------------------- reading


def _children(data: bytes, pos: int, end: int) -> list:
    """(tag, start, stop) of every element between ``pos`` and ``end``."""
    found = []
    while pos < end:
        # Short form inline (nearly every element); the rest, and every error, through read_header.
        if end - pos >= 2:
            tag, size = data[pos], data[pos + 1]
            stop = pos + 2 + size
            if size < 0x80 and tag & 0x1F != 0x1F and stop <= end:
                found.append((tag, pos + 2, stop))
                pos = stop
                continue
        tag, start, pos = read_header(data, pos, end)
        found.append((tag, start, pos))
    return found


def _only(data: bytes, element: tuple, tag: int) -> tuple:
    """The single element inside the explicit wrapper ``element``; it must have ``tag``."""
    _outer, start, stop = element
    inner, istart, istop = read_header(data, start, stop)
    if inner != tag or istop != stop:
        raise Unsupported()
    return istart, istop


def _int(data: bytes, start: int, stop: int) -> int:
    size = stop - start
    if size == 0 or (size > 1 and ((data[start] == 0 and data[start + 1] < 0x80) or (data[start] == 0xFF and data[start + 1] >= 0x80))):
        raise Unsupported()
    number = int.from_bytes(data[start:stop], "big", signed=True)
    if not c.INT_MIN <= number <= c.INT_MAX:
        raise Unsupported()
    return number


def _int_at(data: bytes, element: tuple) -> int:
    if element[0] != _INTEGER:
        raise Unsupported()
    return _int(data, element[1], element[2])


def _text(data: bytes, element: tuple) -> str:
    if element[0] != _UTF8:
        raise Unsupported()
    return data[element[1]:element[2]].decode("utf-8", errors="replace")


def _octets(data: bytes, element: tuple) -> bytes:
    if element[0] != _OCTETS:
        raise Unsupported()
    return data[element[1]:element[2]]


def _null_choice(data: bytes, element: tuple, names: tuple) -> str:
    """A CHOICE of explicit [0], [1] ... around NULL: the name of the alternative."""
    number = element[0] - _CTX
    if not 0 <= number < len(names) or element[2] - element[1] != 2 or data[element[1]:element[2]] != _NULL_TLV:
        raise Unsupported()
    return names[number]


def _int_set(data: bytes, element: tuple) -> tuple:
    if element[0] != _SET:
        raise Unsupported()
    return tuple(sorted({_int_at(data, item) for item in _children(data, element[1], element[2])}))


def _fail_behaviour(data: bytes, element: tuple) -> FailBehaviour:
    if element[0] == _CTX:
        _null_choice(data, element, ("quit",))
        return FailBehaviour()
    if element[0] != _CTX + 1:
        raise Unsupported()
    inner, start, stop = read_header(data, element[1], element[2])
    if stop != element[2]:
        raise Unsupported()
    return FailBehaviour(True, _int_set(data, (inner, start, stop)))


def _fields(data: bytes, element: tuple, tags: tuple) -> list:
    """The elements of a SEQUENCE that must hold exactly ``tags``, in order."""
    if element[0] != _SEQ:
        raise Unsupported()
    items = _children(data, element[1], element[2])
    if tuple(item[0] for item in items) != tags:
        raise Unsupported()
    return items


def _block_info(data: bytes, element: tuple) -> BlockDeviceInfo:
    name, device, sector, size = _fields(data, element, (_UTF8, _UTF8, _INTEGER, _INTEGER))
    return BlockDeviceInfo(name=_text(data, name), host_device=_text(data, device),
                           sector_size=_int_at(data, sector), size=_int_at(data, size))


def _net_info(data: bytes, element: tuple) -> NetworkInterfaceInfo:
    name, bridge, mac = _fields(data, element, (_UTF8, _UTF8, _OCTETS))
    raw = _octets(data, mac)
    if len(raw) != 6:
        raise Unsupported()
    return NetworkInterfaceInfo(name=_text(data, name), bridge=_text(data, bridge), mac=":".join("%02x" % b for b in raw))


def _listed(data: bytes, element: tuple, tag: int) -> list:
    """The elements of the SET OF / SEQUENCE OF (``tag``) inside the explicit wrapper ``element``."""
    start, stop = _only(data, element, tag)
    return _children(data, start, stop)


def _info(data: bytes, name: str, element: tuple) -> UnikernelInfo:
    """UnikernelInfo (current layout, spec §3.7) without extension fields."""
    if element[0] != _SEQ:
        raise Unsupported()
    items = _children(data, element[1], element[2])
    count = len(items)
    if count < 5:
        raise Unsupported()
    values = {"name": name, "typ": _null_choice(data, items[0], _TYPS)}
    index = 1
    startup = None
    if items[1][0] == _INTEGER:
        startup = _int_at(data, items[1])
        index = 2
    values["startup"] = startup
    if count < index + 4:
        raise Unsupported()
    values["fail_behaviour"] = _fail_behaviour(data, items[index])
    values["cpuids"] = _int_set(data, items[index + 1])
    values["memory"] = _int_at(data, items[index + 2])
    values["digest"] = _octets(data, items[index + 3])
    optional: dict = {}
    last = -1
    for tag, start, stop in items[index + 4:]:
        number = tag - _CTX
        # In schema order, each at most once; an extension field goes to the reference.
        if not last < number <= 5:
            raise Unsupported()
        optional[number] = (tag, start, stop)
        last = number
    if 0 in optional:
        values["block_devices"] = tuple(_block_info(data, item) for item in _listed(data, optional[0], _SET))
    if 1 in optional:
        values["network_interfaces"] = tuple(_net_info(data, item) for item in _listed(data, optional[1], _SET))
    if 2 in optional:
        values["argv"] = tuple(_text(data, item) for item in _listed(data, optional[2], _SEQ))
    if 3 in optional:
        start, stop = _only(data, optional[3], _TIME)
        values["started"] = _time(data[start:stop])
    values["cpus"] = _int(data, *_only(data, optional[4], _INTEGER)) if 4 in optional else None
    if 5 in optional:
        start, stop = _only(data, optional[5], _UTF8)
        values["linux_boot_partition"] = data[start:stop].decode("utf-8", errors="replace")
    return UnikernelInfo(**values)


def _time(raw: bytes) -> datetime.datetime:
    """``codec.parse_time``, without its regular expression for the usual ``YYYYMMDDHHMMSS.fffZ``."""
    if len(raw) == 19 and raw[14] == 0x2E and raw[18] == 0x5A and raw[:14].isdigit() and raw[15:18].isdigit():
        try:
            return datetime.datetime(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]), int(raw[8:10]), int(raw[10:12]), int(raw[12:14]),
                                     int(raw[15:18]) * 1000, tzinfo=c.UTC)
        except ValueError:
            # Digits, but no date (month 13, day 0): the reference words the error.
            raise Unsupported() from None
    return c.parse_time(raw)


def _name(text: str) -> str:
    """``normalize_name``; an invalid name goes to the reference, which words the error."""
    try:
        return normalize_name(text)
    except ValidationError:
        raise Unsupported() from None


def _named_infos(data: bytes, element: tuple) -> tuple:
    result = []
    for entry in _listed(data, element, _SEQ):
        name, info = _fields(data, entry, (_UTF8, _SEQ))
        result.append(_info(data, _name(_text(data, name)), info))
    return tuple(result)


def _payload(data: bytes, element: tuple):
    if element[0] == _FAILURE:
        return Failure(data[slice(*_only(data, element, _UTF8))].decode("utf-8", errors="replace"))
    if element[0] != _SUCCESS:
        raise Unsupported()
    inner, start, stop = read_header(data, element[1], element[2])
    if stop != element[2]:
        raise Unsupported()
    kind = (inner, start, stop)
    if inner == _INFO:
        return Success("unikernel_info", _named_infos(data, kind))
    if inner == _STRING:
        return Success("string", data[slice(*_only(data, kind, _UTF8))].decode("utf-8", errors="replace"))
    if inner == _EMPTY:
        _null_choice(data, kind, ("empty",))
        return Success("empty")
    raise Unsupported()


def decode_wire(data: bytes) -> Wire:
    """Decode a canonical Wire message, or raise Unsupported (or an error the reference words itself)."""
    tag, start, stop = read_header(data, 0, len(data))
    if tag != _SEQ or stop != len(data):
        raise Unsupported()
    items = _children(data, start, stop)
    if len(items) != 2:
        raise Unsupported()
    head, payload = items
    version, sequence, name = _fields(data, head, (_INTEGER, _OCTETS, _UTF8))
    if _int_at(data, version) != WIRE_VERSION:
        raise Unsupported()
    counter = _octets(data, sequence)
    if len(counter) < 8:
        raise Unsupported()
    header = Header(name=_name(_text(data, name)), sequence=int.from_bytes(counter[:8], "big", signed=True), version=WIRE_VERSION)
    return Wire(header, _payload(data, payload))


# ---------------------------------------------------------------- writing


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _put_int(number) -> bytes:
    if type(number) is not int or not c.INT_MIN <= number <= c.INT_MAX:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    size = (number if number >= 0 else ~number).bit_length() // 8 + 1
    return _tlv(_INTEGER, number.to_bytes(size, "big", signed=True))


def _put_text(text) -> bytes:
    if type(text) is str:  # pylint: disable=unidiomatic-typecheck
        return _tlv(_UTF8, text.encode("utf-8", errors="surrogateescape"))
    if type(text) is bytes:  # pylint: disable=unidiomatic-typecheck
        return _tlv(_UTF8, text)
    raise Unsupported()


def _items(values) -> tuple | list:
    # Only tuples and lists: an iterator consumed here would be gone when the reference encodes.
    if type(values) is not tuple and type(values) is not list:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    return values


def _put_int_set(values) -> bytes:
    # DER orders SET OF elements by their encoding (so does asn1crypto).
    return _tlv(_SET, b"".join(sorted(_put_int(value) for value in sorted(set(_items(values))))))


def _put_info(info) -> bytes:
    if type(info) is not UnikernelInfo or info.typ not in _TYPS:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    fail = info.fail_behaviour
    if type(fail) is not FailBehaviour:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    if type(info.digest) is not bytes:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    parts = [_tlv(_CTX + _TYPS.index(info.typ), _NULL_TLV)]
    if info.startup is not None:
        parts.append(_put_int(info.startup))
    parts.append(_tlv(_CTX + 1, _put_int_set(fail.exit_codes)) if fail.restart else _tlv(_CTX, _NULL_TLV))
    parts += [_put_int_set(info.cpuids), _put_int(info.memory), _tlv(_OCTETS, info.digest)]
    if info.block_devices:
        blocks = sorted(_tlv(_SEQ, _put_text(b.name) + _put_text(b.host_device) + _put_int(b.sector_size) + _put_int(b.size))
                        for b in _items(info.block_devices))
        parts.append(_tlv(_CTX, _tlv(_SET, b"".join(blocks))))
    if info.network_interfaces:
        nets = sorted(_tlv(_SEQ, _put_text(n.name) + _put_text(n.bridge) + _tlv(_OCTETS, c.mac_to_bytes(n.mac)))
                      for n in _items(info.network_interfaces))
        parts.append(_tlv(_CTX + 1, _tlv(_SET, b"".join(nets))))
    if info.argv is not None:
        parts.append(_tlv(_CTX + 2, _tlv(_SEQ, b"".join(_put_text(arg) for arg in _items(info.argv)))))
    if info.started is not None:
        parts.append(_tlv(_CTX + 3, _tlv(_TIME, c.format_time(info.started))))
    if info.cpus is not None:
        parts.append(_tlv(_CTX + 4, _put_int(info.cpus)))
    if info.linux_boot_partition is not None:
        parts.append(_tlv(_CTX + 5, _put_text(info.linux_boot_partition)))
    return _tlv(_SEQ, b"".join(parts))


def _put_payload(payload) -> bytes:
    if type(payload) is Failure:  # pylint: disable=unidiomatic-typecheck
        return _tlv(_FAILURE, _put_text(payload.message))
    if type(payload) is not Success:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    if payload.kind == "unikernel_info":
        infos = b"".join(_tlv(_SEQ, _put_text(info.name) + _put_info(info)) for info in _items(payload.value))
        inner = _tlv(_INFO, _tlv(_SEQ, infos))
    elif payload.kind == "string":
        inner = _tlv(_STRING, _put_text(payload.value))
    elif payload.kind == "empty":
        inner = _tlv(_EMPTY, _NULL_TLV)
    else:
        raise Unsupported()
    return _tlv(_SUCCESS, inner)


def encode_wire(wire) -> bytes:
    """DER of a Wire message with a payload handled here, or raise Unsupported (or any error)."""
    if type(wire) is not Wire or type(wire.header) is not Header:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    header = wire.header
    if type(header.sequence) is not int or not c.INT64_MIN <= header.sequence <= c.INT64_MAX:  # pylint: disable=unidiomatic-typecheck
        raise Unsupported()
    head = _put_int(header.version) + _tlv(_OCTETS, header.sequence.to_bytes(8, "big", signed=True)) + _put_text(normalize_name(header.name))
    return _tlv(_SEQ, _tlv(_SEQ, head) + _put_payload(wire.payload))
