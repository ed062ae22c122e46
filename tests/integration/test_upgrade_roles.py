# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upgrade and rollback roles and playbooks/upgrade.yml against the albatross test server.

Simulated unikernels serve HTTP on the ``--http=127.0.0.1:PORT`` of their arguments: web-v1 and
web-v2 answer 200 with their version, web-bad answers 500. Every run is the real ansible-playbook.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from typing import Any

import pytest

from ansible_collections.unikernels.albatross.tests.images.make_images import make_image
from ansible_collections.unikernels.albatross.tests.integration._playbooks import ROOT, connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import (
    client_for,
    deploy,
    free_port,
    image,
    server_key,
    start_builder_web,
)

pytestmark = pytest.mark.integration

UPGRADE = os.path.join(ROOT, "playbooks", "upgrade.yml")
SUFFIX = os.urandom(3).hex()


def digest(server: Any, name: str) -> str:
    return hashlib.sha256(image(server, name)).hexdigest()


def running(server: Any, label: str) -> Any:
    infos = client_for(server).unikernel_info(label)
    return infos[0] if infos else None


def http_check(port: int, retries: int = 2) -> dict[str, Any]:
    return {"http": {"url": "http://127.0.0.1:%d/" % port, "timeout": 2}, "retries": retries, "delay": 0.2, "timeout": 10}


def read_report(backup: str, server: Any, label: str, kind: str = "upgrade") -> dict[str, Any]:
    with open(os.path.join(backup, server_key(server), "%s.%s.json" % (label, kind)), encoding="utf-8") as handle:
        return json.load(handle)


def test_good_upgrade_unchanged_precheck_and_rollback(servers, tmp_path):
    server = servers[0]
    label, port, backup = "good-" + SUFFIX, free_port(), str(tmp_path / "backups")
    results = run_playbook("upgrade_good.yml", tmp_path, dict(
        connection_vars(server), uk=label, images_dir=server.images_dir, http_port=port, backup_dir=backup), diff=False)
    assert results.returncode == 0, results.output[-4000:]

    good = results["Report: good"]["albatross_upgrade_report"]
    assert good["outcome"] == "upgraded", good["message"]
    assert good["from"]["digest"] == digest(server, "web-v1.hvt") and good["to"]["digest"] == digest(server, "web-v2.hvt")
    assert sorted(good["changes"]) == ["digest", "memory"]
    assert [c["ok"] for c in good["prechecks"]] == [True]
    assert [c["ok"] for c in good["postchecks"]] == [True, True] and good["postchecks"][1]["attempts"][0]["detail"].startswith("status 200")
    assert any(line["line"] == "version v2" for line in good["console"])
    assert good["kept"]["image"].startswith(os.path.join(backup, server_key(server)))
    assert good["error"] is None and good["rollback"] is None
    assert good["report_file"] == os.path.join(backup, server_key(server), label + ".upgrade.json")

    again = results["Report: again"]["albatross_upgrade_report"]
    assert again["outcome"] == "unchanged" and again["prechecks"] == [] and again["report_file"] is None

    refused = results["Report: pre-check"]["albatross_upgrade_report"]
    assert refused["outcome"] == "aborted" and "pre-checks" in refused["message"] and "nothing was changed" in refused["message"]
    assert refused["prechecks"][0]["ok"] is False and refused["prechecks"][0]["attempts"][0]["round"] == 1
    assert refused["postchecks"] == [] and refused["kept"] is None

    rolled = results["Report: rollback"]["albatross_rollback_report"]
    assert rolled["outcome"] == "restored", rolled["message"]
    assert rolled["from_digest"] == digest(server, "web-v2.hvt") and rolled["to_digest"] == digest(server, "web-v1.hvt")
    assert rolled["options"]["memory"] == 32 and rolled["checks"][0]["ok"]
    assert results["Report: rollback again"]["albatross_rollback_report"]["outcome"] == "unchanged"

    final = results["Info at the end"]["unikernels"][0]
    assert final["digest"] == digest(server, "web-v1.hvt") and final["memory"] == 32
    kept_dir = os.path.join(backup, server_key(server))
    for name in (label + ".hvt", label + ".json", label + ".upgrade.json", label + ".rollback.json"):
        assert stat.S_IMODE(os.stat(os.path.join(kept_dir, name)).st_mode) == 0o600, name


def test_failed_post_check_rolls_back_image_and_config(servers, tmp_path):
    server = servers[0]
    label, port, backup = "bad-" + SUFFIX, free_port(), str(tmp_path / "backups")
    deploy(server, label, port)
    before = running(server, label)
    common = dict(connection_vars(server), albatross_upgrade_hosts="localhost", albatross_upgrade_name=label,
                  albatross_upgrade_image=os.path.join(server.images_dir, "web-bad.hvt"),
                  albatross_upgrade_options={"memory": 64}, albatross_upgrade_checks=[http_check(port)],
                  albatross_upgrade_backup_dir=backup, albatross_upgrade_settle=0.3)

    planned = run_playbook(UPGRADE, tmp_path, common, check=True, diff=False)
    assert planned.returncode == 0, planned.output[-4000:]
    assert "Would upgrade unikernel %s" % label in planned["unikernels.albatross.upgrade : Show the outcome"]["msg"][0]
    assert running(server, label).started == before.started

    results = run_playbook(UPGRADE, tmp_path, common, diff=False)
    assert results.returncode == 2, results.output[-4000:]
    failing = "unikernels.albatross.upgrade : Fail the host when the upgrade failed"
    assert results.status(failing) == "failed"
    assert "Rolled back" in results[failing]["msg"] and "post-checks" in results[failing]["msg"]

    after = running(server, label)
    assert after.digest == before.digest and after.memory == 32 and after.argv == before.argv
    assert after.network_interfaces == before.network_interfaces and after.started != before.started

    report = read_report(backup, server, label)
    assert report["outcome"] == "rolled_back"
    assert report["from"]["digest"] == before.digest.hex() and report["to"]["digest"] == digest(server, "web-bad.hvt")
    assert report["error"]["task"] == "Make sure the new unikernel passes the post-checks"
    post = report["postchecks"][0]
    assert not post["ok"] and post["rounds"] == 3 and len(post["attempts"]) == 3
    assert "500" in post["attempts"][-1]["detail"]
    assert any(line["line"] == "version bad" for line in report["console"])
    assert report["rollback"]["outcome"] == "restored" and report["rollback"]["checks"][0]["ok"]
    assert report["rollback"]["options"]["memory"] == 32
    assert any(line["line"] == "version v1" for line in report["rollback"]["console"])


