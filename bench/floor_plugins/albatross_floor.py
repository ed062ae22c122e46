# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Trivial inventory plugin for the benchmark: the ansible-core floor of an albatross inventory.

It replays what the albatross plugin produced (a file named ``*.floor.json`` that
``bench/inventory_bench.py`` writes from ``ansible-inventory --list --export``): the same groups,
hosts, group variables and host variables, set through the same inventory calls, without asking
any server. The time ``ansible-inventory --list`` needs for it is what ansible-core itself costs
for that many hosts and variables (start, plugin loading, variable manager, JSON output); the
albatross plugin cannot be faster than that. Reading the JSON file (about 15 ms for 2000 hosts)
is the only work it does that the albatross plugin does not.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: albatross_floor
short_description: Replay an exported inventory (benchmark floor)
description:
  - Reads a C(*.floor.json) file (groups, host variables, trusted templates) and adds its groups, hosts and variables.
options: {}
"""

import json
import typing as t

from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.template import trust_as_template


class InventoryModule(BaseInventoryPlugin):
    """Groups, hosts and variables from a floor file."""

    NAME = "albatross_floor"

    def verify_file(self, path: str) -> bool:
        return path.endswith(".floor.json")

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache=cache)
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        groups, hostvars = data["groups"], data["hostvars"]
        for entity, key in data["trusted"]:
            values = groups[entity]["vars"] if entity in groups else hostvars[entity]
            values[key] = trust_as_template(values[key])
        for name in groups:
            self.inventory.add_group(name)
        for name, group in groups.items():
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
