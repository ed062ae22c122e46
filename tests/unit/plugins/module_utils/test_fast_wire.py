# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The direct Wire reader/writer (fast_wire) against the asn1crypto codec it must agree with.

Whatever fast_wire accepts, the reference decodes to the same value; whatever it refuses
goes to the reference, so ``decode_wire``/``encode_wire`` give exactly the reference's
value or error (the same message) on valid, mutated and invalid input.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import fast_wire, messages
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossError, ProtocolError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    decode_wire,
    decode_wire_reference,
    encode_wire,
    encode_wire_reference,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDeviceInfo,
    FailBehaviour,
    Failure,
    Header,
    NetworkInterfaceInfo,
    Success,
    UnikernelInfo,
    Wire,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import albatross_strategies as s
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils.fuzz_inputs import FUZZ as CHECKS
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils.fuzz_inputs import SEEDS, mutated

UTC = datetime.timezone.utc

# The payloads fast_wire handles itself.
fast_payloads = st.one_of(
    st.builds(Success, st.just("unikernel_info"), st.lists(s.infos("current"), max_size=4).map(tuple)),
    st.builds(Success, st.just("string"), s.texts),
    st.just(Success("empty")),
    st.builds(Failure, s.texts),
)
info_wires = s.wires(fast_payloads)


def _outcome(function, value):
    """What ``function`` gives: ("value", result) or (error type, message)."""
    try:
        return "value", function(value)
    except AlbatrossError as exc:
        return type(exc).__name__, str(exc)


def _check_decoding(data: bytes) -> None:
    try:
        fast = fast_wire.decode_wire(data)
    except (fast_wire.Unsupported, ProtocolError):
        # Refused by the direct reader (not canonical, a DER error): the reference decides.
        # Any other exception is a bug of the direct reader and fails the test.
        fast = None
    reference = _outcome(decode_wire_reference, data)
    if fast is not None:
        assert reference == ("value", fast)
    assert _outcome(decode_wire, data) == reference


def _check_encoding(wire) -> None:
    reference = _outcome(encode_wire_reference, wire)
    assert _outcome(encode_wire, wire) == reference


@CHECKS
@given(info_wires)
def test_direct_writer_is_byte_identical(wire):
    assert fast_wire.encode_wire(wire) == encode_wire_reference(wire)


@CHECKS
@given(s.wires())
def test_encode_wire_matches_reference(wire):
    _check_encoding(wire)


@CHECKS
@given(info_wires)
def test_direct_reader_decodes_canonical_replies(wire):
    data = encode_wire_reference(wire)
    assert fast_wire.decode_wire(data) == decode_wire_reference(data)


@CHECKS
@given(s.wires().map(encode_wire_reference))
def test_decode_wire_matches_reference(data):
    _check_decoding(data)


@CHECKS
@given(mutated(info_wires.map(encode_wire_reference)))
def test_mutated_replies_match_reference(data):
    _check_decoding(data)


@CHECKS
@given(mutated())
def test_mutated_vectors_match_reference(data):
    _check_decoding(data)


@CHECKS
@given(st.binary(max_size=200))
def test_random_bytes_match_reference(data):
    _check_decoding(data)


def _reply(*infos) -> Wire:
    return Wire(Header(":", 7), Success("unikernel_info", tuple(infos)))


def _info(**changes) -> UnikernelInfo:
    values = dict(
        name=":web", fail_behaviour=FailBehaviour(True, (-3, 1, 200)), cpuids=(0, 3, 128), memory=64, digest=bytes(range(32)),
        block_devices=(BlockDeviceInfo("storage", "data", 512, 10), BlockDeviceInfo("a", "b", 4096, 1)),
        network_interfaces=(NetworkInterfaceInfo("service", "br0", "00:80:41:aa:bb:cc"),),
        argv=("--ipv4=10.0.0.2/24", "{{ x }}"), started=datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        cpus=2, startup=5, linux_boot_partition="p1",
    )
    values.update(changes)
    return UnikernelInfo(**values)


def test_large_reply_uses_the_direct_path():
    wire = _reply(*(_info(name=":u%03d" % index, memory=32 + index) for index in range(300)))
    data = encode_wire_reference(wire)
    assert len(data) > 0xFFFF
    assert fast_wire.encode_wire(wire) == data
    assert fast_wire.decode_wire(data) == decode_wire_reference(data) == decode_wire(data)


def _reencoded_info(info_tlv: bytes, extra: bytes) -> bytes:
    """``info_tlv`` (a SEQUENCE with a short length) with ``extra`` appended inside it."""
    body = info_tlv[2:] + extra
    return fast_wire._tlv(0x30, body)  # pylint: disable=protected-access


def test_extension_fields_go_to_the_reference():
    # A newer server may append optional fields with higher context tags ([6] here).
    info = _info(name=":x", block_devices=(), network_interfaces=(), argv=None, started=None, linux_boot_partition=None)
    info_tlv = fast_wire._put_info(info)  # pylint: disable=protected-access
    named = fast_wire._tlv(0x30, fast_wire._put_text(":x") + _reencoded_info(info_tlv, b"\xa6\x03\x02\x01\x07"))  # pylint: disable=protected-access
    head = encode_wire_reference(_reply())[2:]
    head = head[:head.index(b"\xa1")]
    data = fast_wire._tlv(0x30, head + fast_wire._tlv(0xA1, fast_wire._tlv(0xAD, fast_wire._tlv(0x30, named))))  # pylint: disable=protected-access
    with pytest.raises(fast_wire.Unsupported):
        fast_wire.decode_wire(data)
    assert decode_wire(data) == decode_wire_reference(data) == Wire(Header(":", 7), Success("unikernel_info", (info,)))


