# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Trivial inventory plugin for the benchmark: the ansible-core floor of an albatross inventory.

It replays the output of ``ansible-inventory --list --export`` of the albatross plugin
(a file named ``*.floor.json``): the same groups, hosts, group variables and host variables,
set through the same inventory calls, without asking any server. The time
``ansible-inventory --list`` needs for it is what ansible-core itself costs for that many
hosts and variables (start, variable manager, JSON output); the albatross plugin cannot be
faster than that.

Used by ``bench/inventory_bench.py`` with ``ANSIBLE_INVENTORY_PLUGINS`` pointing here.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: albatross_floor
short_description: Replay an exported inventory (benchmark floor)
description:
  - Reads a C(*.floor.json) file written from C(ansible-inventory --list --export) and adds its groups, hosts and variables.
options: {}
"""

import json
import typing as t

from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.template import trust_as_template

UNSAFE_KEY = "__ansible_unsafe"


def _plain(value: t.Any) -> t.Any:
    """The value as the albatross plugin set it: the export marks untrusted strings, the others are trusted templates."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE_KEY}:
            return value[UNSAFE_KEY]
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return trust_as_template(value)
    return value


class InventoryModule(BaseInventoryPlugin):
    """Groups, hosts and variables from an exported inventory."""

    NAME = "albatross_floor"

    def verify_file(self, path: str) -> bool:
        return path.endswith(".floor.json")

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache=cache)
        with open(path, encoding="utf-8") as handle:
            data = _plain(json.load(handle))
        hostvars = data.pop("_meta", {}).get("hostvars", {})
        for name in data:
            self.inventory.add_group(name)
        for name, group in data.items():
            for key, value in (group.get("vars") or {}).items():
                self.inventory.set_variable(name, key, value)
            for host in group.get("hosts") or ():
                self.inventory.add_host(host, group=name)
            for child in group.get("children") or ():
                if child != "ungrouped":
                    self.inventory.add_child(name, child)
        for host, host_vars in hostvars.items():
            for key, value in host_vars.items():
                self.inventory.set_variable(host, key, value)