def test_rollback_uses_the_kept_image_while_builder_web_is_down(servers, tmp_path):
    server = servers[0]
    label, port, backup = "bw-" + SUFFIX, free_port(), str(tmp_path / "backups")
    web = start_builder_web(tmp_path, server.images_dir, {"web": ["web-v1.hvt", "web-bad.hvt"]})
    deploy(server, label, port)
    before = running(server, label)

    def stop_after_download() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any("/f/" in path for path in list(web.paths)):
                web.shutdown()
                web.server_close()
                return
            time.sleep(0.02)
    watcher = threading.Thread(target=stop_after_download, daemon=True)
    watcher.start()
    try:
        results = run_playbook(UPGRADE, tmp_path, dict(
            connection_vars(server), albatross_upgrade_hosts="localhost", albatross_upgrade_name=label,
            albatross_upgrade_builder_web={"url": web.url, "retries": 0, "timeout": 5},
            albatross_upgrade_checks=[http_check(port)], albatross_upgrade_backup_dir=backup, albatross_upgrade_settle=0.3),
            diff=False)
    finally:
        watcher.join(5)
        if watcher.is_alive():
            web.shutdown()
    assert results.returncode == 2, results.output[-4000:]
    assert not watcher.is_alive()

    report = read_report(backup, server, label)
    assert report["outcome"] == "rolled_back", report["message"]
    assert report["from"]["build"]["uuid"] == web.builds["web-v1.hvt"] and report["to"]["build"]["uuid"] == web.builds["web-bad.hvt"]
    assert report["to"]["source"]["type"] == "builder_web" and report["to"]["digest"] == digest(server, "web-bad.hvt")
    assert report["compare"]["from_build"] == web.builds["web-v1.hvt"]
    assert "mirage 4.5.0 -> 4.6.0" in report["compare"]["opam_packages"]
    assert report["rollback"]["outcome"] == "restored"
    assert running(server, label).digest == before.digest


def test_fleet_upgrade_stops_at_the_first_failing_batch(servers, tmp_path):
    first, second = servers
    web, api, backup = "fleet-" + SUFFIX, "api-" + SUFFIX, str(tmp_path / "backups")
    crash = tmp_path / "web-crash.hvt"
    crash.write_bytes(make_image(networks=("service",), behaviour={"version": "crash", "exit_code": 2}))
    # u1 and u2 are unikernels of the same name on two servers, running different images. u2's new build exits
    # right after its start, so its own kept copy (v2, not the v1 kept for u1) must come back; u3 is never reached.
    hosts = {"u1": (first, web, "web-v1.hvt", "web-v2.hvt"), "u2": (second, web, "web-v2.hvt", str(crash)),
             "u3": (first, api, "web-v1.hvt", "web-v2.hvt")}
    ports = {host: free_port() for host in hosts}
    for host, (server, label, source, _target) in hosts.items():
        deploy(server, label, ports[host], source)
    inventory = {host: dict(connection_vars(server), albatross_upgrade_name=label, http_port=ports[host],
                            albatross_upgrade_image=os.path.join(server.images_dir, target))
                 for host, (server, label, _source, target) in hosts.items()}
    results = run_playbook(UPGRADE, tmp_path, dict(
        albatross_upgrade_hosts="all", albatross_upgrade_backup_dir=backup, albatross_upgrade_settle=0.5,
        albatross_upgrade_checks=[{"http": {"url": "http://127.0.0.1:{{ http_port }}/"}, "retries": 1, "delay": 0.2}]),
        hosts=dict(inventory, localhost={}), diff=False)
    assert results.returncode == 2, results.output[-4000:]
    assert "NO MORE HOSTS LEFT" in results.output
    assert {r["host"] for r in results.records} == {"u1", "u2"}

    assert running(first, web).digest.hex() == digest(first, "web-v2.hvt")
    assert running(second, web).digest.hex() == digest(second, "web-v2.hvt")
    assert running(first, api).digest.hex() == digest(first, "web-v1.hvt")
    assert read_report(backup, first, web)["outcome"] == "upgraded"
    assert not os.path.exists(os.path.join(backup, server_key(first), api + ".upgrade.json"))

    crashed = read_report(backup, second, web)
    assert crashed["outcome"] == "rolled_back", crashed["message"]
    assert crashed["from"]["digest"] == digest(second, "web-v2.hvt")
    assert crashed["error"]["task"] == "Make sure the new unikernel runs the new image"
    assert "is not running" in crashed["error"]["msg"] and crashed["postchecks"] == []
    assert any("solo5_exit(2)" in line["line"] for line in crashed["console"])
    assert crashed["rollback"]["outcome"] == "restored" and crashed["rollback"]["to_digest"] == digest(second, "web-v2.hvt")
