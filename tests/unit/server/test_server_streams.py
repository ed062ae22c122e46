# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Console and statistics streams of the test server."""

from __future__ import annotations

import contextlib
import datetime

from albatross_sim import elf, rawclient

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    Command, Failure, NetworkInterface, Policy, SinceCount, Success, UnikernelConfig,
)

EXC = Failure("exception while reading from fd")
NET = elf.build_image(nets=["service"])


def cfg(**kwargs) -> UnikernelConfig:
    values = dict(cpuids=(0,), memory=32, image=NET, network_interfaces=(NetworkInterface("service"),))
    values.update(kwargs)
    return UnikernelConfig(**values)


@contextlib.contextmanager
def stream(raw, cn, command, chain=(), signer=None):
    issuer, key = signer or (raw.ca, raw.ca_key)
    cert, leaf_key = rawclient.leaf(issuer, key, cn, command)
    with rawclient.connect(raw.address, raw.info.server_ca, [cert, *chain], leaf_key, timeout=5) as sock:
        yield sock


def read(sock, n):
    result = rawclient.Result()
    rawclient.read_messages(sock, result, limit=n)
    return result


def lines(result):
    return [p.value.data.decode() for p in result.payloads if getattr(p, "kind", None) == "console"]


def test_console_waits_then_follows_live_output(raw) -> None:
    with stream(raw, "late", Command("console_subscribe", SinceCount(count=10))) as sock:
        assert read(sock, 1).payloads == [Success("string", "waiting for VM")]
        raw.call("late", Command("unikernel_create", cfg()))
        live = read(sock, 5)
        assert all(w.header.name == ":late" and w.header.sequence == 0 for w in live.wires)
        assert lines(live)[0] == "Solo5: Bindings version v0.9.0"
    history = raw.call("late", Command("console_subscribe", SinceCount(count=2)), duration=0.3)
    assert history.payloads[0] == Success("string", "subscribed")
    assert lines(history) == ["version " + lines(live)[3].split(" ", 1)[1], "hello from late: started"]
    assert lines(raw.call("late", Command("console_subscribe", SinceCount(count=0)), duration=0.2)) == []
    since = history.wires[1].payload.value.timestamp - datetime.timedelta(milliseconds=1)
    newer = raw.call("late", Command("console_subscribe", SinceCount(since=since)), duration=0.3)
    assert lines(newer)[-2:] == lines(history)
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert lines(raw.call("late", Command("console_subscribe", SinceCount(since=far)), duration=0.2)) == []


def test_console_path_and_name_errors(raw) -> None:
    path_only = raw.call(".", Command("console_subscribe", SinceCount(count=5)))
    assert path_only.eof and path_only.payloads == [Failure("path used instead of name"), EXC]
    assert path_only.wires[1].header.sequence == 0
    named = raw.call("x", Command("console_list_inactive"))
    assert named.eof and named.payloads == [Failure("name used")]


def test_list_inactive_is_relative(raw) -> None:
    tenant, tenant_key = raw.sub("tenant", Policy(unikernels=2, cpuids=(0,), memory=64, block=None, bridges=("service",)))
    kw = dict(chain=[tenant], signer=(tenant, tenant_key))
    raw.call("gone", Command("unikernel_create", cfg()), **kw)
    raw.call("gone", Command("unikernel_destroy"), **kw)
    assert raw.call(".", Command("console_list_inactive"), **kw).payloads == [Success("consoles", (":gone",))]
    assert "tenant:gone" in raw.call(".", Command("console_list_inactive")).payloads[0].value


def test_subscriber_limit_drops_the_oldest(raw) -> None:
    raw.call("busy", Command("unikernel_create", cfg()))
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(stream(raw, "busy", Command("console_subscribe", SinceCount(count=0))))
                 for _index in range(7)]
        for sock in socks:
            assert read(sock, 1).payloads == [Success("string", "subscribed")]
        dropped = read(socks[0], 2)
        assert dropped.payloads == [EXC] and dropped.eof
    raw.call("busy", Command("unikernel_destroy"))


def test_stats_stream(raw) -> None:
    raw.call("measured", Command("unikernel_create", cfg()))
    with stream(raw, "measured", Command("stats_subscribe")) as first:
        got = read(first, 2)
        assert got.payloads[0] == Success("string", "subscribed")
        sample = got.wires[1]
        assert sample.header.name == ":measured" and sample.header.sequence == 0
        stats = sample.payload.value
        assert [i.name for i in stats.ifdata] == ["service"]
        assert stats.kinfo_mem is not None and stats.vmm is None
        with stream(raw, "measured", Command("stats_subscribe")) as second:
            assert read(second, 1).payloads == [Success("string", "subscribed")]
            replaced = read(first, 5)
            assert replaced.payloads[-1] == EXC and replaced.eof
    tenant, tenant_key = raw.sub("stt", Policy(unikernels=1, cpuids=(0,), memory=64, block=None, bridges=("service",)))
    kw = dict(chain=[tenant], signer=(tenant, tenant_key))
    raw.call("inner", Command("unikernel_create", cfg()), **kw)
    with stream(raw, ".", Command("stats_subscribe"), **kw) as path_sub:
        got = read(path_sub, 2)
        assert got.wires[0].header.name == "stt:"
        assert got.wires[1].header.name == ":inner"
    with stream(raw, ".", Command("stats_subscribe")) as root_sub:
        names = {w.header.name for w in read(root_sub, 6).wires[1:]}
        assert {"stt:inner", ":measured"} <= names
