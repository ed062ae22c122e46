# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unikernel commands of the test server: create checks in order, info names, get, restart, exits."""

from __future__ import annotations

import hashlib
import re
import socket
import time
import urllib.error
import urllib.request
import zlib

import pytest

from albatross_sim import elf, sim

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice, Command, Failure, FailBehaviour, Image, NetworkInterface, Policy, SinceCount, Success,
    UnikernelArguments, UnikernelConfig,
)

HELLO = elf.build_image()
NET = elf.build_image(nets=["service"])
BLK = elf.build_image(blocks=["storage"])


def config(image: bytes = HELLO, **kwargs) -> UnikernelConfig:
    values = dict(cpuids=(0,), memory=32, image=image)
    values.update(kwargs)
    return UnikernelConfig(**values)


def reply(result):
    assert result.eof, result
    assert len(result.wires) == 1, result.wires
    return result.wires[0].payload


def create(raw, name, cfg, **kwargs):
    return reply(raw.call(name, Command("unikernel_create", cfg), **kwargs))


def info(raw, name, **kwargs):
    return reply(raw.call(name, Command("unikernel_info"), **kwargs)).value


def console(raw, name, count=50):
    result = raw.call(name, Command("console_subscribe", SinceCount(count=count)), duration=0.3)
    return [p.value.data.decode() for p in result.payloads[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_create_info_get_destroy(raw) -> None:
    assert create(raw, "alpha", config(argv=("--x=1",))) == Success("string", "created unikernel")
    [found] = info(raw, "alpha")
    assert found.name == ":alpha"
    assert found.digest == hashlib.sha256(HELLO).digest()
    assert found.argv == ("--x=1",) and found.cpus == 1 and found.started is not None
    assert reply(raw.call("alpha", Command("unikernel_get", 0))) == Success("unikernel_image", Image(False, HELLO))
    packed = reply(raw.call("alpha", Command("unikernel_get", 9))).value
    assert packed.compressed and zlib.decompress(packed.data) == HELLO
    lines = console(raw, "alpha")
    assert "Solo5: Bindings version v0.9.0" in lines
    assert "arguments: --name=alpha --x=1" in lines
    assert "hello from alpha: started" in lines
    assert create(raw, "alpha", config()) == Failure("Unikernel with same name is already running")
    assert reply(raw.call("alpha", Command("unikernel_destroy"))) == Success("string", "destroyed unikernel")
    assert info(raw, "alpha") == ()
    assert reply(raw.call("alpha", Command("unikernel_get", 0))) == Failure("get: no unikernel found")
    assert reply(raw.call("nosuch", Command("unikernel_destroy"))) == Failure("destroy: not found")
    assert "alpha" in [n.lstrip(":") for n in reply(raw.call(".", Command("console_list_inactive"))).value]


def test_streamed_and_compressed_images(raw) -> None:
    result = raw.call("streamed", Command("unikernel_create", config(b"", compressed=True)),
                      upload=[zlib.compress(NET, 9)[:10], zlib.compress(NET, 9)[10:]])
    assert result.eof
    assert result.payloads == [Failure("specified bridge(s) does not match with the manifest. "
                                       "Devices present in manifest: net \"service\"")]
    ok = raw.call("streamed", Command("unikernel_create", config(b"", compressed=True,
                                                                 network_interfaces=(NetworkInterface("service"),))),
                  upload=[zlib.compress(NET, 9)])
    assert ok.payloads == [Success("string", "created unikernel")]
    [found] = info(raw, "streamed")
    assert found.digest == hashlib.sha256(NET).digest()
    assert found.network_interfaces[0].mac.startswith("00:80:41:")
    expected = hashlib.md5(b"service:streamed").digest()[:3]
    assert found.network_interfaces[0].mac == "00:80:41:" + ":".join("%02x" % b for b in expected)
    stored = reply(raw.call("streamed", Command("unikernel_get", 5))).value
    assert stored.compressed and zlib.decompress(stored.data) == NET
    assert reply(raw.call("streamed", Command("unikernel_get", 0))).value == Image(False, NET)


def test_upload_ended_by_eof_gets_no_reply(raw) -> None:
    from albatross_sim import rawclient  # pylint: disable=import-outside-toplevel
    cert, key = rawclient.leaf(raw.ca, raw.ca_key, "cut", Command("unikernel_create", config(b"")))
    with rawclient.connect(raw.address, raw.info.server_ca, [cert], key) as sock:
        sock.sendall(rawclient.frame(HELLO[:100]))
        socket.socket.shutdown(sock, socket.SHUT_WR)  # TCP EOF instead of the zero chunk, TLS stays usable
        result = rawclient.Result()
        rawclient.read_messages(sock, result)
    assert result.eof and not result.wires
    assert info(raw, "cut") == ()


@pytest.mark.parametrize("image,kwargs,message", [
    (b"not an elf", {}, "error during ELF parsing"),
    (elf.build_image(target=3), {}, "unsupported solo5 target virtio"),
    (BLK, {}, "specified block device(s) does not match with manifest. Devices present in manifest: block \"storage\""),
    (NET, {"network_interfaces": (NetworkInterface("service", "nope"),)}, "bridges nope not allowed by policy"),
    (HELLO, {"cpuids": (0, 7)}, "CPUids 7 are not allowed by policy"),
    (HELLO, {"memory": 5000}, "maximum allowed memory (4096, used 0) would be exceeded (requesting 5000)"),
    (BLK, {"block_devices": (BlockDevice("storage", "absent"),)}, "block device :absent not found"),
    (zlib.compress(HELLO)[:-3], {"compressed": True}, None),
])
def test_create_failures(raw, image, kwargs, message) -> None:
    got = create(raw, "broken", config(image, **kwargs))
    assert isinstance(got, Failure)
    if message is None:
        assert got.message.startswith("failed to uncompress: ")
    else:
        # other tests' unikernels may be running at the root path
        pattern = re.escape(message).replace(r"used\ 0", r"used\ \d+")
        assert re.fullmatch(pattern, got.message), got.message
    assert info(raw, "broken") == ()


def test_manifest_not_found(raw) -> None:
    plain = HELLO.replace(b".note.solo5.abi", b".note.solo5.xyz")
    assert create(raw, "nomft", config(plain)) == Failure("manifest not found")


def test_missing_host_bridge_and_policy_counts(raw) -> None:
    policy = Policy(unikernels=1, cpuids=(0,), memory=64, block=None, bridges=("service", "ghost"))
    sub, sub_key = raw.sub("cnt", policy)
    kw = dict(chain=[sub], signer=(sub, sub_key))
    ghost = config(NET, network_interfaces=(NetworkInterface("service", "ghost"),))
    assert create(raw, "g", ghost, **kw) == Failure("interface ghost does not exist")
    assert create(raw, "one", config(), **kw) == Success("string", "created unikernel")
    assert create(raw, "two", config(), **kw) == Failure("maximum amount of unikernels (1) reached")
    # relative names when asking for a path, the full name for a label
    assert [i.name for i in info(raw, ".", **kw)] == [":one"]
    assert [i.name for i in info(raw, "one", **kw)] == ["cnt:one"]
    assert "cnt:one" in [i.name for i in info(raw, ".")]
    reply(raw.call("one", Command("unikernel_destroy"), **kw))


def test_force_create_keeps_old_on_precheck_error(raw) -> None:
    create(raw, "forced", config(argv=("--v=1",)))
    before = info(raw, "forced")[0]
    bad = raw.call("forced", Command("unikernel_force_create", config(memory=99999)))
    assert re.fullmatch(r"maximum allowed memory \(4096, used \d+\) would be exceeded \(requesting 99999\)", reply(bad).message)
    assert info(raw, "forced")[0].started == before.started
    good = raw.call("forced", Command("unikernel_force_create", config(argv=("--v=2",))))
    assert reply(good) == Success("string", "created unikernel")
    assert info(raw, "forced")[0].argv == ("--v=2",)
    # the new config fails late: the old one is gone
    late = raw.call("forced", Command("unikernel_force_create", config(BLK)))
    assert isinstance(reply(late), Failure)
    assert info(raw, "forced") == ()


def test_restart_applies_new_arguments(raw) -> None:
    create(raw, "rs", config(argv=("--a",)))
    assert reply(raw.call("rs", Command("unikernel_restart", None))) == Success("string", "created unikernel")
    args = UnikernelArguments(cpuids=(1,), memory=48, argv=("--b",), add_name=False)
    assert reply(raw.call("rs", Command("unikernel_restart", args))) == Success("string", "created unikernel")
    [found] = info(raw, "rs")
    assert (found.cpuids, found.memory, found.argv) == ((1,), 48, ("--b",))
    assert "arguments: --b" in console(raw, "rs")
    wrong = UnikernelArguments(block_devices=(BlockDevice("storage"),))
    assert reply(raw.call("rs", Command("unikernel_restart", wrong))) == Failure(
        "specified block device(s) does not match with manifest. Devices present in manifest: ")
    assert info(raw, "rs")[0].memory == 48
    reply(raw.call("rs", Command("unikernel_destroy")))
    assert reply(raw.call("rs", Command("unikernel_restart", None))) == Success("string", "destroyed: removed from restarting")
    assert reply(raw.call("rs", Command("unikernel_restart", None))) == Failure("destroy: not found")


def test_exit_codes_and_restart_on_fail(raw) -> None:
    crash = elf.build_image(behaviour='{"exit_code": 2, "exit_delay": 0.05}')
    create(raw, "quits", config(crash))
    time.sleep(0.3)
    assert info(raw, "quits") == ()
    assert "Solo5: solo5_exit(2) called" in console(raw, "quits")
    create(raw, "loops", config(crash, fail_behaviour=FailBehaviour(True, (2,))))
    time.sleep(0.6)
    assert console(raw, "loops").count("hello from loops: started") >= 2
    reply(raw.call("loops", Command("unikernel_destroy")))
    fatal = elf.build_image(behaviour='{"exit_code": 1, "exit_delay": 0.05}')
    create(raw, "fatal", config(fatal, fail_behaviour=FailBehaviour(True, ())))
    time.sleep(0.5)
    assert console(raw, "fatal").count("hello from fatal: started") == 1


def test_exit_64_drops_the_name_argument(raw) -> None:
    usage = elf.build_image(behaviour='{"exit_code": 64, "exit_delay": 0.05}')
    create(raw, "named", config(usage, argv=("--y",)))
    time.sleep(0.6)
    lines = console(raw, "named")
    assert "arguments: --name=named --y" in lines and "arguments: --y" in lines


def test_http_service_follows_the_image(raw) -> None:
    port = free_port()
    v1 = elf.build_image(nets=["service"], behaviour='{"version": "v1"}')
    v2 = elf.build_image(nets=["service"], behaviour='{"version": "v2", "http_status": 503}')
    net = (NetworkInterface("service"),)
    argv = ("--http=127.0.0.1:%d" % port,)
    create(raw, "web", config(v1, network_interfaces=net, argv=argv))
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as resp:
        assert (resp.status, resp.read()) == (200, b"v1 web\n")
    reply(raw.call("web", Command("unikernel_force_create", config(v2, network_interfaces=net, argv=argv))))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5)
    assert err.value.code == 503 and err.value.read() == b"v2 web\n"
    reply(raw.call("web", Command("unikernel_destroy")))
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2)
    assert any(line.startswith("http: GET /health 200") for line in console(raw, "web"))


def test_behaviour_marker_parsing() -> None:
    assert sim.behaviour(b"xx albatross-test: {\"exit_code\": 3}\nrest").exit_code == 3
    assert sim.behaviour(b"albatross-test: {\"version\": \"9\"}\x00").version == "9"
    assert sim.behaviour(b"nothing").exit_code is None
    assert sim.behaviour(b"albatross-test: [1]\n").error
    with pytest.raises(ValueError):
        sim.parse_loopback("192.0.2.1:80")
    assert sim.parse_loopback("[::1]:8080") == ("::1", 8080)
