# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault switches of the test server (albatross_sim/faults.py), changed while it runs."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import time
import urllib.error
import urllib.request

import pytest
from albatross_fixture import start_server
from albatross_sim import faults
from builder_web_server import start_in_thread

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError, AlbatrossError, AlbatrossTimeout, AuthenticationError, CommandFailed, ProtocolError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import UnikernelConfig


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    info = start_server(tmp_path_factory.mktemp("faults"), stats_interval=5)
    yield info
    info.stop()
    assert "Traceback" not in info.log(), info.log()[-6000:]


@pytest.fixture(autouse=True)
def no_faults(srv):
    srv.clear_faults()
    yield
    srv.clear_faults()


def client(srv, timeout: float = 10.0) -> Client:
    with open(srv.client_cert, "rb") as cert, open(srv.client_key, "rb") as key, open(srv.server_ca, "rb") as ca:
        return Client(srv.address, ca.read(), certs.Signer.load(cert.read(), key.read(), None), timeout=timeout)


def image(srv, name: str = "hello.hvt") -> bytes:
    with open(os.path.join(srv.images_dir, name), "rb") as handle:
        return handle.read()


def create(srv, label: str, force: bool = False, memory: int = 32) -> str:
    return client(srv).unikernel_create(label, UnikernelConfig(cpuids=(0,), memory=memory, image=b""), image(srv), force=force)


def test_rules_are_checked() -> None:
    assert faults.parse([{"fault": "fail", "command": "unikernel force-create", "nth": 2}])[0].command == "unikernel_force_create"
    assert faults.parse([{"fault": "fail", "command": "info"}])[0].command == "unikernel_info"
    assert faults.parse({"fault": "refuse", "stage": "accept", "nth": "every"})[0].nth is None
    for bad, words in (({"fault": "explode"}, "fault must be one of"),
                       ({"fault": "refuse", "stage": "accept", "command": "info"}, "not known before the TLS handshake"),
                       ({"fault": "drop_upload", "stage": "accept"}, "applies to stage command"),
                       ({"fault": "fail", "nth": 0}, "nth must be"),
                       ({"fault": "fail", "typo": 1}, "unknown key")):
        with pytest.raises(faults.FaultSpecError, match=words):
            faults.parse([bad])


def test_fail_fires_on_the_nth_command_only(srv) -> None:
    srv.set_faults([{"fault": "fail", "command": "info", "nth": 2, "message": "backend gone"}])
    c = client(srv)
    c.unikernel_info()
    c.block_info()  # another command does not count
    with pytest.raises(CommandFailed, match="backend gone"):
        c.unikernel_info()
    c.unikernel_info()
    fired = [f for f in srv.fired_faults() if f.get("fault") == "fail"]
    assert [(f["kind"], f["occurrence"]) for f in fired][-1] == ("unikernel_info", 2)


def test_new_rules_restart_the_counters(srv) -> None:
    rule = [{"fault": "fail", "command": "info", "nth": 1}]
    srv.set_faults(rule)
    with pytest.raises(CommandFailed):
        client(srv).unikernel_info()
    client(srv).unikernel_info()
    srv.set_faults(rule + [{"fault": "fail", "command": "block set"}])
    with pytest.raises(CommandFailed):
        client(srv).unikernel_info()


def test_dropped_create_upload_creates_nothing(srv) -> None:
    srv.set_faults([{"fault": "drop_upload", "command": "unikernel create", "after_bytes": 200}])
    with pytest.raises(AlbatrossError):
        create(srv, "dropped")
    assert client(srv).unikernel_info("dropped") == []
    srv.clear_faults()
    create(srv, "dropped")
    assert len(client(srv).unikernel_info("dropped")) == 1
    client(srv).unikernel_destroy("dropped")


def test_dropped_force_create_upload_keeps_the_running_unikernel(srv) -> None:
    create(srv, "keep", memory=32)
    [before] = client(srv).unikernel_info("keep")
    srv.set_faults([{"fault": "drop_upload", "command": "unikernel force-create", "after_bytes": 100}])
    with pytest.raises(AlbatrossError):
        create(srv, "keep", force=True, memory=64)
    [after] = client(srv).unikernel_info("keep")
    assert (after.memory, after.started) == (32, before.started)
    client(srv).unikernel_destroy("keep")


def test_dropped_block_set_upload_breaks_the_session(srv) -> None:
    c = client(srv)
    c.block_add("vol", 1)
    srv.set_faults([{"fault": "drop_upload", "command": "block set", "after_bytes": 5000}])
    with pytest.raises(AlbatrossError):
        c.block_set("vol", b"x" * 100000)
    srv.clear_faults()
    assert c.block_set("vol", b"y" * 1000)
    out = io.BytesIO()
    c.block_dump("vol", out)
    assert out.getvalue().startswith(b"y" * 1000)
    c.block_remove("vol")


