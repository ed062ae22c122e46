# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden vectors of the real albatross tools and the byte examples of the protocol specification.

Vectors are the committed copy in tests/fixtures/vectors (see its INDEX.md); none of these tests skips.
"""

from __future__ import annotations

import datetime
import glob
import os
import zlib

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    decode_cert_extension,
    decode_command,
    decode_wire,
    encode_cert_extension,
    encode_command,
    encode_wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    Command,
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
    Wire,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden

VECTORS = golden.VECTORS

UTC = datetime.timezone.utc


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _hex(path: str) -> bytes:
    return bytes.fromhex(_read(path).decode("ascii").strip())


def _image() -> bytes:
    return _read(os.path.join(VECTORS, "syn_storage_service.hvt"))


def _create_config(**changes) -> UnikernelConfig:
    """``create foo syn_storage_service.hvt --cpu=0 --mem=32 --block=storage --net=service --arg=--hello=x
    --restart-on-fail --exit-code=1 --exit-code=2 --compression-level=0``."""
    values = dict(
        cpuids=(0,), memory=32, fail_behaviour=FailBehaviour(True, (1, 2)),
        block_devices=(BlockDevice("storage"),), network_interfaces=(NetworkInterface("service"),),
        argv=("--hello=x",), image=_image(),
    )
    values.update(changes)
    return UnikernelConfig(**values)


def _minimal_config() -> UnikernelConfig:
    return _create_config(fail_behaviour=FailBehaviour(), argv=None)


def _full_config() -> UnikernelConfig:
    return _create_config(
        cpuids=(1, 3), memory=64, startup=20, add_name=False,
        block_devices=(BlockDevice("storage", "data", 4096),),
        network_interfaces=(NetworkInterface("service", "br0", "00:80:41:aa:bb:cc"),),
        argv=("--ipv4=192.0.2.2/24", "--verbose"), fail_behaviour=FailBehaviour(True, ()),
    )


def _requests() -> dict:
    """Vector name -> (header name, Command), from the CLI lines of INDEX.md."""
    return {
        "unikernel_info_foo": (":foo", Command("unikernel_info")),
        "unikernel_info_all": (":", Command("unikernel_info")),
        "unikernel_info_net": (":net", Command("unikernel_info")),
        "unikernel_create_foo": (":foo", Command("unikernel_create", _create_config())),
        "unikernel_force_create_foo": (":foo", Command("unikernel_force_create", _create_config())),
        "unikernel_create_foo_minimal": (":foo", Command("unikernel_create", _minimal_config())),
        "unikernel_create_foo_full": (":foo", Command("unikernel_create", _full_config())),
        "unikernel_destroy_foo": (":foo", Command("unikernel_destroy")),
        "unikernel_restart_foo": (":foo", Command("unikernel_restart")),
        "unikernel_restart_foo_args": (":foo", Command("unikernel_restart", UnikernelArguments(
            cpuids=(2,), memory=48, startup=10, block_devices=(BlockDevice("storage"),),
            network_interfaces=(NetworkInterface("service"),), argv=("--x=1",), fail_behaviour=FailBehaviour(True, (3,)),
        ))),
        "unikernel_restart_foo_args_noname": (":foo", Command("unikernel_restart", UnikernelArguments(cpuids=(0,), memory=32, add_name=False))),
        "unikernel_get_foo": (":foo", Command("unikernel_get", 0)),
        "unikernel_get_foo_compress9": (":foo", Command("unikernel_get", 9)),
        "block_info_all": (":", Command("block_info")),
        "block_info_storage": (":storage", Command("block_info")),
        "block_add_storage_10": (":storage", Command("block_add", 10)),
        "block_add_storage_10_data": (":storage", Command("block_add", 10)),
        "block_remove_storage": (":storage", Command("block_remove")),
        "block_set_storage": (":storage", Command("block_set", False)),
        "block_dump_storage": (":storage", Command("block_dump", 0)),
        "policy_info_root": (":", Command("policy_info")),
        "policy_info_foo": ("foo:", Command("policy_info")),
        "policy_add_foo": ("foo:", Command("policy_add", Policy(unikernels=5, cpuids=(0, 1), memory=512, block=1000, bridges=("service",)))),
        "policy_remove_foo": ("foo:", Command("policy_remove")),
        "console_subscribe_foo_count10": (":foo", Command("console_subscribe", SinceCount(count=10))),
        "console_subscribe_foo_since": (":foo", Command("console_subscribe", SinceCount(since=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)))),
        "console_list_inactive": (":", Command("console_list_inactive")),
        "stats_subscribe_foo": (":foo", Command("stats_subscribe")),
        "stats_subscribe_all": (":", Command("stats_subscribe")),
    }


def _cert_extensions() -> dict:
    requests = _requests()
    names = [
        "unikernel_info_foo", "unikernel_info_all", "unikernel_create_foo", "unikernel_force_create_foo",
        "unikernel_destroy_foo", "unikernel_restart_foo", "unikernel_get_foo", "block_info_storage",
        "block_add_storage_10", "block_remove_storage", "block_dump_storage", "policy_info_foo", "policy_add_foo",
        "console_subscribe_foo_count10", "console_subscribe_foo_since", "stats_subscribe_foo",
    ]
    return {name: requests[name][1] for name in names}


REQUEST_NAMES = sorted(_requests())
CERT_EXT_NAMES = sorted(_cert_extensions())


def test_every_request_vector_is_covered():
    on_disk = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(VECTORS, "requests", "*.hex"))}
    assert on_disk == set(REQUEST_NAMES) | {"unikernel_create_foo_compress9"}
    on_disk = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(VECTORS, "cert_ext", "*.hex"))}
    assert on_disk == set(CERT_EXT_NAMES)


@pytest.mark.parametrize("name", REQUEST_NAMES)
def test_request_encoding(name):
    header_name, command = _requests()[name]
    expected = _hex(os.path.join(VECTORS, "requests", name + ".hex"))
    assert encode_wire(Wire(Header(header_name), command)) == expected
    assert decode_wire(expected) == Wire(Header(header_name), command)


def test_compressed_create():
    expected = _hex(os.path.join(VECTORS, "requests", "unikernel_create_foo_compress9.hex"))
    wire = decode_wire(expected)
    config = wire.payload.arg
    assert wire.header == Header(":foo")
    assert wire.payload.kind == "unikernel_create" and config.compressed
    assert zlib.decompress(config.image) == _image()
    assert config == UnikernelConfig(**dict(vars(_minimal_config()), compressed=True, image=config.image))
    assert encode_wire(wire) == expected
    # Python's zlib makes other (equally valid) bytes: only the decompressed image must match.
    ours = decode_wire(encode_wire(Wire(Header(":foo"), Command("unikernel_create", UnikernelConfig(
        **dict(vars(_minimal_config()), compressed=True, image=zlib.compress(_image(), 9)))))))
    assert zlib.decompress(ours.payload.arg.image) == _image()


@pytest.mark.parametrize("name", CERT_EXT_NAMES)
def test_cert_extension_encoding(name):
    command = _cert_extensions()[name]
    expected = _hex(os.path.join(VECTORS, "cert_ext", name + ".hex"))
    assert encode_cert_extension(command) == expected
    assert decode_cert_extension(expected) == command


def _reply_lines():
    result = []
    for path in sorted(glob.glob(os.path.join(VECTORS, "replies", "*.hex"))):
        for number, line in enumerate(_read(path).decode("ascii").split()):
            result.append(pytest.param(path, number, line, id="%s:%d" % (os.path.basename(path), number)))
    return result


@pytest.mark.parametrize("path,number,line", _reply_lines())
def test_reply_round_trip(path, number, line):
    data = bytes.fromhex(line)
    wire = decode_wire(data)
    assert encode_wire(wire) == data
    if path.endswith(".request.hex"):
        assert isinstance(wire.payload, Command)
    else:
        assert isinstance(wire.payload, (Success, Failure, Data))


def _reply(name: str, index: int = 0) -> Wire:
    return decode_wire(bytes.fromhex(_read(os.path.join(VECTORS, "replies", name + ".reply.hex")).decode().split()[index]))


@pytest.mark.parametrize("name,message", [
    ("create_net_again", "Unikernel with same name is already running"),
    ("block_remove_in_use", "remove block: is in use"),
    ("destroy_unknown", "destroy: not found"),
    ("get_unknown", "get: no unikernel found"),
    ("block_remove_unknown", "remove block: not found"),
    ("block_add_storage_10_again", "block device with same name already exists"),
    ("create_foo_bad_cpu", "CPUids 3 are not allowed by policy"),
])
def test_failure_strings(name, message):
    assert _reply(name).payload == Failure(message)


def test_reply_contents():
    assert _reply("policy_add_foo").payload == Success("string", "added policy")
    assert _reply("policy_add_foo_again").payload == Success("string", "no modification of policy")
    policies = _reply("policy_info_root_with_foo").payload
    assert policies.kind == "policies"
    assert [name for name, _policy in policies.value] == [":", "foo:"]
    assert policies.value[1][1] == Policy(unikernels=5, cpuids=(0, 1), memory=512, block=100, bridges=("service",))
    volumes = _reply("block_info_all_in_use").payload.value
    assert [(v.name, v.size, v.active) for v in volumes] == [(":storage", 10, True)]
    assert _reply("console_list_inactive_after").payload == Success("consoles", (":net",))
    info = _reply("unikernel_info_net").payload.value[0]
    assert info.name == ":net" and info.cpuids == (1,) and info.argv == ("verbose",) and info.memory == 32
    assert info.network_interfaces[0].name == "service0" and info.network_interfaces[0].bridge == "service"
    assert info.started is not None and info.started.tzinfo is not None and info.cpus == 1
    assert len(info.digest) == 32
    line = _reply("console_net_count5", 1).payload.value
    assert line.name == ":net" and line.timestamp.microsecond % 1000 == 0 and line.data.startswith(b"Solo5")
    stats = _reply("stats_net", 1).payload.value
    assert stats.name == ":net" and stats.ifdata[0].name == "service0" and stats.kinfo_mem is not None
    dump = [_reply("block_dump_storage", i).payload for i in range(3)]
    assert dump[0] == Success("block_device_image", False)
    assert dump[1].kind == "block" and isinstance(dump[1].value, bytes) and dump[1].value


# Byte examples of the protocol specification (§2.1 and §3.9).
SPEC_EXTENSIONS = [
    ("300c020105a007a205a103020114", Command("console_subscribe", SinceCount(count=20))),
    ("3017020105a412a110300e3003020100020101020202003000", Command("policy_add", Policy(unikernels=1, cpuids=(0,), memory=512))),
    ("3009020105a304b3020500", Command("unikernel_info")),
    ("3009020105a304a3020500", Command("unikernel_destroy")),
    ("300a020105a305ab03020109", Command("unikernel_get", 9)),
    ("300b020105a306ae04a0020500", Command("unikernel_restart")),
    ("3035020105a330b42e302ca00205000101ff04000101ffa00205003103020100020120a10d310b30090c0773657276696365a303020101",
     Command("unikernel_create", UnikernelConfig(compressed=True, network_interfaces=(NetworkInterface("service"),)))),
    ("3009020105a504a0020500", Command("block_info")),
    ("300a020105a505a103020164", Command("block_add", 100)),
    ("3009020105a504a2020500", Command("block_remove")),
    ("300a020105a505a603020100", Command("block_dump", 0)),
    ("300a020105a505a7030101ff", Command("block_set", True)),
    ("301a020105a015a213a011180f32303235303130313030303030305a",
     Command("console_subscribe", SinceCount(since=datetime.datetime(2025, 1, 1, tzinfo=UTC)))),
    ("3009020105a004a3020500", Command("console_list_inactive")),
    ("3009020105a104a2020500", Command("stats_subscribe")),
    ("3009020105a404a0020500", Command("policy_info")),
]


@pytest.mark.parametrize("hexdata,command", SPEC_EXTENSIONS)
def test_spec_extension_examples(hexdata, command):
    data = bytes.fromhex(hexdata)
    assert encode_cert_extension(command) == data
    assert decode_cert_extension(data) == command
    # The command alone is the extension without SEQUENCE { 5, ... }.
    assert decode_command(encode_command(command)) == command
    assert encode_command(command) in data


def test_spec_wire_examples():
    subscribe = Command("console_subscribe", SinceCount(count=20))
    example1 = "30203013020105040800000000000000000c043a666f6fa009a007a205a103020114"
    assert encode_wire(Wire(Header(":foo"), subscribe)).hex() == example1
    assert decode_wire(bytes.fromhex(example1)) == Wire(Header(":foo"), subscribe)
    assert bytes.fromhex("0c083a666f6f2e626172") in encode_wire(Wire(Header("foo.bar"), subscribe))
    frame = "".join(("00000033", "30313018020105040800000000000000000c096172633a68656c6c6f",
                     "a115a1130c116372656174656420756e696b65726e656c"))
    message = encode_wire(Wire(Header("arc:hello"), Success("string", "created unikernel")))
    assert (len(message).to_bytes(4, "big") + message).hex() == frame
    assert encode_wire(Wire(Header(":foo"), Data("block", None))).endswith(bytes.fromhex("a306a404a1020500"))
    assert encode_wire(Wire(Header(":foo"), Data("block", b"\x01\x02"))).endswith(bytes.fromhex("a308a406a00404020102"))
