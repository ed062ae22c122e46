# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inventory of albatross servers and the unikernels they run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: albatross
short_description: Albatross servers and their unikernels
version_added: 1.0.0
author:
  - unikernels.albatross contributors (@unikernels)
description:
  - Asks every configured albatross server for the unikernels under the path of its credentials
    (C(unikernel info); every tenant when the credentials are the root CA) and builds one inventory of the whole fleet.
  - Servers are asked in parallel (O(max_workers)), each with its own O(timeout). A server that does not answer
    is reported (O(on_unreachable)) and never hides the others.
  - "One host per server, named after the C(name) of its O(servers) entry, in the group C(albatross_servers).
    Its C(ansible_host) is the host part of the server address, so roles and modules that work over SSH reach the albatross host."
  - "One host per unikernel, named C(<server name>_<path>_<label>): the full albatross name with C(:) replaced by C(_),
    for example C(alb1_alice_web) for C(alice:web) on server C(alb1), and C(alb1_web) for C(:web).
    Labels cannot contain C(_), so these names are unique on a server; a clash between servers is an error."
  - Unikernel hosts are in the groups C(albatross_unikernels) and C(albatross_server_<server name>) (characters other than
    letters, digits and C(_) in the server name become C(_)). The group C(albatross_unikernels) sets C(ansible_connection=local)
    and the controller's Python as interpreter, because unikernels are managed through the albatross API, never over SSH.
  - Host variables are prefixed with C(albatross_) (see the notes). Everything a server reports is marked unsafe, so it is never templated.
  - The configuration file name must end in C(albatross.yml) or C(albatross.yaml).
  - Connection options, top-level and in O(servers), may be templates (for example C(lookup('ansible.builtin.env', ...)))
    or vault-encrypted values. Values from environment variables are used as they are.
  - With O(cache), the replies of the servers are cached (per server, under the standard cache key); O(compose), O(groups)
    and O(keyed_groups) are evaluated again on every run. C(--flush-cache) asks every server again. A server that did not
    answer is never cached, so it is asked again on the next run.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
extends_documentation_fragment:
  - unikernels.albatross.connection.plugins
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; it must be V(unikernels.albatross.albatross) for the file to be used.
    type: str
    required: true
    choices: [unikernels.albatross.albatross]
  servers:
    description:
      - The albatross servers. Each entry takes the connection options of this plugin (O(server), O(server_ca) or
        O(server_ca_content), O(client_cert) or O(client_cert_content), O(client_key) or O(client_key_content),
        O(client_key_passphrase), O(key_type), O(timeout), O(path), O(server_name)) and a C(name).
      - An option left out of an entry is taken from the top-level option (or its environment variable).
        A PEM given in an entry, as file or as content, replaces both top-level variants of that PEM.
      - C(name) is the inventory host name of the server. It defaults to the host part of C(server) and must be unique.
      - Without O(servers), the top-level options (or the C(ALBATROSS_*) environment variables) describe a single server.
      - The list, or any value in it, may be a template, for example C("{{ lookup('ansible.builtin.file', 'servers.json') | from_json }}").
    type: list
    elements: dict
    default: []
  max_workers:
    description:
      - How many servers are asked at the same time. V(1) asks them one after the other.
    type: int
    default: 4
  on_unreachable:
    description:
      - What to do when a server does not answer or refuses the credentials.
      - V(warn) shows a warning with the reason and leaves out the unikernels of that server; its server host is still
        in the inventory, with C(albatross_reachable=false) and C(albatross_error).
      - V(fail) fails the inventory and names every server that did not answer, after all were asked.
    type: str
    choices: [warn, fail]
    default: warn