def test_dropped_reply_of_a_dump(srv) -> None:
    c = client(srv)
    c.block_add("dump", 1)
    srv.set_faults([{"fault": "drop_reply", "command": "block dump", "after_bytes": 300}])
    with pytest.raises(AlbatrossConnectionError, match="closed the connection|broke|end marker"):
        c.block_dump("dump", io.BytesIO())
    srv.clear_faults()
    c.block_remove("dump")


def test_garbage_after_and_before_the_handshake(srv) -> None:
    srv.set_faults([{"fault": "garbage", "command": "info"}])
    with pytest.raises(ProtocolError):
        client(srv).unikernel_info()
    srv.set_faults([{"fault": "garbage", "stage": "accept"}])
    with pytest.raises(AlbatrossConnectionError, match="did not speak TLS"):
        client(srv).unikernel_info()


def test_refuse_before_and_after_the_handshake(srv) -> None:
    srv.set_faults([{"fault": "refuse", "stage": "accept"}])
    with pytest.raises((AlbatrossConnectionError, AuthenticationError)):
        client(srv).unikernel_info()
    srv.set_faults([{"fault": "refuse", "command": "info"}])
    with pytest.raises(AuthenticationError, match="without a reply"):
        client(srv).unikernel_info()


@pytest.mark.parametrize("stage", ["accept", "command"])
def test_stall_is_bounded_and_the_client_times_out(srv, stage) -> None:
    srv.set_faults([{"fault": "stall", "stage": stage, "seconds": 20}])
    started = time.monotonic()
    with pytest.raises(AlbatrossTimeout):
        client(srv, timeout=1).unikernel_info()
    assert time.monotonic() - started < 5
    srv.set_faults([{"fault": "stall", "stage": stage, "seconds": 0.5}])
    # the server gives up on its own after `seconds`
    with pytest.raises((AuthenticationError, AlbatrossConnectionError)):
        client(srv, timeout=5).unikernel_info()


def test_broken_faults_file_is_ignored(srv) -> None:
    with open(os.path.join(srv.state_dir, "faults.json"), "w", encoding="utf-8") as handle:
        handle.write("[{")
    client(srv).unikernel_info()
    assert "faults.json ignored" in srv.fired_faults()[-1]["error"]


def test_restart_between_two_commands(tmp_path) -> None:
    info = start_server(tmp_path)
    try:
        create(info, "web")
        [before] = client(info).unikernel_info("web")
        pid = info.process.pid
        info.set_faults([{"fault": "restart", "command": "unikernel get", "nth": 1}])
        assert client(info).unikernel_get("web") == image(info)
        # the next command meets the new process, which restored the unikernel from its state
        [after] = client(info).unikernel_info("web")
        assert after.started > before.started and after.digest == before.digest
        assert info.process.pid == pid and info.process.poll() is None
        # the occurrence counter survived the restart: the second get does not restart again
        client(info).unikernel_get("web")
        [still] = client(info).unikernel_info("web")
        assert still.started == after.started
        assert [f["fault"] for f in info.fired_faults()] == ["restart"]
    finally:
        info.stop()


def test_restart_with_a_gap_refuses_connections_meanwhile(tmp_path) -> None:
    info = start_server(tmp_path)
    try:
        info.set_faults([{"fault": "restart", "command": "info", "seconds": 2}])
        client(info).unikernel_info()
        with pytest.raises(AlbatrossConnectionError, match="cannot connect"):
            client(info).block_info()
        info.wait_ready()
        info.clear_faults()
        assert client(info).unikernel_info() == []
        with socket.create_connection((info.host, info.port), timeout=2):
            pass
        assert json.loads(open(os.path.join(info.state_dir, "ready.json"), encoding="utf-8").read())["port"] == info.port
    finally:
        info.stop()


def test_builder_web_switches(tmp_path) -> None:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"jobs": {}}))
    web = start_in_thread(str(catalogue))
    try:
        web.set_failure({"status": 503, "times": 1})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(web.url + "/job/x", timeout=5)
        assert caught.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(web.url + "/job/x", timeout=5)
        assert caught.value.code == 404  # the failure was for one request only
        web.set_failure({"refuse": True})
        with pytest.raises((urllib.error.URLError, http.client.RemoteDisconnected, ConnectionError)):
            urllib.request.urlopen(web.url + "/job/x", timeout=5)
        web.set_failure({})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(web.url + "/job/x", timeout=5)
        url = web.url
    finally:
        web.stop()
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(url + "/job/x", timeout=5)
