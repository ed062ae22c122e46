#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module unikernels.albatross.unikernel_info (documentation; the code runs as an action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: unikernel_info
short_description: List the unikernels of an albatross server
version_added: "1.0.0"
description:
  - Lists one unikernel by O(name), or every unikernel under the path of the credentials.
  - Only running unikernels (and those albatross is about to restart) are listed.
author:
  - unikernels.albatross contributors (@unikernels)
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.ACTIONGROUP_API
  - unikernels.albatross.attributes.CONTROLLER
  - unikernels.albatross.attributes.INFO_MODULE
options:
  name:
    description:
      - The unikernel's label. Without it, every unikernel under the credentials' path is listed.
      - A unikernel that does not run gives an empty list, not an error.
    type: str
seealso:
  - module: unikernels.albatross.unikernel
  - module: unikernels.albatross.stats_info
  - module: unikernels.albatross.console_info
"""

EXAMPLES = r"""
- name: Everything under the credentials' path
  unikernels.albatross.unikernel_info:
    server: albatross.example.org
    server_ca: pki/ca.pem
    client_cert: pki/operator.pem
    client_key: pki/operator.key
  register: all_unikernels

- name: One unikernel
  unikernels.albatross.unikernel_info:
    name: web
  register: web

- name: Show its image digest
  ansible.builtin.debug:
    msg: "{{ web.unikernels[0].digest if web.unikernels else 'not running' }}"
"""

RETURN = r"""
unikernels:
  description: The unikernels, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Full albatross name; relative to the credentials' path when listing everything (V(:web), V(sub:web)).
      type: str
      sample: ":web"
    typ:
      description: Unikernel type.
      type: str
      sample: solo5
    memory:
      description: Memory in MB.
      type: int
      sample: 32
    cpuids:
      description: CPU ids.
      type: list
      elements: int
      sample: [0]
    cpus:
      description: Number of virtual CPUs.
      type: int
      sample: 1
    digest:
      description: SHA-256 of the uncompressed image (hex).
      type: str
      sample: 5e9c1d0e0ab5f5c8f1ac5a1b3bd30c2f2e8d9e4f6a7b8c9d0e1f2a3b4c5d6e7f
    arguments:
      description: Command line arguments.
      type: list
      elements: str
      sample: ["--ipv4=10.0.0.2/24"]
    block_devices:
      description: Block devices (C(name), C(host_device), C(sector_size), C(size) in MB).
      type: list
      elements: dict
      sample: [{"name": "storage", "host_device": "data", "sector_size": 512, "size": 16}]
    network_interfaces:
      description: Network interfaces (C(name), C(bridge), C(mac)).
      type: list
      elements: dict
      sample: [{"name": "service", "bridge": "br0", "mac": "00:80:41:12:34:56"}]
    fail_behaviour:
      description: V(quit) or V(restart).
      type: str
      sample: quit
    restart_exit_codes:
      description: Exit codes that restart the unikernel (empty means any).
      type: list
      elements: int
      sample: []
    startup:
      description: Start priority, V(null) when not set.
      type: int
      sample: null
    started:
      description: When it was started (RFC 3339).
      type: str
      sample: "2025-01-01T12:00:00Z"
    linux_boot_partition:
      description: Boot partition of a bhyve guest.
      type: str
      sample: null
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_info import INFO_SPEC, run_info


def main() -> None:
    run_as_module(INFO_SPEC, run_info)


if __name__ == "__main__":
    main()
