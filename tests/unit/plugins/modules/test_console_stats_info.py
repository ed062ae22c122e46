# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""console_info and stats_info against a fake client."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _console
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    ConsoleLine,
    IfData,
    KinfoMem,
    NetworkInterfaceInfo,
    Rusage,
    Statistics,
    Timeval,
    UnikernelInfo,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules.fake_albatross import FakeClient, run

T0 = datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc)


def console(client, **args):
    return run(_console.run_console_info, _console.CONSOLE_INFO_SPEC, client, **args)


def stats(client, **args):
    return run(_console.run_stats_info, _console.STATS_INFO_SPEC, client, **args)


@pytest.fixture
def client():
    fake = FakeClient()
    fake.console_lines = [ConsoleLine(T0 + datetime.timedelta(seconds=i), b"line %d" % i, ":web") for i in range(30)]
    fake.console_lines.append(ConsoleLine(T0 + datetime.timedelta(seconds=40), b"bad \xff byte", ":web"))
    return fake


def test_default_twenty_lines(client):
    result = console(client, name="web")
    assert not result["changed"] and len(result["lines"]) == 20
    assert client.calls[-1] == ("console", "web", 20, None, 0)
    assert result["lines"][-1] == {"timestamp": "2024-01-02T03:04:45.123000Z", "line": "bad \\xff byte"}


def test_since_and_wait(client):
    result = console(client, name="web", since="2024-01-02T05:04:33+02:00", wait=1.5)
    assert [line["line"] for line in result["lines"]] == ["line 28", "line 29", "bad \\xff byte"]
    assert client.calls[-1] == ("console", "web", None, T0.replace(microsecond=0) + datetime.timedelta(seconds=28), 1.5)
    naive = console(client, name="web", since="2024-01-02T03:04:33")
    assert len(naive["lines"]) == 3


@pytest.mark.parametrize("args, match", [
    ({"lines": -1}, "lines must be between 0 and 1024"),
    ({"lines": 2000}, "lines must be between"),
    ({"since": "yesterday"}, "since must be an RFC 3339 time"),
    ({"wait": -1}, "wait must be 0 or more"),
    ({"name": "a:b"}, "invalid label"),
])
def test_console_bad_input(client, args, match):
    result = console(client, **dict({"name": "web"}, **args))
    assert result["failed"] and match in result["msg"]
    assert not [c for c in client.calls if c[0] == "console"]


def test_lines_and_since_exclusive(client):
    with pytest.raises(AssertionError, match="mutually exclusive"):
        console(client, name="web", lines=3, since="2024-01-02T03:04:05Z")


def sample(name):
    return Statistics(
        rusage=Rusage(utime=Timeval(1, 500000), stime=Timeval(0, 250000), maxrss=77),
        ifdata=(IfData(name="service", input_bytes=10, output_bytes=20),),
        kinfo_mem=KinfoMem(vsize=1, rss=2, tsize=3, dsize=4, ssize=5, runtime=6, cow=0, start=Timeval(100, 0)),
        name=name,
    )


def test_stats_joins_bridges(client):
    client.unikernels = [UnikernelInfo(name=":web", network_interfaces=(NetworkInterfaceInfo("service", "br0", "00:80:41:00:00:01"),)),
                         UnikernelInfo(name=":db")]
    client.samples = [sample(":web"), Statistics(rusage=Rusage(Timeval(0, 0), Timeval(0, 0)), name=":db")]
    result = stats(client)
    assert not result["changed"] and [s["name"] for s in result["stats"]] == [":db", ":web"]
    web = result["stats"][1]
    assert web["rusage"]["utime"] == 1.5 and web["rusage"]["maxrss"] == 77
    assert web["memory"]["vsize"] == 1 and web["memory"]["start"] == 100.0
    assert web["interfaces"][0]["bridge"] == "br0" and web["interfaces"][0]["input_bytes"] == 10
    assert "memory" not in result["stats"][0] and result["stats"][0]["interfaces"] == []
    only = stats(client, name="web")
    assert [s["name"] for s in only["stats"]] == [":web"]


def test_stats_nothing_running_does_not_wait(client):
    assert stats(client)["stats"] == []
    assert stats(client, name="web")["stats"] == []
    assert not [c for c in client.calls if c[0] == "stats"]