notes:
  - "Connection settings of a server, without secrets: C(albatross_server), C(albatross_server_ca) (or
    C(albatross_server_ca_content)), C(albatross_server_name) if set, C(albatross_client_cert) and C(albatross_client_key)
    only when given as file paths (never key material or passphrases), C(albatross_key_type), C(albatross_timeout), and
    C(albatross_server_inventory_hostname), the inventory host of the server. The server host has them as host variables,
    its unikernels get them from the group C(albatross_server_<server name>). Use them with C(module_defaults) (see the examples)."
  - "Settings taken from the C(ALBATROSS_*) environment variables are left out of the host variables: the tasks of a play
    read the same variables. An AWX credential writes its certificate and key files anew for every job and inventory update,
    so paths recorded by the inventory update would name files that are gone when a job runs."
  - "Unikernel hosts also carry C(albatross_name) (the full name, for example V(alice:web)), C(albatross_label) (V(web)),
    C(albatross_path) (the tenant path, V(alice), empty at the root), C(albatross_relative_path) (the path below the path
    of the credentials, which is what the modules take as O(unikernels.albatross.unikernel#module:path)), and what the
    server reports: C(albatross_typ), C(albatross_memory), C(albatross_cpuids), C(albatross_cpus), C(albatross_digest) (hex),
    C(albatross_arguments), C(albatross_block_devices), C(albatross_network_interfaces), C(albatross_fail_behaviour),
    C(albatross_restart_exit_codes), C(albatross_startup), C(albatross_started) (RFC 3339) and C(albatross_linux_boot_partition),
    with the keys the M(unikernels.albatross.unikernel_info) module returns."
  - Server hosts carry C(albatross_reachable) and, when the server did not answer, C(albatross_error).
  - Server hosts are also passed through O(compose), O(groups) and O(keyed_groups). They have no unikernel variables,
    so leave O(strict) off or use C(default()) in expressions about unikernels.
  - A O(keyed_groups) key must give a string; write C(albatross_memory | string) for a number.
  - With O(on_unreachable=fail) the inventory source fails; C(ansible-inventory) and C(ansible-playbook) stop only if
    C(ANSIBLE_INVENTORY_UNPARSED_FAILED) is set (AWX sets it for inventory updates).
  - Albatross does not say on which server a unikernel runs in its own replies, and Mollymawk's API does not either;
    this plugin asks each albatross server directly.
"""

EXAMPLES = r"""
# fleet.albatross.yml: two servers with one root CA credential from the environment
# (ALBATROSS_SERVER_CA, ALBATROSS_CLIENT_CERT, ALBATROSS_CLIENT_KEY)
plugin: unikernels.albatross.albatross
servers:
  - name: alb1
    server: alb1.example.org
  - name: alb2
    server: alb2.example.org:1025
    server_ca: /etc/albatross/alb2-ca.pem
keyed_groups:
  - key: albatross_memory | string
    prefix: memory
  - key: albatross_server_inventory_hostname
    prefix: runs_on
  - key: albatross_path
    prefix: tenant
    default_value: root

# tenants.albatross.yml: credentials from vault and lookups, cached for 10 minutes
plugin: unikernels.albatross.albatross
client_cert: "{{ lookup('ansible.builtin.env', 'HOME') }}/.albatross/operator.pem"
client_key_content: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  ...
server_ca: /etc/albatross/ca.pem
servers:
  - server: 192.0.2.10
  - server: "[2001:db8::10]:1025"
    name: alb-v6
    path: alice
max_workers: 8
timeout: 10
on_unreachable: fail
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/cache/ansible/albatross
cache_timeout: 600
compose:
  albatross_url: "'https://' ~ albatross_label ~ '.example.org'"
groups:
  big: albatross_memory | default(0) >= 1024

# A play over the unikernels: the connection comes from the host variables
# (albatross_client_cert and albatross_client_key exist when the inventory reads the credentials from files).
# - hosts: albatross_unikernels
#   gather_facts: false
#   module_defaults:
#     group/unikernels.albatross.api:
#       server: "{{ albatross_server }}"
#       server_ca: "{{ albatross_server_ca }}"
#       client_cert: "{{ albatross_client_cert }}"
#       client_key: "{{ albatross_client_key }}"
#       path: "{{ albatross_relative_path | default(omit, true) }}"
#   tasks:
#     - unikernels.albatross.unikernel:
#         name: "{{ albatross_label }}"
#         state: restarted
"""

import contextlib
import os
import time
import traceback
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.template import trust_as_template

from ansible_collections.unikernels.albatross.plugins.module_utils._common import unikernel_to_dict
from ansible_collections.unikernels.albatross.plugins.plugin_utils._client import (
    CONNECTION_OPTIONS,
    PATH_OPTIONS,
    PUBLIC_OPTIONS,
    ServerSettings,
    describe_error,
    load_signer,
    open_client,
    resolve_servers,
)
from ansible_collections.unikernels.albatross.plugins.plugin_utils._unsafe import make_unsafe

# Bumped when the layout of a cache entry changes; older entries are then ignored.
CACHE_FORMAT = 1
SUFFIXES = ("albatross.yml", "albatross.yaml")
# The unikernels are driven through the API from the controller; discovering an
# interpreter on them would be meaningless (and on some controllers picks a broken shim).
UNIKERNEL_CONNECTION_VARS = {
    "ansible_connection": "local",
    "ansible_python_interpreter": trust_as_template("{{ ansible_playbook_python }}"),
}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Hosts for albatross servers and their unikernels."""

    NAME = "unikernels.albatross.albatross"
    # (compose, groups, keyed_groups, strict), read once per parse.
    _constructed: tuple[t.Any, ...] = ({}, {}, [], False)

    def verify_file(self, path: str) -> bool:
        if not super().verify_file(path):
            return False
        if not path.endswith(SUFFIXES):
            self.display.vvv(f"Skipping {path}: an albatross inventory file name must end in {' or '.join(SUFFIXES)}")
            return False
        return True

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache=cache)
        config = self._read_config_data(path)
        servers = self._server_settings(config)
        max_workers = self.get_option("max_workers")
        if max_workers < 1:
            raise AnsibleError(f"max_workers must be at least 1, got {max_workers}")
        use_cache = bool(self.get_option("cache"))
        cache_key = self.get_cache_key(path) if use_cache else ""
        cached = self._cached_replies(cache_key, servers) if use_cache and cache else {}
        jobs = self._jobs([settings for settings in servers if settings.name not in cached])
        fetched: dict[str, dict[str, t.Any]] = {}
        with self._asking(jobs) as answers:
            outcomes = _outcomes(servers, cached, answers, fetched)
            try:
                if self.get_option("on_unreachable") == "fail":
                    # Every server is asked before a host is added: a failure leaves the inventory as it was.
                    collected = list(outcomes)
                    failed = [(settings, reason) for settings, _reply, reason in collected if reason is not None]
                    if failed:
                        details = "; ".join(f"{settings.name} ({settings.server}): {reason}" for settings, reason in failed)
                        raise AnsibleError(f"albatross servers did not answer: {details}")
                    outcomes = iter(collected)
                # Otherwise hosts are added while later servers are still being asked.
                self._populate(servers, outcomes)
            finally:
                # Whatever happened, every server asked is waited for and its reply cached.
                for _rest in outcomes:
                    pass
                if use_cache and fetched:
                    self._cache[cache_key] = {"format": CACHE_FORMAT, "servers": dict(cached, **fetched)}

    # --- options ----------------------------------------------------------------------

    def _template(self, value: t.Any) -> t.Any:
        # Only strings trusted as templates (from the inventory file) are rendered; values
        # from the environment come back unchanged. Vault values are decrypted here.
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.templar.template(value)

    def _server_settings(self, config: t.Mapping[str, t.Any]) -> list[ServerSettings]:
        defaults: dict[str, t.Any] = {}
        for option in CONNECTION_OPTIONS:
            raw = config.get(option)
            if raw is not None and not isinstance(raw, (bool, int, float)):
                # get_option() would already have turned a templated path into a (wrong) absolute path.
                defaults[option] = self._template(raw)
            else:
                defaults[option] = self.get_option(option)
        for option in PATH_OPTIONS:
            if config.get(option) is not None and config.get(option + "_content") is not None:
                raise AnsibleError(f"{option} and {option}_content are mutually exclusive")
        # The list itself may be a template too (a lookup that returns the servers).
        # What came from the environment is not published (see the notes): a value equal to it is left out.
        self._env_vars = {f"albatross_{option}": defaults[option] for option in PUBLIC_OPTIONS
                          if config.get(option) is None and os.environ.get("ALBATROSS_" + option.upper())}
        servers = self._template(config["servers"]) if config.get("servers") is not None else self.get_option("servers")
        if not isinstance(servers, list):
            raise AnsibleError(f"servers must be a list of dictionaries, got {type(servers).__name__}")
        return resolve_servers(servers, defaults, self._template)

    # --- fetching and caching -----------------------------------------------------------

    def _cached_replies(self, cache_key: str, servers: list[ServerSettings]) -> dict[str, dict[str, t.Any]]:
        try:
            entry = self._cache[cache_key]
        except KeyError:
            return {}
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT or not isinstance(entry.get("servers"), dict):
            return {}
        timeout = self.get_option("cache_timeout") or 0
        now = time.time()
        result = {}
        for settings in servers:
            reply = entry["servers"].get(settings.name)
            # A reply counts only for the same server and path it was fetched from.
            if not isinstance(reply, dict) or reply.get("server") != settings.server or reply.get("path") != settings.path:
                continue
            if timeout > 0 and now - float(reply.get("fetched", 0)) > timeout:
                continue
            result[settings.name] = reply
        return result

    def _jobs(self, servers: list[ServerSettings]) -> list[tuple[ServerSettings, t.Any, bytes]]:
        """(settings, signer, server CA) per server to ask."""
        # Credentials are read here, before any server is asked: a missing file is a configuration
        # error for the whole inventory, not one more server that did not answer.
        signers: dict[tuple, t.Any] = {}
        return [(settings, load_signer(settings, signers), settings.pem("server_ca")) for settings in servers]

    @contextlib.contextmanager
    def _asking(self, jobs: list[tuple[ServerSettings, t.Any, bytes]]) -> t.Iterator[t.Iterator[dict[str, t.Any] | str]]:
        """The outcome of each job (``_fetch_one``), in order, as soon as it is there; up to max_workers at a time."""
        workers = min(self.get_option("max_workers"), len(jobs))
        if workers <= 1:
            yield (self._fetch_one(*job) for job in jobs)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="albatross-inventory") as pool:
            yield pool.map(lambda job: self._fetch_one(*job), jobs)

    def _fetch_one(self, settings: ServerSettings, signer: t.Any, server_ca: bytes) -> dict[str, t.Any] | str:
        """The reply of one server as plain data, or why there is none."""
        try:
            unikernels = open_client(settings, signer, server_ca).unikernel_info()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Whatever went wrong with one server must not hide the others.
            self.display.vvv(f"albatross server {settings.name}: {traceback.format_exc()}")
            return describe_error(exc, settings.timeout)
        return {
            "server": settings.server,
            "path": settings.path,
            "base_path": list(signer.path),
            "fetched": time.time(),
            "unikernels": [unikernel_to_dict(info) for info in unikernels],
        }

    # --- hosts and groups --------------------------------------------------------------

    def _populate(self, servers: list[ServerSettings], outcomes: t.Iterable[tuple[ServerSettings, dict | None, str | None]]) -> None:
        """Hosts and groups from (settings, reply, reason it failed) per server, in the order of ``servers``."""
        inventory = self.inventory
        self._constructed = (self.get_option("compose"), self.get_option("groups"), self.get_option("keyed_groups"), self.get_option("strict"))
        groups: dict[str, str] = {}
        for settings in servers:
            group_name = "albatross_server_" + _safe(settings.name)
            if group_name in groups:
                raise AnsibleError(f"albatross servers {groups[group_name]} and {settings.name} would share the group {group_name}; rename one")
            groups[group_name] = settings.name
        inventory.add_group("albatross_servers")
        unikernels_group = inventory.add_group("albatross_unikernels")
        # Group variables, so group_vars files can still override them.
        for key, value in UNIKERNEL_CONNECTION_VARS.items():
            inventory.set_variable(unikernels_group, key, value)
        owners: dict[str, str] = {settings.name: "" for settings in servers}
        for settings, reply, reason in outcomes:
            if reason is not None:
                self.display.warning(
                    f"albatross server {settings.name} ({settings.server}) did not answer, its unikernels are not in the inventory: {reason}"
                )
            env_vars = getattr(self, "_env_vars", {})
            connection = make_unsafe({key: value for key, value in settings.public_vars().items() if env_vars.get(key, None) != value})
            connection["albatross_server_inventory_hostname"] = make_unsafe(settings.name)
            host = inventory.add_host(make_unsafe(settings.name), group="albatross_servers")
            server_vars = dict(connection, ansible_host=make_unsafe(settings.host), albatross_reachable=reply is not None)
            if reason is not None:
                server_vars["albatross_error"] = make_unsafe(reason)
            self._set_vars(host, server_vars, {})
            group = inventory.add_group("albatross_server_" + _safe(settings.name))
            # The connection settings go to the server's group: set once, and every unikernel on it has them.
            for key, value in connection.items():
                inventory.set_variable(group, key, value)
            if reply is not None:
                self._add_unikernels(settings.name, reply, group, unikernels_group, connection, owners)

    def _add_unikernels(self, server_name: str, reply: dict[str, t.Any], group: str, unikernels_group: str,
                        connection: dict[str, t.Any], owners: dict[str, str]) -> None:
        inventory = self.inventory
        base_path = tuple(reply.get("base_path") or ())
        for unikernel in sorted(reply["unikernels"], key=lambda item: item["name"]):
            path, label = split_name(unikernel["name"])
            hostname = _hostname(server_name, path, label)
            if hostname in owners:
                other = owners[hostname]
                raise AnsibleError(
                    f"albatross inventory: unikernel {unikernel['name']} on server {server_name} would be host {hostname},"
                    f" which is already {'a unikernel on server ' + other if other else 'a server'}; rename a server"
                )
            owners[hostname] = server_name
            host = inventory.add_host(make_unsafe(hostname), group=unikernels_group)
            inventory.add_child(group, host)
            self._set_vars(host, unikernel_vars(unikernel, base_path, (path, label)), connection)

    def _set_vars(self, host: str, host_vars: dict[str, t.Any], group_vars: dict[str, t.Any]) -> None:
        set_variable = self.inventory.set_variable
        for key, value in host_vars.items():
            set_variable(host, key, value)
        compose, groups, keyed_groups, strict = self._constructed
        if not (compose or groups or keyed_groups):
            return
        # What a task on the host sees: the server's group variables, then the host's own.
        facts = dict(group_vars)
        facts.update(self.inventory.get_host(host).get_vars())
        self._set_composite_vars(compose, facts, host, strict=strict)
        self._add_host_to_composed_groups(groups, facts, host, strict=strict, fetch_hostvars=False)
        self._add_host_to_keyed_groups(keyed_groups, facts, host, strict=strict, fetch_hostvars=False)


