# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit and property tests of the albatross message codec."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import given, settings

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec, codec_unikernel
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError, ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    decode_cert_extension,
    decode_command,
    decode_policy,
    decode_wire,
    encode_cert_extension,
    encode_command,
    encode_policy,
    encode_wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    Command,
    ConsoleLine,
    Data,
    FailBehaviour,
    Failure,
    Header,
    NetworkInterface,
    Policy,
    SinceCount,
    Success,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
    Wire,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import albatross_strategies as s

UTC = datetime.timezone.utc
PROPERTY = settings(max_examples=150, deadline=None)


def tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw + body


def header(name: bytes = b":foo", version: bytes = b"\x02\x01\x05", sequence: bytes = b"\x04\x08" + bytes(8), extra: bytes = b"") -> bytes:
    return tlv(0x30, version + sequence + tlv(0x0C, name) + extra)


def wire(payload: bytes, head: bytes | None = None) -> bytes:
    return tlv(0x30, (head if head is not None else header()) + payload)


def console_line(time: bytes, data: bytes = b"x") -> bytes:
    return wire(tlv(0xA3, tlv(0xA3, tlv(0x30, tlv(0x18, time) + tlv(0x0C, data)))))


EMPTY = tlv(0xA1, tlv(0xA0, b"\x05\x00"))


# ---------------------------------------------------------------- strictness


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (wire(EMPTY) + b"\x00", "trailing bytes"),
    (b"\x30\x81\x05" + wire(EMPTY)[2:7], "non-minimal length"),
    (b"\x30\x80" + wire(EMPTY)[2:] + b"\x00\x00", "indefinite length"),
    (wire(EMPTY, header(version=b"\x02\x01\x04")), "version 4"),
    (wire(EMPTY, header(version=b"\x02\x02\x00\x05")), "non-minimal INTEGER"),
    (wire(EMPTY, header(sequence=b"\x04\x07" + bytes(7))), "short Int64"),
    (wire(EMPTY, header(extra=b"\x05\x00")), "unknown header field"),
    (wire(EMPTY, header(name=b"a::b")), "invalid name"),
    (wire(EMPTY, header(name=b"")), "empty name"),
    (wire(tlv(0xA1, tlv(0xA3, b"\x05\x00"))), "removed success [3]"),
    (wire(tlv(0xA1, tlv(0xA0, b"\x05\x01\x00"))), "NULL with contents"),
    (wire(tlv(0xA1, tlv(0xA1, tlv(0x0C, b"hi") + b"\x05\x00"))), "two values in an explicit tag"),
    (wire(tlv(0xA1, tlv(0xA1, tlv(0x0C, b"hi"))) + b"\x05\x00"), "unknown Wire field"),
    (wire(tlv(0xA3, tlv(0xA2, b"\x05\x00"))), "log data"),
    (wire(tlv(0xA0, tlv(0xA2, b"\x05\x00"))), "log command"),
    (wire(tlv(0xA4, EMPTY)), "unknown payload"),
    (wire(tlv(0xA1, tlv(0xAA, b"\x01\x02\xff\xff"))), "long BOOLEAN"),
    (wire(tlv(0xA1, tlv(0xA1, b"\x2c\x02\x04\x00"))), "constructed string"),
    (wire(tlv(0xA1, tlv(0xA1, b"\x1f\x22\x00"))), "high tag number"),
    (wire(tlv(0xA1, tlv(0xA1, b"\x43\x00"))), "application tag"),
    (console_line(b"20240102030405.1234Z"), "4 fraction digits"),
    (console_line(b"20240102030405.Z"), "empty fraction"),
    (console_line(b"20241302030405Z"), "month 13"),
    (console_line(b"20240102030405+0100"), "time zone offset"),
    (console_line(b"202401020304Z"), "no seconds"),
    (wire(tlv(0xA1, tlv(0xA4, tlv(0x30, tlv(0x30, tlv(0x0C, b":x") + b"\x02\x09\x01" + bytes(8) + b"\x01\x01\x00"))))), "INTEGER > 63 bit"),
    (b"\x30" + b"\x30".join([b"\x80"] * 3), "garbage"),
    (tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, b"")))) * 2, "two messages"),
])
def test_decode_rejects(data, reason):
    with pytest.raises(ProtocolError):
        decode_wire(data)


def test_deep_nesting_is_refused():
    data = b"\x05\x00"
    for _level in range(200):
        data = tlv(0x30, data)
    with pytest.raises(ProtocolError, match="deep"):
        decode_wire(data)


def test_decode_rejects_non_bytes():
    with pytest.raises(ProtocolError):
        decode_wire("30 00")


def test_lenient_where_albatross_is():
    # Any non-zero byte is TRUE; Int64 longer than 8 bytes is truncated; names are lower-cased.
    assert decode_wire(wire(tlv(0xA1, tlv(0xAA, b"\x01\x01\x01")))).payload == Success("block_device_image", True)
    long_sequence = header(sequence=b"\x04\x09" + bytes(7) + b"\x07\x01")
    assert decode_wire(wire(EMPTY, long_sequence)).header.sequence == 7
    assert decode_wire(wire(EMPTY, header(name=b"Foo:BAR"))).header.name == "foo:bar"


