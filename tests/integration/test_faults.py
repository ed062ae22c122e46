# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault matrix: real ansible-playbook runs against test servers whose fault switches are on.

Every case ends with the previous unikernel still running or a clear error, nothing lost, and a
second run that converges. The switches are described in tests/server/README.md ("Fault switches");
docs/reliability.md ("Faults tested") lists what the user sees in each case.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import time
from typing import Any

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.tests.integration._playbooks import (
    RECAP_RE,
    ROOT,
    Results,
    connection_vars,
    run_ansible,
    run_playbook,
)
from ansible_collections.unikernels.albatross.tests.integration._servers import (
    client_for,
    deploy,
    free_port,
    image,
    server_key,
    start_builder_web,
)
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import start_server
from ansible_collections.unikernels.albatross.tests.server.albatross_sim import pki, rawclient

pytestmark = pytest.mark.integration

UPGRADE = os.path.join(ROOT, "playbooks", "upgrade.yml")
ROLLBACK = os.path.join(ROOT, "playbooks", "rollback.yml")
FAIL_TASK = "unikernels.albatross.upgrade : Fail the host when the upgrade failed"


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def server(tmp_path):
    info = start_server(tmp_path / "srv")
    yield info
    info.stop()


@pytest.fixture
def two_servers(tmp_path):
    started = [start_server(tmp_path / ("srv%d" % n)) for n in (1, 2)]
    yield started
    for info in started:
        info.stop()


def digest(server: Any, name: str) -> str:
    return hashlib.sha256(image(server, name)).hexdigest()


def running(server: Any, label: str) -> Any:
    infos = client_for(server).unikernel_info(label)
    return infos[0] if infos else None


def recap(results: Results) -> dict[str, dict[str, int]]:
    """host -> ok/changed/failed/unreachable counts of the play recap."""
    return {m.group("host"): {k: int(m.group(k)) for k in ("ok", "changed", "failed", "unreachable")}
            for m in RECAP_RE.finditer(results.output)}


def failure(results: Results, task: str, host: str = "localhost") -> str:
    found = [r for r in results.records if r["host"] == host and r["status"] == "failed"
             and (r["task"] == task or r["task"].endswith(" : " + task))]
    assert found, "task %r did not fail on %s:\n%s" % (task, host, results.output[-4000:])
    return found[-1]["result"].get("msg", "")


def fired(server: Any, fault: str) -> list[dict[str, Any]]:
    return [entry for entry in server.fired_faults() if entry.get("fault") == fault]


def http_check(port: int) -> dict[str, Any]:
    return {"http": {"url": "http://127.0.0.1:%d/" % port, "timeout": 2}, "retries": 2, "delay": 0.2, "timeout": 10}


def upgrade_vars(server: Any, label: str, port: int, backup: str, **more: Any) -> dict[str, Any]:
    return dict(connection_vars(server), albatross_upgrade_hosts="localhost", albatross_upgrade_name=label,
                albatross_upgrade_checks=[http_check(port)], albatross_upgrade_backup_dir=backup,
                albatross_upgrade_settle=0.3, **more)


def read_report(backup: str, server: Any, label: str, kind: str = "upgrade") -> dict[str, Any]:
    with open(os.path.join(backup, server_key(server), "%s.%s.json" % (label, kind)), encoding="utf-8") as handle:
        return json.load(handle)


def unikernel_vars(server: Any, label: str, name: str = "hello.hvt", **more: Any) -> dict[str, Any]:
    return dict(connection_vars(server), uk=label, uk_image=os.path.join(server.images_dir, name), **more)


# --------------------------------------------------------------------------- dropped uploads

def test_dropped_create_upload_creates_nothing_and_the_rerun_creates(server, tmp_path):
    server.set_faults([{"fault": "drop_upload", "command": "unikernel create", "nth": 1, "after_bytes": 200}])
    first = run_playbook("faults_unikernel.yml", tmp_path, unikernel_vars(server, "up"))
    assert first.returncode == 2, first.output[-4000:]
    assert fired(server, "drop_upload")
    msg = failure(first, "Unikernel")
    assert server.address in msg and re.search(r"cut off|broke|closed|reset", msg), msg
    assert running(server, "up") is None

    second = run_playbook("faults_unikernel.yml", tmp_path, unikernel_vars(server, "up"))
    assert second.returncode == 0, second.output[-4000:]
    assert recap(second)["localhost"] == {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0}
    assert running(server, "up").digest.hex() == digest(server, "hello.hvt")


