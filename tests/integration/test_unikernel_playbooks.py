# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The unikernel modules through the real ansible-playbook against the albatross test server.

Each playbook (tests/integration/playbooks/unikernel_*.yml) runs on localhost with
ansible_connection=local; the modules are action plugins, so nothing runs on a target.
Task results are read back through the results_file callback.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from typing import Any

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.tests.integration._playbooks import connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import builder_web, client_for, server_key

pytestmark = pytest.mark.integration

UID = secrets.token_hex(3)


def predicted(results: Any, check: str, real: str) -> None:
    """The check-mode task predicted the real one."""
    assert results[check]["changed"] == results[real]["changed"], (results[check], results[real])
    assert results[check].get("action") == results[real].get("action")
    assert results[check]["diff"] == results[real]["diff"], (results[check]["diff"], results[real]["diff"])
    assert set(results[real]["diff"]) == {"before", "after"}


def test_lifecycle(server, tmp_path):
    uk = f"life-{UID}"
    backup = os.path.join(str(tmp_path), "backup")
    dest = os.path.join(str(tmp_path), "image.hvt")
    images = server.images_dir
    results = run_playbook("unikernel_lifecycle.yml", tmp_path, dict(
        connection_vars(server), uk=uk, images_dir=images, backup_dir=backup, image_dest=dest))
    assert results.returncode == 0, results.output[-3000:]

    created = results["Create"]
    assert created["changed"] and created["action"] == "created"
    assert created["unikernel"]["name"] == f":{uk}" and created["unikernel"]["arguments"] == ["--greeting=one"]
    assert created["unikernel"]["network_interfaces"][0]["bridge"] == "service"
    assert created["diff"]["before"]["state"] == "absent" and created["diff"]["after"]["memory"] == 32
    assert "client_key" in created["invocation"]["module_args"]
    predicted(results, "Create (check)", "Create")
    assert not results["Create again"]["changed"] and not results["Only the name"]["changed"]

    predicted(results, "New arguments (check)", "New arguments")
    assert results["New arguments"]["action"] == "restarted_with_arguments"
    assert results["New arguments"]["unikernel"]["arguments"] == ["--greeting=two"]
    kept = os.path.join(backup, server_key(server))  # <backup_dir>/<key>/, the layout the rollback role reads
    assert results["New arguments"]["backup"]["config"] == os.path.join(kept, f"{uk}.json")

    predicted(results, "More memory (check)", "More memory")
    assert results["More memory"]["action"] == "replaced" and results["More memory"]["unikernel"]["memory"] == 64
    assert results["More memory"]["unikernel"]["arguments"] == ["--greeting=two"]
    assert not results["More memory again"]["changed"]

    predicted(results, "New image (check)", "New image")
    new_image = results["New image"]
    assert new_image["action"] == "replaced" and new_image["differences"] == ["digest"]
    assert new_image["diff"]["before"]["digest"] != new_image["diff"]["after"]["digest"]
    # The backup holds what ran before the last replace.
    with open(os.path.join(kept, f"{uk}.hvt"), "rb") as handle, open(os.path.join(images, "net.hvt"), "rb") as old:
        assert handle.read() == old.read()
    with open(os.path.join(kept, f"{uk}.json"), encoding="utf-8") as handle:
        kept = json.load(handle)["options"]
    assert kept["arguments"] == ["--greeting=two"] and kept["memory"] == 64

    info = results["Info"]["unikernels"]
    assert len(info) == 1 and info[0]["digest"] == new_image["unikernel"]["digest"] and info[0]["memory"] == 64
    assert f":{uk}" in [u["name"] for u in results["Info of everything"]["unikernels"]]
    assert results["Download image"]["changed"] and not results["Download image again"]["changed"]
    with open(dest, "rb") as handle, open(os.path.join(images, "web-v2.hvt"), "rb") as src:
        assert handle.read() == src.read()

    predicted(results, "Restart (check)", "Restart")
    assert results["Restart"]["action"] == "restarted"
    predicted(results, "Absent (check)", "Absent")
    assert results["Absent"]["changed"] and not results["Absent again"]["changed"]
    assert results.status("Restart a missing unikernel") == "failed"
    assert "not running" in results["Restart a missing unikernel"]["msg"]