def test_non_utf8_strings():
    failure = decode_wire(wire(tlv(0xA2, tlv(0x0C, b"\xff oops")))).payload
    assert failure == Failure("\ufffd oops")
    line = decode_wire(console_line(b"20240102030405.6Z", b"\xff\xfebin")).payload.value
    assert line.data == b"\xff\xfebin" and line.name == ":foo"
    assert encode_wire(Wire(Header(":foo"), Data("console", line))) == console_line(b"20240102030405.006Z", b"\xff\xfebin")


@pytest.mark.parametrize("text,micro", [(b".6", 6000), (b".60", 60000), (b".600", 600000), (b"", 0), (b".000", 0)])
def test_time_fraction_is_milliseconds(text, micro):
    line = decode_wire(console_line(b"20240102030405" + text + b"Z")).payload.value
    assert line.timestamp == datetime.datetime(2024, 1, 2, 3, 4, 5, micro, tzinfo=UTC)


@pytest.mark.parametrize("micro,text", [(0, b"20250101000000Z"), (999, b"20250101000000Z"), (1000, b"20250101000000.001Z"),
                                        (600000, b"20250101000000.600Z"), (123456, b"20250101000000.123Z")])
def test_time_encoding(micro, text):
    assert codec.format_time(datetime.datetime(2025, 1, 1, 0, 0, 0, micro, tzinfo=UTC)) == text


