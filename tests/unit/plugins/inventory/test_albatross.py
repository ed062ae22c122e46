# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The albatross inventory plugin against fake server replies and a real InventoryData."""

from __future__ import annotations

import datetime
import threading
import time
import typing as t

import pytest
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template, trust_as_template

from ansible_collections.unikernels.albatross.plugins.inventory import albatross as plugin_module
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossTimeout,
    AuthenticationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDeviceInfo,
    FailBehaviour,
    NetworkInterfaceInfo,
    UnikernelInfo,
)

NAME = "unikernels.albatross.albatross"
# The option defaults of the plugin's documentation (with its fragments).
DEFAULTS: dict[str, t.Any] = {
    "servers": [], "max_workers": 4, "on_unreachable": "warn", "compose": {}, "groups": {}, "keyed_groups": [],
    "strict": False, "use_extra_vars": False, "leading_separator": True, "cache": False, "cache_plugin": "memory",
    "cache_timeout": 3600, "cache_connection": None, "cache_prefix": "ansible_inventory_", "key_type": "ed25519",
    "timeout": 30.0, "server": None, "server_ca": None, "server_ca_content": None, "server_name": None,
    "client_cert": None, "client_cert_content": None, "client_key": None, "client_key_content": None,
    "client_key_passphrase": None, "path": None,
}
STARTED = datetime.datetime(2026, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
CREDS = {"server_ca": "/ca.pem", "client_cert": "/cert.pem", "client_key": "/key.pem"}


def web(name: str = "alice:web", memory: int = 64, argv: tuple[str, ...] | None = ("--ipv4=10.0.0.2/24",)) -> UnikernelInfo:
    return UnikernelInfo(
        name=name, memory=memory, cpuids=(0, 1), digest=bytes(range(32)), argv=argv, started=STARTED, cpus=1,
        fail_behaviour=FailBehaviour(True, (1, 3)),
        block_devices=(BlockDeviceInfo("storage", "web-data", 512, 10),),
        network_interfaces=(NetworkInterfaceInfo("service", "br0", "00:80:41:aa:bb:cc"),),
    )


class FakeSigner:
    def __init__(self, path: tuple[str, ...] = ()) -> None:
        self.path = path


class FakeClient:
    """Answers ``unikernel info`` from a table keyed by server address; counts the calls."""

    def __init__(self, table: dict[str, t.Any], calls: list[str], settings: t.Any) -> None:
        self.table, self.calls, self.settings = table, calls, settings

    def unikernel_info(self, name: str | None = None) -> list[UnikernelInfo]:
        self.calls.append(self.settings.server)
        reply = self.table[self.settings.server]
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply()
        return list(reply)


class FakeCache(dict):
    """The part of CachePluginAdjudicator the plugin uses."""


@pytest.fixture
def fleet(monkeypatch, tmp_path):
    """run(options, table) -> (plugin, inventory, calls); warnings collected in plugin.warnings."""
    calls: list[str] = []
    signer_paths: dict[str, tuple[str, ...]] = {}

    def run(options: dict[str, t.Any], table: dict[str, t.Any], cache: FakeCache | None = None, use_cache: bool = True,
            pem: t.Callable[..., bytes] | None = None):
        monkeypatch.setattr(plugin_module, "load_signer", lambda settings, memo=None: FakeSigner(signer_paths.get(settings.server, ())))
        monkeypatch.setattr(plugin_module, "open_client", lambda settings, signer, server_ca: FakeClient(table, calls, settings))
        monkeypatch.setattr(plugin_module.ServerSettings, "pem", pem or (lambda self, option: b"PEM of " + option.encode()))
        plugin = plugin_module.InventoryModule()
        plugin.warnings = []
        monkeypatch.setattr(plugin.display, "warning", lambda msg, *a, **k: plugin.warnings.append(msg))
        # What DataLoader.load_from_file(trusted_as_template=True) gives: trusted strings.
        config = {"plugin": NAME, **{key: _trusted(value) for key, value in options.items()}}

        def read_config(path):
            plugin._options = dict(DEFAULTS, **config)
            if cache is not None:
                plugin._cache = cache
            return config

        monkeypatch.setattr(plugin, "_read_config_data", read_config)
        monkeypatch.setattr(plugin, "get_cache_key", lambda path: "albatross_k123456")
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(tmp_path / "fleet.albatross.yml"), cache=use_cache)
        return plugin, inventory, calls

    run.signer_paths = signer_paths
    return run