def test_dropped_force_create_upload_keeps_the_old_unikernel_running(server, tmp_path):
    deploy(server, "swap", None, "web-v1.hvt")
    before = running(server, "swap")
    server.set_faults([{"fault": "drop_upload", "command": "unikernel force-create", "nth": 1, "after_bytes": 200}])
    params = unikernel_vars(server, "swap", "web-v2.hvt", uk_networks=[{"name": "service"}])
    first = run_playbook("faults_unikernel.yml", tmp_path, params)
    assert first.returncode == 2, first.output[-4000:]
    assert fired(server, "drop_upload")
    msg = failure(first, "Unikernel")
    assert server.address in msg and re.search(r"cut off|broke|closed|reset", msg), msg
    after = running(server, "swap")
    assert after is not None and after.digest == before.digest and after.started == before.started

    second = run_playbook("faults_unikernel.yml", tmp_path, params)
    assert second.returncode == 0, second.output[-4000:]
    assert recap(second)["localhost"] == {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0}
    assert running(server, "swap").digest.hex() == digest(server, "web-v2.hvt")


def test_dropped_block_set_upload_is_repaired_by_the_rerun(server, tmp_path):
    data = os.urandom(300 * 1024)
    path = tmp_path / "volume.bin"
    path.write_bytes(data)
    params = dict(connection_vars(server), vol="vol", vol_data=str(path))
    server.set_faults([{"fault": "drop_upload", "command": "block set", "nth": 1, "after_bytes": 50000}])
    first = run_playbook("faults_block.yml", tmp_path, params)
    assert first.returncode == 2, first.output[-4000:]
    assert fired(server, "drop_upload")
    msg = failure(first, "Volume")
    assert server.address in msg and re.search(r"cut off|broke|closed|reset", msg), msg

    # data_overwrite is left at never: only the marker of the interrupted write makes the rerun write again
    second = run_playbook("faults_block.yml", tmp_path, params)
    assert second.returncode == 0, second.output[-4000:]
    assert recap(second)["localhost"] == {"ok": 1, "changed": 1, "failed": 0, "unreachable": 0}
    out = io.BytesIO()
    client_for(server).block_dump("vol", out)
    assert out.getvalue() == data + bytes(1024 * 1024 - len(data))
    assert [v.name for v in client_for(server).block_info()] == [":vol"]

    third = run_playbook("faults_block.yml", tmp_path, params)
    assert third.returncode == 0 and recap(third)["localhost"]["changed"] == 0, third.output[-4000:]


# --------------------------------------------------------------------------- restart between two commands

def test_server_restart_between_kept_image_download_and_replace(server, tmp_path):
    label, port, backup = "rs", free_port(), str(tmp_path / "backups")
    deploy(server, label, port, "web-v1.hvt")
    pid = server.process.pid
    server.set_faults([{"fault": "restart", "command": "unikernel get", "nth": 1}])
    params = upgrade_vars(server, label, port, backup, albatross_upgrade_image=os.path.join(server.images_dir, "web-v2.hvt"))
    first = run_playbook(UPGRADE, tmp_path, params, diff=False)
    assert [f["kind"] for f in fired(server, "restart")] == ["unikernel_get"], server.fired_faults()
    assert server.process.pid == pid and server.process.poll() is None
    kept = os.path.join(backup, server_key(server), label + ".hvt")
    assert os.path.exists(kept) and open(kept, "rb").read() == image(server, "web-v1.hvt")
    now = running(server, label)
    if first.returncode == 0:
        assert read_report(backup, server, label)["outcome"] == "upgraded"
        assert now.digest.hex() == digest(server, "web-v2.hvt")
    else:
        # a clear error, and the previous unikernel still runs
        assert server.address in failure(first, FAIL_TASK), first.output[-4000:]
        assert now.digest.hex() == digest(server, "web-v1.hvt")

    second = run_playbook(UPGRADE, tmp_path, params, diff=False)
    assert second.returncode == 0, second.output[-4000:]
    assert read_report(backup, server, label)["outcome"] in ("upgraded", "unchanged")
    assert running(server, label).digest.hex() == digest(server, "web-v2.hvt")
    third = run_playbook(UPGRADE, tmp_path, params, diff=False)
    assert third.returncode == 0 and recap(third)["localhost"]["changed"] == 0, third.output[-4000:]


# --------------------------------------------------------------------------- a stalled server

