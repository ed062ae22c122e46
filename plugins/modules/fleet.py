#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module unikernels.albatross.fleet (documentation; the code runs as an action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet
short_description: Reconcile the unikernels and volumes under the credentials' path to a desired set
version_added: "1.0.0"
description:
  - Brings many unikernels and volumes of one albatross server to the given state in one task.
  - Each entry of O(unikernels) takes the options of M(unikernels.albatross.unikernel), each entry of O(volumes)
    those of M(unikernels.albatross.block) (without connection options, which are given once to this module).
    An entry behaves exactly like that module with those options.
  - "The work runs in phases: volumes to create, then unikernels, then (with O(prune)) unikernels that are not
    listed, then volumes to remove. Within a phase up to O(max_parallel) entries run at once."
  - After a failure nothing is pruned or removed; the result lists what was done and what failed.
  - In check mode, RV(plan) says what a real run would do.
author:
  - unikernels.albatross contributors (@unikernels)
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
  - requests >= 2.28.0 on the controller, for unikernels with C(image_url) or C(builder_web)
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.ACTIONGROUP_API
  - unikernels.albatross.attributes.CONTROLLER
attributes:
  check_mode:
    support: full
    details:
      - Check mode returns the plan, decided exactly as a real run would.
  diff_mode:
    support: full
    details:
      - The diff shows each changed unikernel and volume before and after.
  idempotent:
    support: partial
    details:
      - Entries of O(unikernels) with C(state=restarted) or C(recreate=always), and entries of O(volumes) with
        C(data_overwrite=always), change on every run.
options:
  unikernels:
    description:
      - The unikernels, each a dict of M(unikernels.albatross.unikernel) options (C(name) is required).
      - A relative C(image) is looked up like the O(ansible.builtin.copy#module:src) of M(ansible.builtin.copy).
    type: list
    elements: dict
    default: []
  volumes:
    description:
      - The volumes, each a dict of M(unikernels.albatross.block) options (C(name) is required).
      - A relative C(data) is looked up like the O(ansible.builtin.copy#module:src) of M(ansible.builtin.copy).
    type: list
    elements: dict
    default: []
  prune:
    description:
      - Also destroy the unikernels and remove the volumes directly under the credentials' path that are not listed.
      - Unikernels and volumes of sub-paths (other tenants) are never touched.
      - Write-in-progress markers of M(unikernels.albatross.block) (C(pending-data.*)) are not volumes of their own
        here. A listed volume keeps its marker (its entry writes the data again); the marker of a removed volume is
        removed with it, and a marker whose volume is neither listed nor present is removed.
    type: bool
    default: false
  max_parallel:
    description:
      - How many entries run at the same time within a phase.
    type: int
    default: 4
seealso:
  - module: unikernels.albatross.unikernel
  - module: unikernels.albatross.block
"""

EXAMPLES = r"""
- name: Plan first
  unikernels.albatross.fleet:
    volumes:
      - name: data
        size: 64
    unikernels:
      - name: web
        image: web.hvt
        memory: 64
        network_interfaces:
          - name: service
      - name: db
        image: db.hvt
        block_devices:
          - name: storage
            host_device: data
    prune: true
  check_mode: true
  register: fleet_plan

- name: Show the plan
  ansible.builtin.debug:
    var: fleet_plan.plan
"""

RETURN = r"""
plan:
  description: What was done (in check mode, what would be done), in order; entries without change are left out.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(unikernel) or V(volume).
      type: str
      sample: unikernel
    name:
      description: The label.
      type: str
      sample: web
    action:
      description:
        - For unikernels the RV(unikernels.albatross.unikernel#module:action) of M(unikernels.albatross.unikernel) such as V(created) or
          V(replaced); for volumes V(created), V(data_written) or V(removed); V(failed) or V(skipped) (after a failure).
      type: str
      sample: created
  sample: [{"kind": "volume", "name": "data", "action": "created"}, {"kind": "unikernel", "name": "web", "action": "replaced"}]
unikernels:
  description: One entry per unikernel (listed or pruned).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The label.
      type: str
      sample: web
    kind:
      description: Always V(unikernel).
      type: str
      sample: unikernel
    changed:
      description: Whether it changed.
      type: bool
      sample: true
    failed:
      description: Whether it failed.
      type: bool
      sample: false
    action:
      description: What was done.
      type: str
      sample: created
    msg:
      description: The error.
      type: str
      returned: when failed
      sample: "Error creating unikernel web on 127.0.0.1:1025: the server answered: ..."
    unikernel:
      description: The unikernel as M(unikernels.albatross.unikernel) returns it.
      type: dict
      sample: {"name": ":web", "memory": 64}
volumes:
  description: One entry per volume (listed or pruned), like RV(unikernels) with C(block) (as M(unikernels.albatross.block) returns it).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "volume", "name": "data", "changed": true, "failed": false, "action": "created",
            "block": {"name": ":data", "size": 64, "active": false}}]
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._fleet import MODULE_SPEC, run_module


def main() -> None:
    run_as_module(MODULE_SPEC, run_module)


if __name__ == "__main__":
    main()