@pytest.mark.parametrize("make", [
    lambda: _reply(_info(memory=True)),
    lambda: _reply(_info(memory=1 << 62)),
    lambda: _reply(_info(cpuids=(0, "1"))),
    lambda: _reply(_info(cpuids=(1, 0, 1))),
    lambda: _reply(_info(typ="xen")),
    lambda: _reply(_info(digest=bytearray(b"\x01\x02"))),
    lambda: _reply(_info(argv=(arg for arg in ("a", "b")))),
    lambda: _reply(_info(argv=["a", b"b"])),
    lambda: _reply(_info(network_interfaces=(NetworkInterfaceInfo("service", "br0", "zz:80:41:aa:bb:cc"),))),
    lambda: _reply(_info(block_devices=(BlockDeviceInfo("storage", None, 512, 10),))),
    lambda: _reply(_info(started="yesterday")),
    lambda: _reply(_info(argv=("\ud800",))),
    lambda: _reply(_info(fail_behaviour="quit")),
    lambda: Wire(Header("bad name!", 1), Success("empty")),
    lambda: Wire(Header(":", 1 << 63), Success("empty")),
    lambda: Wire(Header(":", 1, version=True), Success("empty")),
    lambda: Wire(Header(":", 1), Success("string", b"raw bytes")),
    lambda: Wire(Header(":", 1), Success("string", None)),
    lambda: Wire(Header(":", 1), Success("unikernel_info", None)),
    lambda: Wire(Header(":", 1), Failure(bytearray(b"why"))),
    lambda: Wire(":", Success("empty")),
])
def test_invalid_values_match_reference(make):
    # A fresh value for each encoder: generators are used up by the first.
    assert _outcome(encode_wire, make()) == _outcome(encode_wire_reference, make())


def _tlv(tag: int, content: bytes) -> bytes:
    return fast_wire._tlv(tag, content)  # pylint: disable=protected-access


def _message(version: bytes = b"\x02\x01\x05", counter: bytes = bytes(8), name: bytes = b"\x0c\x01:", payload: bytes = b"\xa2\x02\x0c\x00",
             extra: bytes = b"") -> bytes:
    return _tlv(0x30, _tlv(0x30, version + _tlv(0x04, counter) + name) + payload + extra)


@pytest.mark.parametrize("data", [
    _message(),
    _message(counter=bytes(8) + b"\xff"),  # albatross reads the first 8 bytes of a longer counter
    _message(counter=bytes(7)),
    _message(version=b"\x02\x01\x04"),
    _message(version=b"\x02\x02\x00\x05"),  # non-minimal INTEGER
    _message(name=b"\x0c\x04A:Bc"),
    _message(name=b"\x0c\x02::"),
    _message(payload=b"\xa2\x02\x2c\x00"),  # constructed UTF8String
    _message(payload=b"\xa2\x04\x0c\x00\x05\x00"),  # two values inside an explicit tag
    _message(extra=b"\x05\x00"),  # trailing element in the Wire
    _message(payload=b"\xa1\x04\xa0\x02\x05\x00"),
    _message(payload=b"\xa1\x04\xa0\x02\x05\x01"),
    _message(payload=b"\xa1\x06\xa1\x04\x0c\x02ok"),
    _message(payload=b"\xa1\x04\xad\x02\x30\x00"),
    _message(payload=b"\xa1\x04\xad\x02\x31\x00"),
    _message(payload=b"\xa1\x04\xa9\x02\x30\x00"),  # old info layout (V4)
])
def test_edge_messages_match_reference(data):
    _check_decoding(data)


# The payloads of the real replies the direct reader must read itself.
FAST_KINDS = frozenset(("success:unikernel_info", "success:string", "success:empty", "failure"))


def _kind(wire: Wire) -> str:
    payload = wire.payload
    return "failure" if isinstance(payload, Failure) else "%s:%s" % (type(payload).__name__.lower(), getattr(payload, "kind", ""))


def test_vectors_match_reference():
    for _name, _number, data in golden.reply_messages():
        _check_decoding(data)


def test_vectors_take_the_direct_path(monkeypatch):
    """On every real reply of a kind fast_wire handles, it decodes, agrees with the reference,
    writes the same bytes back, and the public decoder never falls back: a fast-path bug
    fails here instead of turning into a silent slowdown."""
    cases = []
    for name, number, data in golden.reply_messages():
        reference = decode_wire_reference(data)
        if _kind(reference) in FAST_KINDS:
            cases.append((name, number, data, reference))
    # No real reply is an empty success (the stock client sends no command that gets one).
    assert {_kind(case[3]) for case in cases} == FAST_KINDS - {"success:empty"}
    assert len(cases) > 20

    def no_fallback(*args):
        raise AssertionError("decode_wire fell back to the asn1crypto decoder")
    monkeypatch.setattr(messages, "_decode_wire", no_fallback)
    for name, number, data, reference in cases:
        assert fast_wire.decode_wire(data) == reference, (name, number)
        assert decode_wire(data) == reference, (name, number)
        assert fast_wire.encode_wire(reference) == data, (name, number)


def test_seeds_match_reference():
    for data in SEEDS:
        _check_decoding(data)