def _trusted(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


def two_servers(**extra: t.Any) -> dict[str, t.Any]:
    return dict(CREDS, servers=[{"name": "alb1", "server": "127.0.0.1:1025"}, {"name": "alb2", "server": "[::1]:1026"}], **extra)


def hostvars(inventory: InventoryData, host: str) -> dict[str, t.Any]:
    """Group variables, then host variables: what a task on the host sees from the inventory."""
    entry = inventory.get_host(host)
    result: dict[str, t.Any] = {}
    for group in sorted(entry.get_groups(), key=lambda group: (group.depth, group.priority, group.name)):
        result.update(group.get_vars())
    result.update(entry.get_vars())
    return result


def group_hosts(inventory: InventoryData, group: str) -> list[str]:
    return sorted(host.name for host in inventory.groups[group].get_hosts())


# --- hosts, groups and variables ---------------------------------------------------------


def test_hosts_groups_and_vars(fleet):
    table = {"127.0.0.1:1025": [web(), web(":solo", memory=32, argv=None)], "[::1]:1026": [web("bob:db", memory=128)]}
    _plugin, inventory, calls = fleet(two_servers(), table)
    assert sorted(calls) == sorted(table)
    assert group_hosts(inventory, "albatross_servers") == ["alb1", "alb2"]
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_alice_web", "alb1_solo", "alb2_bob_db"]
    assert group_hosts(inventory, "albatross_server_alb1") == ["alb1_alice_web", "alb1_solo"]
    assert group_hosts(inventory, "albatross_server_alb2") == ["alb2_bob_db"]

    server = hostvars(inventory, "alb2")
    assert server["ansible_host"] == "::1"
    assert server["albatross_server"] == "[::1]:1026"
    assert server["albatross_reachable"] is True
    assert "albatross_error" not in server

    vars_ = hostvars(inventory, "alb1_alice_web")
    assert vars_["albatross_name"] == "alice:web"
    assert vars_["albatross_label"] == "web"
    assert vars_["albatross_path"] == "alice"
    assert vars_["albatross_relative_path"] == "alice"
    assert vars_["albatross_server"] == "127.0.0.1:1025"
    assert vars_["albatross_server_ca"] == "/ca.pem"
    assert vars_["albatross_client_cert"] == "/cert.pem"
    assert vars_["albatross_server_inventory_hostname"] == "alb1"
    assert vars_["albatross_key_type"] == "ed25519"
    assert vars_["albatross_timeout"] == 30.0
    assert vars_["albatross_memory"] == 64
    assert vars_["albatross_cpuids"] == [0, 1]
    assert vars_["albatross_digest"] == bytes(range(32)).hex()
    assert vars_["albatross_arguments"] == ["--ipv4=10.0.0.2/24"]
    assert vars_["albatross_started"] == "2026-05-01T12:30:00Z"
    assert vars_["albatross_fail_behaviour"] == "restart"
    assert vars_["albatross_restart_exit_codes"] == [1, 3]
    assert vars_["albatross_block_devices"] == [{"name": "storage", "host_device": "web-data", "sector_size": 512, "size": 10}]
    assert vars_["albatross_network_interfaces"] == [{"name": "service", "bridge": "br0", "mac": "00:80:41:aa:bb:cc"}]
    assert vars_["albatross_typ"] == "solo5"
    assert "ansible_host" not in vars_

    root = hostvars(inventory, "alb1_solo")
    assert (root["albatross_name"], root["albatross_path"], root["albatross_label"]) == (":solo", "", "solo")
    assert root["albatross_arguments"] == []


def test_connection_settings_are_set_once_per_server_group(fleet):
    _plugin, inventory, _calls = fleet(two_servers(), {"127.0.0.1:1025": [web(), web(":x")], "[::1]:1026": []})
    group_vars = inventory.groups["albatross_server_alb1"].get_vars()
    assert group_vars["albatross_server"] == "127.0.0.1:1025"
    assert group_vars["albatross_server_inventory_hostname"] == "alb1"
    assert "albatross_server" not in inventory.get_host("alb1_x").get_vars()
    # The server host is not in its unikernels' group, so it carries the settings itself.
    assert inventory.get_host("alb1").get_vars()["albatross_server"] == "127.0.0.1:1025"


def test_server_names_that_share_a_group_are_an_error(fleet):
    options = dict(CREDS, servers=[{"name": "alb-1", "server": "127.0.0.1:1025"}, {"name": "alb.1", "server": "127.0.0.1:1026"}])
    with pytest.raises(AnsibleError, match="alb-1 and alb.1 would share the group albatross_server_alb_1"):
        fleet(options, {"127.0.0.1:1025": [], "127.0.0.1:1026": []})


def test_unikernels_are_reached_locally_with_the_controller_python(fleet):
    _plugin, inventory, _calls = fleet(two_servers(), {"127.0.0.1:1025": [web()], "[::1]:1026": []})
    group_vars = inventory.groups["albatross_unikernels"].get_vars()
    assert group_vars["ansible_connection"] == "local"
    assert group_vars["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    # Rendered at run time on the controller, so it must stay a trusted template.
    assert is_trusted_as_template(group_vars["ansible_python_interpreter"])
    assert "ansible_connection" not in inventory.groups["albatross_servers"].get_vars()


def test_no_key_material_in_hostvars(fleet):
    options = {
        "server_ca_content": "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
        "client_cert_content": "CERT PEM", "client_key_content": "KEY PEM", "client_key_passphrase": "hunter2",
        "servers": [{"name": "alb1", "server": "alb1.example.org"}],
    }
    _plugin, inventory, _calls = fleet(options, {"alb1.example.org": [web()]})
    for host in ("alb1", "alb1_alice_web"):
        text = repr(hostvars(inventory, host))
        assert "KEY PEM" not in text and "hunter2" not in text and "CERT PEM" not in text
        assert hostvars(inventory, host)["albatross_server_ca_content"].startswith("-----BEGIN CERTIFICATE")
        assert "albatross_client_key" not in hostvars(inventory, host)
    assert hostvars(inventory, "alb1")["ansible_host"] == "alb1.example.org"


def test_relative_path_below_delegated_credentials(fleet):
    fleet.signer_paths["127.0.0.1:1025"] = ("alice",)
    _plugin, inventory, _calls = fleet(
        dict(CREDS, servers=[{"name": "alb1", "server": "127.0.0.1:1025"}]),
        {"127.0.0.1:1025": [web("alice:web"), web("alice:team:db")]},
    )
    assert hostvars(inventory, "alb1_alice_web")["albatross_relative_path"] == ""
    assert hostvars(inventory, "alb1_alice_team_db")["albatross_relative_path"] == "team"
    assert hostvars(inventory, "alb1_alice_team_db")["albatross_path"] == "alice:team"


def test_remote_values_are_unsafe(fleet):
    evil = web(":evil", argv=("{{ lookup('pipe', 'id') }}",))
    _plugin, inventory, _calls = fleet(two_servers(), {"127.0.0.1:1025": [evil], "[::1]:1026": []})
    value = hostvars(inventory, "alb1_evil")["albatross_arguments"][0]
    assert value == "{{ lookup('pipe', 'id') }}"
    assert not is_trusted_as_template(value)


def test_config_values_are_not_trusted_in_hostvars(fleet):
    options = dict(CREDS, servers=[{"name": "alb1", "server": "127.0.0.1:1025", "server_name": "{{ '{{' }} x }}"}])
    _plugin, inventory, _calls = fleet(options, {"127.0.0.1:1025": []})
    # Rendered once while reading the configuration, then kept as plain data.
    assert hostvars(inventory, "alb1")["albatross_server_name"] == "{{ x }}"
    assert not is_trusted_as_template(hostvars(inventory, "alb1")["albatross_server_name"])


def test_single_server_from_top_level_options(fleet):
    _plugin, inventory, _calls = fleet(dict(CREDS, server="alb.example.org:1030"), {"alb.example.org:1030": [web(":web")]})
    assert group_hosts(inventory, "albatross_servers") == ["alb.example.org"]
    assert group_hosts(inventory, "albatross_unikernels") == ["alb.example.org_web"]
    assert hostvars(inventory, "alb.example.org")["ansible_host"] == "alb.example.org"


def test_options_are_templated(fleet, monkeypatch):
    monkeypatch.setenv("ALB_TEST_DIR", "/srv/pki")
    options = {
        "server_ca": "{{ lookup('env', 'ALB_TEST_DIR') }}/ca.pem",
        "client_cert": "/cert.pem", "client_key": "/key.pem",
        "servers": [{"name": "{{ 'alb' ~ 1 }}", "server": "{{ '127.0.0.1' }}:1025", "timeout": "{{ 5 }}"}],
    }
    _plugin, inventory, _calls = fleet(options, {"127.0.0.1:1025": []})
    server = hostvars(inventory, "alb1")
    assert server["albatross_server_ca"] == "/srv/pki/ca.pem"
    assert server["albatross_timeout"] == 5.0


def test_server_list_from_a_template(fleet):
    options = dict(CREDS, servers="{{ [{'name': 'alb1', 'server': '127.0.0.1:1025'}, {'name': 'alb2', 'server': '127.0.0.1:1026'}] }}")
    _plugin, inventory, calls = fleet(options, {"127.0.0.1:1025": [web()], "127.0.0.1:1026": []})
    assert sorted(calls) == ["127.0.0.1:1025", "127.0.0.1:1026"]
    assert group_hosts(inventory, "albatross_servers") == ["alb1", "alb2"]


@pytest.mark.parametrize("servers, message", [
    ("{{ ['alb1', 'alb2'] }}", r"servers\[0\]: expected a dictionary"),
    ("{{ {'name': 'alb1'} }}", "servers must be a list of dictionaries, got dict"),
])
def test_templated_server_list_must_be_a_list_of_dicts(fleet, servers, message):
    with pytest.raises(AnsibleError, match=message):
        fleet(dict(CREDS, servers=servers), {})


def test_compose_groups_and_keyed_groups(fleet):
    options = two_servers(
        compose={"albatross_big": "albatross_memory | default(0) >= 100"},
        groups={"tenant_alice": "albatross_path | default('') == 'alice'"},
        keyed_groups=[
            {"key": "albatross_memory | string", "prefix": "memory"},
            {"key": "albatross_server_inventory_hostname", "prefix": "on"},
        ],
    )
    table = {"127.0.0.1:1025": [web(), web(":x", memory=32)], "[::1]:1026": [web("bob:db", memory=128)]}
    _plugin, inventory, _calls = fleet(options, table)
    assert group_hosts(inventory, "memory_64") == ["alb1_alice_web"]
    assert group_hosts(inventory, "memory_128") == ["alb2_bob_db"]
    assert group_hosts(inventory, "on_alb1") == ["alb1", "alb1_alice_web", "alb1_x"]
    assert group_hosts(inventory, "tenant_alice") == ["alb1_alice_web"]
    assert hostvars(inventory, "alb2_bob_db")["albatross_big"] is True
    assert hostvars(inventory, "alb1_x")["albatross_big"] is False


def test_strict_keyed_groups_fail_on_missing_variable(fleet):
    options = two_servers(strict=True, keyed_groups=[{"key": "albatross_memory | string", "prefix": "memory"}])
    with pytest.raises(AnsibleError):
        fleet(options, {"127.0.0.1:1025": [web()], "[::1]:1026": []})


def test_hostname_clash_between_servers_is_an_error(fleet):
    options = dict(CREDS, servers=[{"name": "a", "server": "127.0.0.1:1025"}, {"name": "a_b", "server": "127.0.0.1:1026"}])
    with pytest.raises(AnsibleError, match="host a_b_c, .*rename a server"):
        fleet(options, {"127.0.0.1:1025": [web("b:c")], "127.0.0.1:1026": [web(":c")]})


# --- unreachable servers -------------------------------------------------------------


def unreachable_table() -> dict[str, t.Any]:
    return {
        "127.0.0.1:1025": [web()],
        "[::1]:1026": AlbatrossConnectionError("connection refused"),
    }


def test_unreachable_server_warns_and_keeps_the_others(fleet):
    plugin, inventory, _calls = fleet(two_servers(), unreachable_table())
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_alice_web"]
    assert group_hosts(inventory, "albatross_server_alb2") == []
    assert len(plugin.warnings) == 1
    assert "alb2 ([::1]:1026)" in plugin.warnings[0] and "connection refused" in plugin.warnings[0]
    server = hostvars(inventory, "alb2")
    assert server["albatross_reachable"] is False
    assert "connection refused" in server["albatross_error"]


@pytest.mark.parametrize("error, text", [
    (AlbatrossTimeout("read timed out"), "read timed out"),
    (AlbatrossTimeout(""), "no answer within 30 s"),
    (AuthenticationError("server closed the connection"), "authentication failed"),
    (RuntimeError("boom"), "RuntimeError: boom"),
])
def test_every_failure_is_reported(fleet, error, text):
    table = unreachable_table()
    table["[::1]:1026"] = error
    plugin, inventory, _calls = fleet(two_servers(), table)
    assert text in plugin.warnings[0]
    assert "alb1_alice_web" in inventory.hosts


def test_unreachable_server_fails_with_on_unreachable_fail(fleet):
    table = unreachable_table()
    table["127.0.0.1:1025"] = AlbatrossTimeout("timed out")
    with pytest.raises(AnsibleError) as exc:
        fleet(two_servers(on_unreachable="fail"), table)
    # Every server that did not answer is named, not only the first.
    assert "alb1 (127.0.0.1:1025)" in str(exc.value) and "alb2 ([::1]:1026)" in str(exc.value)


def test_servers_are_asked_in_parallel_with_bounded_workers(fleet):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow():
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return [web(":web")]

    servers = [{"name": f"alb{i}", "server": f"127.0.0.1:{2000 + i}"} for i in range(6)]
    table = {entry["server"]: slow for entry in servers}
    _plugin, inventory, calls = fleet(dict(CREDS, servers=servers, max_workers=3), table)
    assert len(calls) == 6 and state["max"] == 3
    assert len(group_hosts(inventory, "albatross_unikernels")) == 6
    state["max"] = 0
    fleet(dict(CREDS, servers=servers, max_workers=1), table)
    assert state["max"] == 1


def test_hosts_are_added_while_later_servers_are_asked(fleet, monkeypatch):
    first_added = threading.Event()
    seen = []
    add_host = InventoryData.add_host

    def watching_add_host(self, host, group=None, port=None):
        if host == "alb1_web":
            first_added.set()
        return add_host(self, host, group=group, port=port)

    def second():
        # Bounded wait: the first server's hosts appear while this server is still answering.
        seen.append(first_added.wait(10))
        return [web(":db")]

    monkeypatch.setattr(InventoryData, "add_host", watching_add_host)
    _plugin, inventory, _calls = fleet(two_servers(), {"127.0.0.1:1025": [web(":web")], "[::1]:1026": second})
    assert seen == [True]
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_web", "alb2_db"]


def test_on_unreachable_fail_adds_no_host(fleet, monkeypatch):
    added = []
    monkeypatch.setattr(InventoryData, "add_host", lambda self, host, group=None, port=None: added.append(host))
    with pytest.raises(AnsibleError, match="alb2"):
        fleet(two_servers(on_unreachable="fail"), unreachable_table())
    assert added == []


def test_replies_are_cached_even_when_building_fails(fleet):
    cache = FakeCache()
    options = dict(CREDS, cache=True, servers=[{"name": "a", "server": "127.0.0.1:1025"}, {"name": "a_b", "server": "127.0.0.1:1026"}])
    with pytest.raises(AnsibleError, match="host a_b_c, .*rename a server"):
        fleet(options, {"127.0.0.1:1025": [web("b:c")], "127.0.0.1:1026": [web(":c")]}, cache=cache)
    assert set(cache["albatross_k123456"]["servers"]) == {"a", "a_b"}


def test_unreadable_credentials_fail_before_any_server_is_asked(fleet):
    def pem(settings, option):
        if settings.name == "alb2" and option == "server_ca":
            raise AnsibleError("albatross server alb2: cannot read server_ca '/ca.pem': No such file or directory")
        return b"PEM"

    calls: list[str] = []
    with pytest.raises(AnsibleError, match="alb2: cannot read server_ca"):
        _plugin, _inventory, calls = fleet(two_servers(), {"127.0.0.1:1025": [web()], "[::1]:1026": []}, pem=pem)
    assert calls == []


def test_max_workers_must_be_positive(fleet):
    with pytest.raises(AnsibleError, match="max_workers"):
        fleet(two_servers(max_workers=0), {})


# --- cache ---------------------------------------------------------------------------


def test_cache_holds_raw_replies_and_is_used(fleet):
    cache = FakeCache()
    table = {"127.0.0.1:1025": [web()], "[::1]:1026": [web("bob:db")]}
    _plugin, _inventory, calls = fleet(two_servers(cache=True), table, cache=cache)
    assert len(calls) == 2
    entry = cache["albatross_k123456"]
    assert entry["format"] == plugin_module.CACHE_FORMAT
    assert entry["servers"]["alb1"]["unikernels"][0]["name"] == "alice:web"
    assert entry["servers"]["alb1"]["unikernels"][0]["digest"] == bytes(range(32)).hex()

    # Second run: nothing asked, same hosts; compose and keyed_groups are evaluated again.
    calls.clear()
    options = two_servers(cache=True, keyed_groups=[{"key": "albatross_path", "prefix": "tenant"}])
    _plugin, inventory, calls = fleet(options, {}, cache=cache)
    assert calls == []
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_alice_web", "alb2_bob_db"]
    assert group_hosts(inventory, "tenant_bob") == ["alb2_bob_db"]


def test_flush_cache_asks_again_and_rewrites(fleet):
    cache = FakeCache()
    fleet(two_servers(cache=True), {"127.0.0.1:1025": [web()], "[::1]:1026": []}, cache=cache)
    _plugin, inventory, calls = fleet(
        two_servers(cache=True), {"127.0.0.1:1025": [web(":new")], "[::1]:1026": []}, cache=cache, use_cache=False
    )
    assert len(calls) == 4
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_new"]
    assert [u["name"] for u in cache["albatross_k123456"]["servers"]["alb1"]["unikernels"]] == [":new"]


def test_unreachable_server_is_not_cached_and_asked_again(fleet):
    cache = FakeCache()
    plugin, _inventory, calls = fleet(two_servers(cache=True), unreachable_table(), cache=cache)
    assert set(cache["albatross_k123456"]["servers"]) == {"alb1"}
    calls.clear()
    plugin, inventory, calls = fleet(two_servers(cache=True), {"[::1]:1026": [web("bob:db")]}, cache=cache)
    assert calls == ["[::1]:1026"]
    assert group_hosts(inventory, "albatross_unikernels") == ["alb1_alice_web", "alb2_bob_db"]
    assert set(cache["albatross_k123456"]["servers"]) == {"alb1", "alb2"}


def test_cached_reply_of_another_address_or_an_expired_one_is_not_used(fleet):
    cache = FakeCache()
    fleet(two_servers(cache=True), {"127.0.0.1:1025": [web()], "[::1]:1026": []}, cache=cache)
    moved = dict(CREDS, cache=True, servers=[{"name": "alb1", "server": "127.0.0.1:1099"}])
    _plugin, _inventory, calls = fleet(moved, {"127.0.0.1:1099": []}, cache=cache)
    assert calls[-1] == "127.0.0.1:1099"
    cache["albatross_k123456"]["servers"]["alb1"]["fetched"] -= 7200
    calls.clear()
    _plugin, _inventory, calls = fleet(dict(moved, cache_timeout=3600), {"127.0.0.1:1099": []}, cache=cache)
    assert calls == ["127.0.0.1:1099"]


def test_cache_entry_of_an_old_format_is_ignored(fleet):
    cache = FakeCache({"albatross_k123456": {"format": 0, "servers": {"alb1": {}}}})
    _plugin, _inventory, calls = fleet(two_servers(cache=True), {"127.0.0.1:1025": [], "[::1]:1026": []}, cache=cache)
    assert len(calls) == 2
    assert cache["albatross_k123456"]["format"] == plugin_module.CACHE_FORMAT


def test_cache_off_neither_reads_nor_writes(fleet):
    cache = FakeCache()
    fleet(two_servers(), {"127.0.0.1:1025": [web()], "[::1]:1026": []}, cache=cache)
    assert cache == {}


# --- verify_file -----------------------------------------------------------------------


@pytest.mark.parametrize("name, ok", [
    ("fleet.albatross.yml", True), ("albatross.yaml", True), ("fleet.yml", False), ("albatross.json", False),
])
def test_verify_file(tmp_path, monkeypatch, name, ok):
    path = tmp_path / name
    path.write_text("plugin: unikernels.albatross.albatross\n")
    plugin = plugin_module.InventoryModule()
    messages: list[str] = []
    monkeypatch.setattr(plugin.display, "vvv", lambda msg, *a, **k: messages.append(msg))
    assert plugin.verify_file(str(path)) is ok
    if not ok:
        assert "albatross.yml or albatross.yaml" in messages[0]


def test_hostname_scheme():
    assert plugin_module.unikernel_hostname("alb1", "alice:web") == "alb1_alice_web"
    assert plugin_module.unikernel_hostname("alb1", ":web") == "alb1_web"
    assert plugin_module.unikernel_hostname("alb1", "a:b:web") == "alb1_a_b_web"
    assert plugin_module.split_name("a:b:web") == (("a", "b"), "web")
