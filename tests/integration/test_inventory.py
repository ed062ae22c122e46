# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-inventory with the albatross inventory plugin against three test servers.

alb1 and alb2 run (each with its own CA, as Mollymawk keeps one CA per server) and alb3
was started and stopped again, so its port refuses connections.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy, UnikernelConfig
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_ansible
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for, image
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import start_server

pytestmark = pytest.mark.integration


class Fleet:
    def __init__(self, tmp_path: Any) -> None:
        self.tmp_path = tmp_path
        self.servers: dict[str, Any] = {}

    def entry(self, name: str) -> dict[str, str]:
        info = self.servers[name]
        return {"name": name, "server": info.address, "server_ca": str(info.server_ca),
                "client_cert": str(info.client_cert), "client_key": str(info.client_key)}

    def write(self, file_name: str, **options: Any) -> str:
        config = {"plugin": "unikernels.albatross.albatross", "timeout": 5}
        config.setdefault("servers", [self.entry(name) for name in ("alb1", "alb2", "alb3")])
        config.update(options)
        path = self.tmp_path / file_name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return str(path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("inventory")
    found = Fleet(base)
    try:
        for name in ("alb1", "alb2", "alb3"):
            found.servers[name] = start_server(base / name)
        hello = image(found.servers["alb1"], "hello.hvt")
        alb1 = client_for(found.servers["alb1"])
        alb1.unikernel_create("web", UnikernelConfig(cpuids=(0,), memory=32, argv=("--hello={{ 7 * 7 }}",)), hello)
        alb1.install_policy("alice", Policy(unikernels=2, cpuids=(0,), memory=128, block=None, bridges=()))
        client_for(found.servers["alb1"], path="alice").unikernel_create("api", UnikernelConfig(cpuids=(0,), memory=64), hello)
        client_for(found.servers["alb2"]).unikernel_create("db", UnikernelConfig(cpuids=(0,), memory=64), hello)
        found.servers["alb3"].stop()
        yield found
    finally:
        for info in found.servers.values():
            info.stop()


def plain(value: Any) -> Any:
    """The JSON of ansible-inventory without the {"__ansible_unsafe": ...} wrappers of untrusted strings."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def inventory_list(path: str, *extra: str, env: dict[str, str] | None = None, raw: bool = False) -> tuple[dict[str, Any], str]:
    proc = run_ansible("ansible-inventory", "-i", path, "--list", *extra, env=env)
    data = json.loads(proc.stdout)
    return (data if raw else plain(data)), proc.stderr


def members(data: dict[str, Any], group: str) -> list[str]:
    return sorted(data.get(group, {}).get("hosts", []))


def test_list_with_one_server_down(fleet):
    data, stderr = inventory_list(fleet.write("fleet.albatross.yml"))
    assert members(data, "albatross_servers") == ["alb1", "alb2", "alb3"]
    assert members(data, "albatross_unikernels") == ["alb1_alice_api", "alb1_web", "alb2_db"]
    assert members(data, "albatross_server_alb1") == ["alb1_alice_api", "alb1_web"]
    assert members(data, "albatross_server_alb2") == ["alb2_db"]
    # The stopped server is reported, not hidden, and hides nothing else.
    assert "alb3" in stderr and fleet.servers["alb3"].address in stderr and "did not answer" in stderr
    hostvars = data["_meta"]["hostvars"]
    assert hostvars["alb3"]["albatross_reachable"] is False and hostvars["alb3"]["albatross_error"]
    assert hostvars["alb1"]["ansible_host"] == fleet.servers["alb1"].host
    web = hostvars["alb1_web"]
    assert web["albatross_name"] == ":web"
    assert web["albatross_memory"] == 32
    assert web["albatross_arguments"] == ["--hello={{ 7 * 7 }}"]
    # Remote values stay unsafe in the output: a consumer of the JSON never templates them.
    raw, _stderr = inventory_list(fleet.write("fleet.albatross.yml"), raw=True)
    assert raw["_meta"]["hostvars"]["alb1_web"]["albatross_arguments"] == [{"__ansible_unsafe": "--hello={{ 7 * 7 }}"}]
    assert len(web["albatross_digest"]) == 64
    assert web["albatross_server"] == fleet.servers["alb1"].address
    assert web["albatross_server_ca"] == str(fleet.servers["alb1"].server_ca)
    assert web["albatross_server_inventory_hostname"] == "alb1"
    assert web["ansible_connection"] == "local"
    assert web["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    api = hostvars["alb1_alice_api"]
    assert (api["albatross_name"], api["albatross_path"], api["albatross_label"]) == ("alice:api", "alice", "api")
    assert api["albatross_relative_path"] == "alice"
    for host_vars in hostvars.values():
        assert not any("KEY" in str(value) for value in host_vars.values())


def test_graph_and_keyed_groups_by_memory_and_server(fleet):
    keyed = [
        {"key": "albatross_memory | string", "prefix": "memory"},
        {"key": "albatross_server_inventory_hostname", "prefix": "server"},
    ]
    path = fleet.write("keyed.albatross.yml", keyed_groups=keyed)
    data, _stderr = inventory_list(path)
    assert members(data, "memory_32") == ["alb1_web"]
    assert members(data, "memory_64") == ["alb1_alice_api", "alb2_db"]
    assert members(data, "server_alb1") == ["alb1", "alb1_alice_api", "alb1_web"]
    assert members(data, "server_alb3") == ["alb3"]
    graph = run_ansible("ansible-inventory", "-i", path, "--graph").stdout
    assert "|--@memory_64:" in graph and "|--@albatross_server_alb2:" in graph
    assert "|--@albatross_server_alb2:\n  |  |--alb2_db\n" in graph


def test_on_unreachable_fail(fleet):
    # AWX sets ANSIBLE_INVENTORY_UNPARSED_FAILED, so a failing source fails the inventory update.
    proc = run_ansible("ansible-inventory", "-i", fleet.write("strict.albatross.yml", on_unreachable="fail"), "--list",
                       env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "albatross servers did not answer" in output and "alb3" in output
    assert "alb1_web" not in proc.stdout


def test_silent_server_times_out_without_delaying_the_others(fleet):
    with socket.socket() as silent:
        # Accepts TCP connections (backlog) but never speaks TLS.
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        entry = dict(fleet.entry("alb2"), name="silent", server="127.0.0.1:%d" % silent.getsockname()[1], timeout=1)
        path = fleet.write("silent.albatross.yml", servers=[fleet.entry("alb1"), entry])
        started = time.monotonic()
        data, stderr = inventory_list(path)
        elapsed = time.monotonic() - started
    assert members(data, "albatross_unikernels") == ["alb1_alice_api", "alb1_web"]
    assert "silent" in stderr and "timed out" in stderr
    assert data["_meta"]["hostvars"]["silent"]["albatross_reachable"] is False
    assert elapsed < 30


def test_cache_and_flush_cache(fleet):
    cache_dir = fleet.tmp_path / "cache"
    path = fleet.write(
        "cached.albatross.yml", servers=[fleet.entry("alb2")], cache=True, cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(cache_dir), cache_timeout=600, keyed_groups=[{"key": "albatross_label", "prefix": "label"}],
    )
    data, _stderr = inventory_list(path)
    assert members(data, "albatross_unikernels") == ["alb2_db"]
    (cache_file,) = list(cache_dir.iterdir())
    cached = json.loads(cache_file.read_text())
    if "__payload__" in cached:  # ansible-core 2.19 and later wrap the entry
        cached = json.loads(cached["__payload__"])
    assert [u["name"] for u in cached["servers"]["alb2"]["unikernels"]] == [":db"]

    client = client_for(fleet.servers["alb2"])
    client.unikernel_create("cache", UnikernelConfig(cpuids=(0,), memory=32), image(fleet.servers["alb1"], "hello.hvt"))
    try:
        data, _stderr = inventory_list(path)
        assert members(data, "albatross_unikernels") == ["alb2_db"], "the cached reply is used"
        assert members(data, "label_db") == ["alb2_db"]
        data, _stderr = inventory_list(path, "--flush-cache")
        assert members(data, "albatross_unikernels") == ["alb2_cache", "alb2_db"]
        assert members(data, "label_cache") == ["alb2_cache"]
    finally:
        client.unikernel_destroy("cache")


def test_templated_credentials_from_vault_and_env(fleet):
    info = fleet.servers["alb2"]
    password = fleet.tmp_path / "vault-pass"
    password.write_text("inventory-test\n")
    with open(info.client_key, encoding="ascii") as key:
        encrypted = run_ansible("ansible-vault", "encrypt_string", "--vault-password-file", str(password),
                                "--stdin-name", "client_key_content", stdin=key.read()).stdout
    path = fleet.tmp_path / "vault.albatross.yml"
    path.write_text(
        "plugin: unikernels.albatross.albatross\n"
        "servers:\n"
        "  - name: \"{{ 'alb' ~ 2 }}\"\n"
        f"    server: \"{{{{ lookup('ansible.builtin.env', 'INV_TEST_SERVER') }}}}\"\n"
        f"    server_ca: \"{{{{ lookup('ansible.builtin.env', 'INV_TEST_DIR') }}}}/{os.path.basename(str(info.server_ca))}\"\n"
        "    client_cert: \"{{ lookup('ansible.builtin.env', 'INV_TEST_CERT') }}\"\n"
        + "\n".join("    " + line for line in encrypted.strip().splitlines()) + "\n"
    )
    env = {"INV_TEST_SERVER": info.address, "INV_TEST_DIR": os.path.dirname(str(info.server_ca)),
           "INV_TEST_CERT": str(info.client_cert)}
    data, stderr = inventory_list(str(path), "--vault-password-file", str(password), env=env)
    assert members(data, "albatross_unikernels") == ["alb2_db"], stderr
    assert "PRIVATE KEY" not in json.dumps(data)

    # The whole server list from a lookup (for example a file an AWX project keeps next to the inventory).
    listed = fleet.tmp_path / "list.albatross.yml"
    listed.write_text("plugin: unikernels.albatross.albatross\n"
                      "servers: \"{{ lookup('ansible.builtin.env', 'INV_TEST_SERVERS') | from_json }}\"\n")
    servers = json.dumps([fleet.entry("alb1"), fleet.entry("alb2")])
    data, stderr = inventory_list(str(listed), env={"INV_TEST_SERVERS": servers})
    assert members(data, "albatross_unikernels") == ["alb1_alice_api", "alb1_web", "alb2_db"], stderr


def test_single_server_from_environment_under_a_tenant_path(fleet):
    info = fleet.servers["alb1"]
    path = fleet.tmp_path / "env.albatross.yml"
    path.write_text("plugin: unikernels.albatross.albatross\n")
    env = dict(info.env(), ALBATROSS_PATH="alice")
    data, _stderr = inventory_list(str(path), env=env)
    assert members(data, "albatross_servers") == [info.host]
    # Only the tenant's unikernels: the root's :web is not under alice.
    assert members(data, "albatross_unikernels") == [f"{info.host}_alice_api"]
    api = data["_meta"]["hostvars"][f"{info.host}_alice_api"]
    assert (api["albatross_path"], api["albatross_relative_path"]) == ("alice", "alice")


def test_unikernel_hosts_run_tasks_on_the_controller(fleet):
    """ansible_connection=local and the controller's Python: a task on a unikernel host reaches its server."""
    path = fleet.write("play.albatross.yml", servers=[fleet.entry("alb1")])
    playbook = fleet.tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "albatross_unikernels",
        "gather_facts": False,
        "tasks": [
            {"ansible.builtin.ping": {}},
            {"name": "look the unikernel up through its own server",
             "unikernels.albatross.unikernel_info": {
                 "server": "{{ albatross_server }}", "server_ca": "{{ albatross_server_ca }}",
                 "client_cert": "{{ albatross_client_cert }}", "client_key": "{{ albatross_client_key }}",
                 "path": "{{ albatross_relative_path | default(omit, true) }}", "name": "{{ albatross_label }}"},
             "register": "found"},
            {"ansible.builtin.assert": {"that": ["found.unikernels | map(attribute='name') | list == [albatross_name]"]}},
        ],
    }]))
    proc = run_ansible("ansible-playbook", "-i", path, str(playbook), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alb1_web" in proc.stdout and "alb1_alice_api" in proc.stdout
