# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Playbooks that pass against the test server and against a real albatross (``make test-real``).

They use only what a real albatross offers with solo5's test unikernels: test_net keeps running
(started without albatross's ``--name``, which it rejects with exit 1), test_hello exits 0 after its
greeting. The test server gets the equivalents solo5-*.hvt of tests/images/make_images.py. Deploy,
idempotence, check/diff, an upgrade the role rolls back, the fleet module, the inventory plugin and a
block upload cut by killing the controller.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import manifest, names
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import marker_label
from ansible_collections.unikernels.albatross.tests.integration._playbooks import (
    BIN,
    PLAYBOOKS,
    connection_vars,
    environment,
    run_ansible,
    run_playbook,
)
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import real_server, start_server

pytestmark = pytest.mark.integration

# Policies cannot be removed over TLS: against a real albatross the tenant paths stay the same between runs.
UID = "albt" if os.environ.get("ALBATROSS_TEST_SERVER") else secrets.token_hex(3)
RUN = secrets.token_hex(2)
IMAGES = {"runs": ("net.hvt", "solo5-net.hvt"), "exits": ("hello.hvt", "solo5-hello.hvt")}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The real albatross of ALBATROSS_TEST_SERVER, else a fresh test server."""
    info = real_server() or start_server(tmp_path_factory.mktemp("albatross"))
    yield info
    info.stop()


def image_path(target: Any, role: str) -> str:
    real_file, sim_file = IMAGES[role]
    return os.path.join(target.images_dir, sim_file if target.is_test_server else real_file)


def tenant(target: Any, stem: str) -> str:
    """A tenant path holding room for two unikernels and a volume, emptied first."""
    label = "%s-%s" % (stem, UID)
    client_for(target).install_policy(label, Policy(unikernels=2, cpuids=(0,), memory=128, block=10, bridges=(target.bridge,)))
    client = client_for(target, path=label)
    for info in client.unikernel_info():
        client.unikernel_destroy(names.parse_name(info.name)[1])
    for volume in client.block_info():
        client.block_remove(names.parse_name(volume.name)[1])
    return label


def netif(target: Any) -> str:
    with open(image_path(target, "runs"), "rb") as handle:
        return manifest.read_manifest(handle.read()).networks[0]


def predicted(results: Any, check: str, real: str) -> None:
    assert results[check]["changed"] == results[real]["changed"], (results[check], results[real])
    assert results[check]["diff"] == results[real]["diff"]


def test_deploy_idempotence_check_diff(target, tmp_path):
    path = tenant(target, "deploy")
    uk = "svc-%s" % RUN
    results = run_playbook("solo5_deploy.yml", tmp_path, dict(
        connection_vars(target), tenant=path, uk=uk, image=image_path(target, "runs"), netif=netif(target),
        bridge=target.bridge))
    assert results.returncode == 0, results.output[-4000:]
    created = results["Create"]
    assert created["changed"] and created["action"] == "created"
    assert created["unikernel"]["arguments"] == ["verbose"]
    predicted(results, "Create (check)", "Create")
    assert not results["Create again"]["changed"]
    predicted(results, "New arguments (check)", "New arguments")
    assert results["New arguments"]["changed"] and results["New arguments"]["unikernel"]["arguments"] == ["limit"]
    assert not results["New arguments again"]["changed"]
    (info,) = results["Info"]["unikernels"]
    assert info["arguments"] == ["limit"]
    predicted(results, "Absent (check)", "Absent")
    assert results["Absent"]["changed"] and not results["Absent again"]["changed"]


def test_upgrade_to_a_unikernel_that_exits_is_rolled_back(target, tmp_path):
    path = tenant(target, "upgrade")
    uk = "up-%s" % RUN
    results = run_playbook("solo5_upgrade.yml", tmp_path, dict(
        connection_vars(target), tenant=path, uk=uk, image=image_path(target, "runs"), netif=netif(target),
        bridge=target.bridge, backup_dir=str(tmp_path / "backup")))
    assert results.returncode == 0, results.output[-4000:]
    report = results["Upgrade report"]["albatross_upgrade_report"]
    # The new unikernel exits at once ("Error in command line."): the role puts the kept one back.
    assert any("Error in command line" in line["line"] for line in report["console"]), report["console"]
    assert report["outcome"] == "rolled_back", report["message"]
    (after,) = results["Info after the upgrade"]["unikernels"]
    assert after["arguments"] == ["verbose"]


FLEET = """
- name: Fleet
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/unikernels.albatross.api:
      server: "{{ albatross_server }}"
      server_ca: "{{ albatross_server_ca }}"
      client_cert: "{{ albatross_client_cert }}"
      client_key: "{{ albatross_client_key }}"
      path: "{{ tenant }}"
  vars:
    volumes: [{name: "{{ prefix }}-data", size: 1}]
    unikernels:
      - name: "{{ prefix }}-a"
        image: "{{ image }}"
        arguments: [verbose]
        add_name: false
        network_interfaces: [{name: "{{ netif }}", bridge: "{{ bridge }}"}]
      - name: "{{ prefix }}-b"
        image: "{{ image }}"
        arguments: [limit]
        add_name: false
        network_interfaces: [{name: "{{ netif }}", bridge: "{{ bridge }}"}]
  tasks:
    - {name: Plan, unikernels.albatross.fleet: {volumes: "{{ volumes }}", unikernels: "{{ unikernels }}"}, check_mode: true}
    - {name: Apply, unikernels.albatross.fleet: {volumes: "{{ volumes }}", unikernels: "{{ unikernels }}"}}
    - {name: Apply again, unikernels.albatross.fleet: {volumes: "{{ volumes }}", unikernels: "{{ unikernels }}"}}
    - {name: Prune, unikernels.albatross.fleet: {unikernels: "{{ unikernels[:1] }}", prune: true}}
    - {name: Info after prune, unikernels.albatross.unikernel_info: {}}
"""


def test_fleet_and_inventory(target, tmp_path):
    path = tenant(target, "fleet")
    prefix = "f%s" % RUN
    playbook = tmp_path / "fleet.yml"
    playbook.write_text(FLEET)
    results = run_playbook(str(playbook), tmp_path, dict(
        connection_vars(target), tenant=path, prefix=prefix, image=image_path(target, "runs"), netif=netif(target),
        bridge=target.bridge))
    assert results.returncode == 0, results.output[-4000:]
    assert results["Plan"]["changed"] and results["Apply"]["changed"]
    assert not results["Apply again"]["changed"], results["Apply again"]

    pruned = results["Prune"]
    assert pruned["changed"]
    remaining = [u["name"] for u in results["Info after prune"]["unikernels"]]
    assert [n.rsplit(":", 1)[1] for n in remaining] == ["%s-a" % prefix], remaining

    # The inventory plugin sees the running unikernel of the tenant as a host.
    config = {"plugin": "unikernels.albatross.albatross", "timeout": 10, "servers": [{
        "name": "alb", "server": target.address, "server_ca": str(target.server_ca),
        "client_cert": str(target.client_cert), "client_key": str(target.client_key)}]}
    inventory = tmp_path / "inventory.albatross.yml"
    inventory.write_text(yaml.safe_dump(config))
    listed = json.loads(run_ansible("ansible-inventory", "-i", str(inventory), "--list").stdout)
    found = json.dumps(listed.get("_meta", {}).get("hostvars", {}))
    assert "%s-a" % prefix in found and "%s-b" % prefix not in found, found[:2000]
    client = client_for(target, path=path)
    for info in client.unikernel_info():
        client.unikernel_destroy(names.parse_name(info.name)[1])


MB = 1 << 20


def _tree(pid: int) -> list:
    """``pid`` and every process below it (ansible's workers start sessions of their own)."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                    children.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_killed_block_upload_is_repaired_by_the_rerun(target, tmp_path):
    """The controller dies during a block upload (SIGKILL of every process); the rerun writes the data again."""
    data = tmp_path / "data.img"
    with open(data, "wb") as handle:
        for dummy in range(64):
            handle.write(os.urandom(MB))
    padded = hashlib.sha256()
    with open(data, "rb") as handle:
        for chunk in iter(lambda: handle.read(MB), b""):
            padded.update(chunk)
    padded.update(bytes(16 * MB))
    vol = "cut-%s" % RUN
    extra = dict(connection_vars(target), vol=vol, size=80, data_file=str(data), overwrite="never",
                 dest=str(tmp_path / "dump.img"))
    work = tmp_path / "killed"
    work.mkdir()
    (work / "inventory.json").write_text(json.dumps(
        {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (work / "vars.json").write_text(json.dumps(extra))
    client = client_for(target)
    with open(work / "output.txt", "w+", encoding="utf-8") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(BIN, "ansible-playbook"), "-i", str(work / "inventory.json"), "-e", "@" + str(work / "vars.json"),
             os.path.join(PLAYBOOKS, "block_interrupted.yml")], env=environment(str(work)), cwd=str(work), stdout=log,
            stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            # The write-in-progress marker is added right before the upload starts; kill then.
            while {":" + vol, ":" + marker_label(vol)} - {v.name for v in client.block_info()}:
                log.seek(0)
                assert proc.poll() is None and time.monotonic() < deadline, log.read()[-3000:]
                time.sleep(0.01)
            for pid in _tree(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert ":" + marker_label(vol) in [v.name for v in client.block_info()], "the upload ended before the kill"
    repair = run_playbook("block_interrupted.yml", tmp_path, extra)
    assert repair.returncode == 0, repair.output[-4000:]
    assert repair["Write"]["changed"] is True
    assert any("did not finish" in w for w in repair["Write"]["warnings"]), repair["Write"]
    assert repair["Download"]["sha256"] == padded.hexdigest()
    again = run_playbook("block_interrupted.yml", tmp_path, dict(extra, download=False))
    assert again.returncode == 0 and again["Write"]["changed"] is False, again.output[-4000:]
    assert [v.name for v in client.block_info() if vol in v.name] == [":" + vol]
    client.block_remove(vol)