@pytest.mark.parametrize("stage", ["accept", "command"])
def test_stalled_server_fails_the_task_within_the_timeout(server, tmp_path, stage):
    timeout = 3
    server.set_faults([{"fault": "stall", "stage": stage, "seconds": 120}])
    started = time.monotonic()
    results = run_playbook("faults_info.yml", tmp_path, dict(connection_vars(server), albatross_timeout=timeout))
    elapsed = time.monotonic() - started
    assert results.returncode == 2, results.output[-4000:]
    assert elapsed < timeout * 3 + 10, elapsed
    msg = failure(results, "Info")
    assert server.address in msg and re.search(r"in time|timed out", msg), msg
    assert fired(server, "stall")


def inventory_file(tmp_path: Any, name: str, servers: dict[str, Any], **options: Any) -> str:
    config = {"plugin": "unikernels.albatross.albatross", "timeout": 5, "servers": [
        {"name": key, "server": info.address, "server_ca": str(info.server_ca), "client_cert": str(info.client_cert),
         "client_key": str(info.client_key)} for key, info in servers.items()]}
    config.update(options)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def inventory_hosts(stdout: str, group: str) -> list[str]:
    return sorted(json.loads(stdout).get(group, {}).get("hosts", []))


def test_stalled_server_in_the_inventory_times_out(two_servers, tmp_path):
    good, stalled = two_servers
    deploy(good, "web", None, "web-v1.hvt")
    stalled.set_faults([{"fault": "stall", "seconds": 120}])
    path = inventory_file(tmp_path, "stall.albatross.yml", {"good": good, "stalled": stalled}, timeout=2)
    started = time.monotonic()
    proc = run_ansible("ansible-inventory", "-i", path, "--list")
    elapsed = time.monotonic() - started
    assert elapsed < 2 * 3 + 10, elapsed
    assert inventory_hosts(proc.stdout, "albatross_unikernels") == ["good_web"]
    assert "stalled" in proc.stderr and stalled.address in proc.stderr
    assert re.search(r"in time|timed out", proc.stderr), proc.stderr


# --------------------------------------------------------------------------- one of several servers down

@pytest.mark.parametrize("on_unreachable", ["warn", "fail"])
def test_one_server_refusing_during_inventory(two_servers, tmp_path, on_unreachable):
    good, down = two_servers
    deploy(good, "web", None, "web-v1.hvt")
    down.set_faults([{"fault": "refuse", "stage": "accept"}])
    path = inventory_file(tmp_path, "down.albatross.yml", {"good": good, "down": down}, on_unreachable=on_unreachable)
    proc = run_ansible("ansible-inventory", "-i", path, "--list", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
                       check=False)
    output = proc.stdout + proc.stderr
    assert "down" in output and down.address in output, output
    if on_unreachable == "warn":
        assert proc.returncode == 0, output
        assert inventory_hosts(proc.stdout, "albatross_unikernels") == ["good_web"]
        assert json.loads(proc.stdout)["_meta"]["hostvars"]["down"]["albatross_reachable"] is False
    else:
        assert proc.returncode != 0, output
        assert "good_web" not in proc.stdout


def test_fleet_with_one_server_refusing(two_servers, tmp_path):
    good, down = two_servers
    hosts = {"h-good": connection_vars(good), "h-down": connection_vars(down)}
    params = {"prefix": "fl", "images_dir": good.images_dir}
    down.set_faults([{"fault": "refuse", "stage": "accept"}])
    first = run_playbook("faults_fleet.yml", tmp_path, params, hosts=hosts)
    assert first.returncode == 2, first.output[-4000:]
    counts = recap(first)
    assert counts["h-good"] == {"ok": 1, "changed": 1, "failed": 0, "unreachable": 0}
    assert counts["h-down"]["failed"] == 1
    assert down.address in failure(first, "Fleet", "h-down")
    assert sorted(u.name for u in client_for(good).unikernel_info()) == [":fl-a", ":fl-b"]

    down.clear_faults()
    assert client_for(down).unikernel_info() == []
    second = run_playbook("faults_fleet.yml", tmp_path, params, hosts=hosts)
    assert second.returncode == 0, second.output[-4000:]
    counts = recap(second)
    assert counts["h-good"]["changed"] == 0 and counts["h-down"]["changed"] == 1
    assert sorted(u.name for u in client_for(down).unikernel_info()) == [":fl-a", ":fl-b"]