def test_bad_input_changes_nothing(server, tmp_path):
    uk = f"bad-{UID}"
    results = run_playbook("unikernel_bad_input.yml", tmp_path, dict(
        connection_vars(server), uk=uk, images_dir=server.images_dir))
    assert results.returncode == 0, results.output[-3000:]
    expected = {
        "Bad name": "invalid label",
        "Manifest mismatch": "does not match with the manifest",
        "Manifest mismatch (check)": "does not match with the manifest",
        "Unknown bridge": "nosuchbridge",
        "Unknown option": "colour",
        "Memory beyond the policy": "100000 MB memory assigned to unikernel exceeds policy",
        "No memory": "memory must be a positive number of MB, got 0",
        "CPU the host does not have": "CPUids 9 requested by the unikernel are not allowed by policy",
        "Missing image": "cannot read image",
        "Manifest mismatch on the existing unikernel": "does not match with the manifest",
        "New image with a manifest mismatch on the existing unikernel": "does not match with the manifest",
        "Memory beyond the policy on the existing unikernel": "exceeds policy",
    }
    for task, words in expected.items():
        assert results.status(task) == "failed", task
        assert words in results[task]["msg"], (task, results[task]["msg"])
        assert not results[task]["changed"], task
    assert "policy" in results["Unknown bridge"]["msg"]
    assert "Unsupported parameters" in results["Unknown option"]["msg"]
    assert "nosuch.hvt" in results["Missing image"]["msg"]
    assert results["Info after the refusals"]["unikernels"] == []
    # The refusals left the existing unikernel exactly as it was (same image, same start time).
    kept = results["Info of the existing unikernel after the refusals"]["unikernels"]
    assert kept == [results["Existing unikernel"]["unikernel"]]
    assert results["Remove the existing unikernel"]["changed"]


def test_env_fallbacks_and_unikernel_hosts(server, tmp_path):
    uk = f"env-{UID}"
    results = run_playbook("unikernel_env.yml", tmp_path, {"uk": uk, "images_dir": server.images_dir}, env=server.env(),
                           hosts={"unikernel-host.invalid": {}})
    assert results.returncode == 0, results.output[-3000:]
    assert results["Create"]["changed"] and results["Create"]["unikernel"]["memory"] == 16
    assert not results["Create again"]["changed"]
    assert results["Remove"]["changed"]
    # No key material in what the callback saw (the key's path is not a secret and may show).
    with open(server.client_key, encoding="ascii") as handle:
        body = [line for line in handle.read().splitlines() if line and not line.startswith("-----")]
    seen = json.dumps(results.records)
    assert body and not any(line in seen for line in body)


def test_unikernel_under_tenant_path(server, tmp_path):
    tenant, uk = f"tenant-{UID}", f"pathuk-{UID}"
    results = run_playbook("unikernel_path.yml", tmp_path, dict(
        connection_vars(server), tenant=tenant, uk=uk, images_dir=server.images_dir))
    assert results.returncode == 0, results.output[-3000:]
    full = f"{tenant}:{uk}"

    refused = results["Path without a policy refused"]
    assert results.status("Path without a policy refused") == "failed"
    assert f"no policy for path {tenant}" in refused["msg"] and "policy module" in refused["msg"], refused["msg"]
    assert full not in [u["name"] for u in results["Info at the root after the refusal"]["unikernels"]]

    created = results["Create"]
    assert created["changed"] and created["action"] == "created" and created["unikernel"]["name"] == full
    assert created["diff"]["before"] == {"name": uk, "state": "absent"} and created["diff"]["after"]["memory"] == 64
    predicted(results, "Create (check)", "Create")
    assert not results["Create again"]["changed"] and not results["Create again (check)"]["changed"]

    over = results["More memory than the tenant policy refused"]
    assert results.status("More memory than the tenant policy refused") == "failed"
    assert "256 MB memory assigned to unikernel exceeds policy (128MB)" in over["msg"], over["msg"]
    cpu = results["CPU outside the tenant policy refused"]
    assert results.status("CPU outside the tenant policy refused") == "failed"
    assert "CPUids 1" in cpu["msg"] and "not allowed by policy" in cpu["msg"], cpu["msg"]

    info = results["Info as the tenant"]["unikernels"]
    assert len(info) == 1 and info[0]["name"] == full and info[0]["memory"] == 64 and info[0]["cpuids"] == [0]
    assert info[0]["started"] == created["unikernel"]["started"]  # the refusals changed nothing
    assert full in [u["name"] for u in results["Info at the root"]["unikernels"]]
    # The tenant's policy was re-asserted exactly, never replaced by another one.
    assert results["Tenant policy after the unikernel tasks"]["policies"] == [
        {"path": tenant, "unikernels": 2, "memory": 128, "block": None, "cpuids": [0], "bridges": ["service"]}]

    predicted(results, "Absent (check)", "Absent")
    assert results["Absent"]["changed"] and results["Absent"]["unikernel"] is None
    assert not results["Absent again"]["changed"]