def test_time_encoding_converts_to_utc():
    when = datetime.datetime(2025, 1, 1, 1, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert codec.format_time(when) == b"20250101000000Z"


def _info_reply(info_body: bytes) -> bytes:
    return wire(tlv(0xA1, tlv(0xAD, tlv(0x30, tlv(0x30, tlv(0x0C, b":a") + tlv(0x30, info_body))))), header(name=b":"))


def test_unknown_trailing_info_fields_are_skipped():
    info = UnikernelInfo(name=":a", cpus=1, started=datetime.datetime(2025, 1, 1, tzinfo=UTC))
    info_der = codec_unikernel.encode_info(info).dump()
    assert info_der[1] < 0x80
    body = info_der[2:]
    assert decode_wire(_info_reply(body)) == decode_wire(encode_wire(Wire(Header(":"), Success("unikernel_info", (info,)))))
    # Fields [6] and [9] appended, as a newer server might.
    extended = decode_wire(_info_reply(body + tlv(0xA6, b"\x05\x00") + tlv(0xA9, b"\x02\x01\x01")))
    assert extended.payload == Success("unikernel_info", (info,))
    # A lower, repeated or non-context tag is no extension.
    for tail in (tlv(0xA6, b"\x05\x00") + tlv(0xA5, b"\x0c\x00"), tlv(0xA4, b"\x02\x01\x01"), b"\x05\x00"):
        with pytest.raises(ProtocolError):
            decode_wire(_info_reply(body + tail))


def test_commands_are_strict():
    create = encode_command(Command("unikernel_create", UnikernelConfig()))
    assert create[:4:2] == b"\xa3\xb4" and create[4] == 0x30 and create[5] < 0x80
    extended = tlv(0xA3, tlv(0xB4, tlv(0x30, create[6:] + tlv(0xA9, b"\x05\x00"))))
    with pytest.raises(ProtocolError):
        decode_command(extended)


def test_cert_extension_version():
    with pytest.raises(ProtocolError, match="version"):
        decode_cert_extension(bytes.fromhex("300c020104a007a205a103020114"))
    with pytest.raises(ProtocolError):
        decode_cert_extension(bytes.fromhex("300c020105a007a205a10302011400"))


# ---------------------------------------------------------------- encoding details


def test_create_defaults():
    config = UnikernelConfig(network_interfaces=(NetworkInterface("service"),), compressed=True)
    # cpus always emitted (1), empty blocks omitted, absent argv omitted.
    assert encode_command(Command("unikernel_create", config)).endswith(bytes.fromhex("a303020101"))
    assert decode_command(encode_command(Command("unikernel_create", dataclasses.replace(config, cpus=None)))).arg.cpus == 1
    with_argv = encode_command(Command("unikernel_create", dataclasses.replace(config, argv=())))
    assert bytes.fromhex("a2023000") in with_argv
    assert decode_command(with_argv).arg.argv == ()


def test_set_of_sorted_by_der():
    config = UnikernelConfig(network_interfaces=(NetworkInterface("aaa"), NetworkInterface("zz")), cpuids=(300, 2, 1))
    data = encode_command(Command("unikernel_create", config))
    assert data.index(b"zz") < data.index(b"aaa")
    assert bytes.fromhex("310a0201010201020202012c") in data
    assert decode_command(data).arg.cpuids == (1, 2, 300)


def test_policy_sorted_and_unique():
    policy = Policy(unikernels=2, cpuids=(3, 1, 1), memory=64, bridges=("b", "a", "b"))
    assert decode_policy(encode_policy(policy)) == policy.normalized()
    assert encode_policy(policy) == encode_policy(policy.normalized())


def test_macs():
    net = NetworkInterface("service", mac="00:80:41:AA:bb:cc")
    data = encode_command(Command("unikernel_restart", UnikernelArguments(network_interfaces=(net,))))
    assert bytes.fromhex("0406008041aabbcc") in data
    assert decode_command(data).arg.network_interfaces[0].mac == "00:80:41:aa:bb:cc"
    with pytest.raises(ValidationError):
        encode_command(Command("unikernel_restart", UnikernelArguments(network_interfaces=(NetworkInterface("x", mac="00:11"),))))


@pytest.mark.parametrize("command", [
    Command("nonsense"),
    Command("unikernel_get", "9"),
    Command("unikernel_get", 1 << 62),
    Command("block_set", 1),
    Command("console_subscribe", SinceCount()),
    Command("console_subscribe", SinceCount(since=datetime.datetime(2025, 1, 1, tzinfo=UTC), count=1)),
    Command("unikernel_create", UnikernelArguments()),
    Command("unikernel_create", UnikernelConfig(typ="xen")),
    Command("unikernel_create_old", UnikernelConfig(cpuids=(1, 2))),
    Command("policy_add", None),
])
def test_encode_rejects(command):
    with pytest.raises(ValidationError):
        encode_cert_extension(command)


def test_encode_wire_rejects():
    with pytest.raises(ValidationError):
        encode_wire(Wire(Header("a::b"), Success("empty")))
    with pytest.raises(ValidationError):
        encode_wire(Wire(Header(":a", sequence=1 << 64), Success("empty")))
    with pytest.raises(ValidationError):
        encode_wire(Wire(Header(":a"), Success("nonsense")))
    with pytest.raises(ValidationError):
        encode_wire(Wire(Header(":a"), "payload"))


def test_old_layouts_decode():
    args = UnikernelArguments(cpuids=(3,), memory=64, startup=7, add_name=False, block_devices=(BlockDevice("b"),))
    for layout, tag, expected in (("v1", 0xA2, args), ("v0", 0xA1, dataclasses.replace(args, startup=None, add_name=True))):
        body = codec_unikernel.encode_arguments(args, layout).dump()
        data = tlv(0xA3, tlv(0xAE, tlv(tag, body)))
        assert decode_command(data) == Command("unikernel_restart", expected)
    config = UnikernelConfig(cpuids=(2,), fail_behaviour=FailBehaviour(True, (1,)), argv=("a",))
    for kind in ("unikernel_create_old", "unikernel_force_create_old2"):
        assert decode_command(encode_command(Command(kind, config))) == Command(kind, config)


def test_old_block_commands():
    for command in (Command("block_add_old", (10, True, b"data")), Command("block_add_old", (10, False, None)),
                    Command("block_set_old", (False, b"x")), Command("block_dump_old", 3)):
        assert decode_command(encode_command(command)) == command


def test_console_line_name_comes_from_header():
    line = ConsoleLine(datetime.datetime(2025, 1, 1, tzinfo=UTC), b"hello", name="ignored")
    decoded = decode_wire(encode_wire(Wire(Header("a:b"), Data("console", line)))).payload.value
    assert decoded.name == "a:b" and decoded.data == b"hello"


# ---------------------------------------------------------------- round trips


def _multiset(values) -> list:
    return sorted(repr(v) for v in values)


def _same(decoded, original) -> None:
    """Equal up to the order of SET OF block and network entries."""
    if dataclasses.is_dataclass(original) and hasattr(original, "block_devices"):
        assert _multiset(decoded.block_devices) == _multiset(original.block_devices)
        assert _multiset(decoded.network_interfaces) == _multiset(original.network_interfaces)
        decoded = dataclasses.replace(decoded, block_devices=original.block_devices, network_interfaces=original.network_interfaces)
    elif isinstance(original, tuple) and original and dataclasses.is_dataclass(original[0]) and hasattr(original[0], "block_devices"):
        assert len(decoded) == len(original)
        for one, other in zip(decoded, original):
            _same(one, other)
        return
    assert decoded == original


@PROPERTY
@given(s.commands)
def test_command_round_trip(command):
    data = encode_command(command)
    decoded = decode_command(data)
    assert decoded.kind == command.kind
    _same(decoded.arg, command.arg)
    assert encode_command(decoded) == data
    assert decode_cert_extension(encode_cert_extension(command)) == decoded


@PROPERTY
@given(s.wires())
def test_wire_round_trip(message):
    data = encode_wire(message)
    decoded = decode_wire(data)
    assert decoded.header == message.header
    assert type(decoded.payload) is type(message.payload)
    assert encode_wire(decoded) == data
    payload, original = decoded.payload, message.payload
    if isinstance(original, Failure):
        assert payload == original
    else:
        assert payload.kind == original.kind
        _same(payload.arg if isinstance(original, Command) else payload.value,
              original.arg if isinstance(original, Command) else original.value)


@PROPERTY
@given(s.policies)
def test_policy_round_trip(policy):
    assert decode_policy(encode_policy(policy)) == policy