def test_rolling_upgrade_with_one_server_refusing(two_servers, tmp_path):
    good, down = two_servers
    backup = str(tmp_path / "backups")
    layout = {"u1": (good, "r1"), "u2": (down, "r2"), "u3": (good, "r3")}
    ports = {host: free_port() for host in layout}
    for host, (info, label) in layout.items():
        deploy(info, label, ports[host], "web-v1.hvt")
    inventory = {host: dict(connection_vars(info), albatross_upgrade_name=label, http_port=ports[host],
                            albatross_upgrade_image=os.path.join(info.images_dir, "web-v2.hvt"))
                 for host, (info, label) in layout.items()}
    # batches of two, so that the batch of the down host has another host (a batch whose hosts all fail ends the
    # play whatever max_fail_percentage says); half of a batch may fail
    params = dict(albatross_upgrade_hosts="all", albatross_upgrade_serial=2, albatross_upgrade_max_fail_percentage=50,
                  albatross_upgrade_backup_dir=backup, albatross_upgrade_settle=0.3,
                  albatross_upgrade_checks=[{"http": {"url": "http://127.0.0.1:{{ http_port }}/"}, "retries": 1, "delay": 0.2}])
    down.set_faults([{"fault": "refuse", "stage": "accept"}])
    first = run_playbook(UPGRADE, tmp_path, params, hosts=inventory, diff=False)
    assert first.returncode == 2, first.output[-4000:]
    counts = recap(first)
    assert set(counts) == {"u1", "u2", "u3"}, first.output[-6000:]
    assert counts["u1"]["failed"] == 0 and counts["u3"]["failed"] == 0 and counts["u2"]["failed"] == 1
    assert down.address in failure(first, FAIL_TASK, "u2")
    assert running(good, "r1").digest.hex() == digest(good, "web-v2.hvt")
    assert running(good, "r3").digest.hex() == digest(good, "web-v2.hvt")

    down.clear_faults()
    assert running(down, "r2").digest.hex() == digest(down, "web-v1.hvt")
    second = run_playbook(UPGRADE, tmp_path, params, hosts=inventory, diff=False)
    assert second.returncode == 0, second.output[-4000:]
    assert running(down, "r2").digest.hex() == digest(down, "web-v2.hvt")
    assert read_report(backup, down, "r2")["outcome"] == "upgraded"
    assert read_report(backup, good, "r1")["outcome"] == "upgraded"  # from the first run: the second left it unchanged
    assert recap(second)["u1"]["changed"] == 0 and recap(second)["u3"]["changed"] == 0


# --------------------------------------------------------------------------- client credentials

def _write(path: Any, data: bytes) -> str:
    path.write_bytes(data)
    os.chmod(str(path), 0o600)
    return str(path)


@pytest.mark.parametrize("problem", ["expired", "not_yet_valid", "wrong_ca", "key_mismatch"])
def test_broken_client_credentials_give_a_clear_error(server, tmp_path, problem):
    ca, ca_key = rawclient.load(server.client_cert, server.client_key)
    now = datetime.datetime.now(datetime.timezone.utc)
    policy = Policy(unikernels=1, cpuids=(0,), memory=64, block=None, bridges=())
    if problem == "expired":
        cert, key = rawclient.sub_ca(ca, ca_key, "tenant", policy, valid_from=now - datetime.timedelta(days=30), days=10)
    elif problem == "not_yet_valid":
        cert, key = rawclient.sub_ca(ca, ca_key, "tenant", policy, valid_from=now + datetime.timedelta(days=10), days=30)
    elif problem == "wrong_ca":
        cert, key = pki.make_root("another-ca")
    else:
        cert, key = ca, rawclient.new_key()
    cert_file = _write(tmp_path / "client.pem", rawclient.pem(cert))
    key_file = _write(tmp_path / "client.key", rawclient.key_pem(key))
    params = dict(connection_vars(server), albatross_client_cert=cert_file, albatross_client_key=key_file)
    results = run_playbook("faults_info.yml", tmp_path, params)
    assert results.returncode == 2, results.output[-4000:]
    msg = failure(results, "Info")
    if problem == "expired":
        assert "expired" in msg.lower() and cert.not_valid_after_utc.strftime("%Y-%m-%d") in msg and "client_cert" in msg, msg
    elif problem == "not_yet_valid":
        assert "not yet valid" in msg.lower() and cert.not_valid_before_utc.strftime("%Y-%m-%d") in msg, msg
        assert "client_cert" in msg, msg
    elif problem == "wrong_ca":
        assert "client_cert" in msg and re.search(r"\bCA\b", msg) and server.address in msg, msg
    else:
        assert "client_key" in msg and "does not match" in msg, msg
    assert client_for(server).unikernel_info() == []


# --------------------------------------------------------------------------- builder-web in trouble

def _stop_web(web: Any) -> None:
    try:
        web.stop()
    except OSError:
        pass