def test_fleet_under_tenant_path(server, tmp_path):
    tenant = f"fleet-{UID}"
    client_for(server).install_policy(tenant, Policy(unikernels=4, cpuids=(0,), memory=256, block=8, bridges=("service",)))
    prefix = f"f{UID}"
    results = run_playbook("unikernel_fleet.yml", tmp_path, dict(
        connection_vars(server), tenant=tenant, prefix=prefix, images_dir=server.images_dir))
    assert results.returncode == 0, results.output[-3000:]
    plan = results["Plan"]["plan"]
    assert plan == [{"kind": "volume", "name": f"{prefix}-data", "action": "created"},
                    {"kind": "unikernel", "name": f"{prefix}-a", "action": "created"},
                    {"kind": "unikernel", "name": f"{prefix}-b", "action": "created"}]
    assert results["Apply"]["plan"] == plan
    assert not results["Apply again"]["changed"]
    assert results["Prune plan"]["plan"] == [{"kind": "unikernel", "name": f"{prefix}-b", "action": "destroyed"},
                                             {"kind": "volume", "name": f"{prefix}-data", "action": "removed"}]
    assert results["Prune"]["plan"] == results["Prune plan"]["plan"]
    assert [u["name"] for u in results["Info after prune"]["unikernels"]] == [f"{tenant}:{prefix}-a"]


def _build(uuid: str, binary: str, minute: int) -> dict:
    return {"uuid": uuid, "platform": "ubuntu-22.04", "start_time": f"2025-01-01T00:{minute:02d}:00Z",
            "finish_time": f"2025-01-01T00:{minute:02d}:30Z", "main_binary": binary, "binary_name": "web.hvt",
            "opam_packages": {}, "system_packages": {}, "env": {}}


def _binary_requests(web: Any) -> int:
    """Requests that fetch (or redirect to) a binary; one download is a redirect and a file."""
    return len([p for p in list(web.paths) if "/f/" in p or "main-binary" in p])


def test_builder_web_downloads_only_new_builds(server, tmp_path):
    images = server.images_dir
    for name in ("web-v1.hvt", "web-v2.hvt"):
        with open(os.path.join(images, name), "rb") as src, open(os.path.join(str(tmp_path), name), "wb") as dst:
            dst.write(src.read())
    uuid1, uuid2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    web = builder_web(tmp_path, {"jobs": {"web": {"builds": [_build(uuid1, "web-v1.hvt", 1)]}}})
    try:
        with open(os.path.join(images, "web-v1.hvt"), "rb") as handle:
            v1 = hashlib.sha256(handle.read()).hexdigest()
        extra = dict(connection_vars(server), uk=f"bw-{UID}", builder_url=web.url, job="web",
                     image_url=f"{web.url}/job/web/build/{uuid1}/main-binary", image_sha256=v1)
        results = run_playbook("unikernel_builder_web.yml", tmp_path, extra)
        assert results.returncode == 0, results.output[-3000:]
        predicted(results, "Deploy (check)", "Deploy")
        assert results["Deploy"]["action"] == "created" and results["Deploy"]["unikernel"]["digest"] == v1
        assert results["Deploy"]["image_source"]["uuid"] == uuid1
        assert not results["Deploy again"]["changed"] and not results["Same image by URL and digest"]["changed"]
        assert _binary_requests(web) == 2

        with open(web.catalogue.path, "w", encoding="utf-8") as handle:
            json.dump({"jobs": {"web": {"builds": [_build(uuid1, "web-v1.hvt", 1), _build(uuid2, "web-v2.hvt", 2)]}}}, handle)
        time.sleep(1.1)  # the catalogue is re-read when its mtime changes
        results = run_playbook("unikernel_builder_web.yml", tmp_path, extra)
        assert results["Deploy (check)"]["changed"] and results["Deploy"]["action"] == "replaced"
        assert results["Deploy"]["image_source"]["uuid"] == uuid2
        assert not results["Deploy again"]["changed"]
        # The old build by URL and digest is a change back to v1.
        assert results["Same image by URL and digest"]["action"] == "replaced"
    finally:
        web.shutdown()
        web.server_close()
