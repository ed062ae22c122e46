# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""console_info and stats_info through the real ansible-playbook against the test server."""

from __future__ import annotations

import datetime
import secrets
import time

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import UnikernelConfig
from ansible_collections.unikernels.albatross.tests.images.make_images import make_image
from ansible_collections.unikernels.albatross.tests.integration._playbooks import connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for, image
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import start_server

pytestmark = pytest.mark.integration


def test_console_and_stats(tmp_path):
    info = start_server(tmp_path / "server", stats_interval=0.2)
    try:
        uk = "hello-" + secrets.token_hex(3)
        since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        client_for(info).unikernel_create(uk, UnikernelConfig(cpuids=(0,), memory=32, argv=("--marker=visible",)), image(info, "hello.hvt"))
        time.sleep(0.5)  # let the simulated unikernel print its first lines
        res = run_playbook("console_stats_info.yml", tmp_path,
                           dict(connection_vars(info), uk=uk, since=since.strftime("%Y-%m-%dT%H:%M:%SZ")))
    finally:
        info.stop()
    assert res.returncode == 0, res.output[-4000:]

    last = res["Last lines"]
    assert last["changed"] is False and 1 <= len(last["lines"]) <= 3
    assert set(last["lines"][0]) == {"timestamp", "line"} and last["lines"][0]["timestamp"].endswith("Z")
    since_lines = res["Since"]["lines"]
    assert since_lines and any("visible" in line["line"] for line in since_lines)
    assert res["Unknown console"]["lines"] == []
    assert res.status("Bad since refused") == "failed" and "RFC 3339" in res["Bad since refused"]["msg"]

    one = res["Stats of one"]["stats"]
    assert [s["name"] for s in one] == [":" + uk]
    assert "utime" in one[0]["rusage"] and isinstance(one[0]["interfaces"], list)
    assert ":" + uk in [s["name"] for s in res["Stats of all"]["stats"]]


def test_console_live_lines_and_inactive_console(tmp_path):
    exits = tmp_path / "exits.hvt"
    # Exits (fail_behaviour quit) about 3 s after it started: inside the 6 s of "wait".
    exits.write_bytes(make_image(behaviour={"exit_code": 0, "exit_delay": 3.0}))
    uk = "live-" + secrets.token_hex(3)
    info = start_server(tmp_path / "server")
    try:
        res = run_playbook("console_live.yml", tmp_path, dict(connection_vars(info), uk=uk, image=str(exits)))
    finally:
        info.stop()
    assert res.returncode == 0, res.output[-4000:]

    live = [line["line"] for line in res["No history, live lines only"]["lines"]]
    assert "Solo5: solo5_exit(0) called" in live, live
    assert not any(line.startswith("hello from") for line in live), live  # history was not asked for
    assert res["Info after the exit"]["unikernels"] == []

    inactive = res["Inactive console"]
    assert inactive["changed"] is False
    text = [line["line"] for line in inactive["lines"]]
    assert "arguments: --name=%s --marker=live" % uk in text and "hello from %s: started" % uk in text
    assert text[-1] == "Solo5: solo5_exit(0) called"
    stamps = [line["timestamp"] for line in inactive["lines"]]
    assert stamps == sorted(stamps) and all(stamp.endswith("Z") for stamp in stamps)
    assert res["Inactive console since a time"]["lines"] == inactive["lines"]