@pytest.mark.parametrize("trouble", ["status_503", "refuse", "stopped"])
def test_upgrade_with_builder_web_in_trouble_changes_nothing(server, tmp_path, trouble):
    label, port, backup = "bw", free_port(), str(tmp_path / "backups")
    web = start_builder_web(tmp_path, server.images_dir, {"web": ["web-v1.hvt", "web-v2.hvt"]})
    try:
        deploy(server, label, port, "web-v1.hvt")
        before = running(server, label)
        url = web.url
        if trouble == "status_503":
            web.set_failure({"status": 503})
        elif trouble == "refuse":
            web.set_failure({"refuse": True})
        else:
            web.stop()
        params = upgrade_vars(server, label, port, backup,
                              albatross_upgrade_builder_web={"url": url, "job": "web", "retries": 0, "timeout": 5})
        first = run_playbook(UPGRADE, tmp_path, params, diff=False)
        assert first.returncode == 2, first.output[-4000:]
        msg = failure(first, FAIL_TASK)
        # one sentence naming the job, the URL and the status; no templating internals of Ansible
        assert url in msg and re.search(r"\bjob\b[^.]*\bweb\b", msg), msg
        assert "Finalization of task args" not in msg and "lookup plugin" not in msg, msg
        if trouble == "status_503":
            assert "503" in msg, msg
        else:
            assert re.search(r"refused|closed|unreachable|connect|answer", msg, re.I), msg
        after = running(server, label)
        assert after.digest == before.digest and after.started == before.started

        if trouble == "stopped":
            web = start_builder_web(tmp_path, server.images_dir, {"web": ["web-v1.hvt", "web-v2.hvt"]})
            params["albatross_upgrade_builder_web"]["url"] = web.url
        else:
            web.set_failure({})
        second = run_playbook(UPGRADE, tmp_path, params, diff=False)
        assert second.returncode == 0, second.output[-4000:]
        assert read_report(backup, server, label)["outcome"] == "upgraded"
        assert running(server, label).digest.hex() == digest(server, "web-v2.hvt")
    finally:
        _stop_web(web)


def test_rollback_works_with_builder_web_down(server, tmp_path):
    label, port, backup = "rb", free_port(), str(tmp_path / "backups")
    web = start_builder_web(tmp_path, server.images_dir, {"web": ["web-v1.hvt", "web-v2.hvt"]})
    try:
        deploy(server, label, port, "web-v1.hvt")
        params = upgrade_vars(server, label, port, backup,
                              albatross_upgrade_builder_web={"url": web.url, "job": "web", "retries": 0, "timeout": 5})
        upgraded = run_playbook(UPGRADE, tmp_path, params, diff=False)
        assert upgraded.returncode == 0, upgraded.output[-4000:]
        assert running(server, label).digest.hex() == digest(server, "web-v2.hvt")
    finally:
        _stop_web(web)
    params = dict(connection_vars(server), albatross_rollback_hosts="localhost", albatross_rollback_name=label,
                  albatross_rollback_backup_dir=backup, albatross_rollback_settle=0.3,
                  albatross_rollback_checks=[http_check(port)])
    rolled = run_playbook(ROLLBACK, tmp_path, params, diff=False)
    assert rolled.returncode == 0, rolled.output[-4000:]
    assert read_report(backup, server, label, "rollback")["outcome"] == "restored"
    assert running(server, label).digest.hex() == digest(server, "web-v1.hvt")
    again = run_playbook(ROLLBACK, tmp_path, params, diff=False)
    assert again.returncode == 0 and recap(again)["localhost"]["changed"] == 0, again.output[-4000:]
    assert running(server, label).digest.hex() == digest(server, "web-v1.hvt")


# --------------------------------------------------------------------------- garbage

def test_server_answering_garbage_changes_nothing(server, tmp_path):
    server.set_faults([{"fault": "garbage"}])
    first = run_playbook("faults_unikernel.yml", tmp_path, unikernel_vars(server, "junk"))
    assert first.returncode == 2, first.output[-4000:]
    msg = failure(first, "Unikernel")
    assert server.address in msg and re.search(r"protocol|unexpected|decode", msg, re.I), msg
    server.clear_faults()
    assert client_for(server).unikernel_info() == []
    second = run_playbook("faults_unikernel.yml", tmp_path, unikernel_vars(server, "junk"))
    assert second.returncode == 0, second.output[-4000:]
    assert recap(second)["localhost"] == {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0}
    assert running(server, "junk").digest.hex() == digest(server, "hello.hvt")
