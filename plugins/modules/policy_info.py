#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The resource policies of an albatross server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: policy_info
short_description: The resource policies of an albatross server
version_added: "1.0.0"
description:
  - Lists the resource policies albatross holds at and below a path.
  - With root CA credentials the list starts with the root policy (path V(:)), which albatross derives from the host
    when it starts (all CPUs, the memory, the free disk space, every bridge).
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  path:
    description:
      - The path to list, relative to the path of O(client_cert) (which is the root for a root CA). Its sub-paths are
        listed too.
      - Left out, everything under the path of O(client_cert).
      - If not set, the environment variable E(ALBATROSS_PATH) is used. In this module the option names the path to
        list, the credentials act at the path of O(client_cert).
    type: str
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
  - unikernels.albatross.attributes.info_module
seealso:
  - module: unikernels.albatross.policy
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Every policy
  unikernels.albatross.policy_info:
  register: policies

- name: The policies of tenant alice and below
  unikernels.albatross.policy_info:
    path: alice
"""

RETURN = r"""
policies:
  description: The policies, sorted by path.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Full albatross path (V(:) for the root, V(alice), V(alice:web)).
      type: str
      sample: alice
    unikernels:
      description: Maximum number of unikernels under the path.
      type: int
      sample: 5
    memory:
      description: Maximum memory in MB.
      type: int
      sample: 1024
    block:
      description: Maximum block storage in MB; V(null) when no volumes are allowed.
      type: int
      sample: 2048
    cpuids:
      description: Allowed CPU ids, sorted.
      type: list
      elements: int
      sample: [0, 1]
    bridges:
      description: Allowed host bridges, sorted.
      type: list
      elements: str
      sample: [service]
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._policy import POLICY_INFO_SPEC, run_policy_info_module


def main() -> None:
    run_as_module(POLICY_INFO_SPEC, run_policy_info_module)


if __name__ == "__main__":
    main()