def _outcomes(servers: list[ServerSettings], cached: dict[str, dict[str, t.Any]], answers: t.Iterator[dict[str, t.Any] | str],
              fetched: dict[str, dict[str, t.Any]]) -> t.Iterator[tuple[ServerSettings, dict[str, t.Any] | None, str | None]]:
    """(settings, reply, reason it failed) per server: cached replies, else the next answer; fresh replies also go to ``fetched``."""
    for settings in servers:
        reply = cached.get(settings.name)
        if reply is None:
            answer = next(answers, None)
            if answer is None:
                raise AssertionError(f"no answer for albatross server {settings.name}")
            if isinstance(answer, str):
                yield settings, None, answer
                continue
            reply = fetched[settings.name] = answer
        yield settings, reply, None


def _safe(name: str) -> str:
    return "".join(char if char.isascii() and (char.isalnum() or char == "_") else "_" for char in name)


def split_name(full_name: str) -> tuple[tuple[str, ...], str]:
    """(path labels, label) of a full unikernel name such as ``alice:web`` or ``:web``."""
    path, _sep, label = full_name.rpartition(":")
    return tuple(part for part in path.split(":") if part), label


def unikernel_hostname(server_name: str, full_name: str) -> str:
    """``<server>_<path labels>_<label>``: labels never contain ``_``, so this is unique per server."""
    return _hostname(server_name, *split_name(full_name))


def _hostname(server_name: str, path: tuple[str, ...], label: str) -> str:
    return "_".join((server_name,) + path + (label,))


def unikernel_vars(unikernel: t.Mapping[str, t.Any], base_path: tuple[str, ...],
                   split: tuple[tuple[str, ...], str] | None = None) -> dict[str, t.Any]:
    """Host variables of one unikernel (every value marked unsafe); ``split`` is ``split_name`` of its name if known."""
    path, label = split or split_name(unikernel["name"])
    relative = path[len(base_path):] if path[:len(base_path)] == base_path else path
    # The keys are unikernel_to_dict's; only the values come from the server.
    host_vars = {"albatross_" + key: make_unsafe(value) for key, value in unikernel.items()}
    host_vars["albatross_label"] = make_unsafe(label)
    host_vars["albatross_path"] = make_unsafe(":".join(path))
    host_vars["albatross_relative_path"] = make_unsafe(":".join(relative))
    return host_vars
