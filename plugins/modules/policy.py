#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A resource policy installed for a path."""

from __future__ import annotations

DOCUMENTATION = r"""
module: policy
short_description: A resource policy on an albatross server
version_added: "1.0.0"
description:
  - Installs the resource policy of a path (a tenant) on an albatross server, the way Mollymawk does it, through a
    short-lived delegation certificate signed with O(client_key). Albatross installs policies only from CA
    certificates in the client's chain.
  - The policy limits the number of unikernels, their memory, their block storage, and the CPUs and bridges they may
    use, for everything under the path.
  - The new policy is checked before anything is sent, with albatross' wording. It must be usable, fit into the
    policy above it (the policy of O(client_cert), or of the parent path), and still hold every policy below it.
    Albatross also refuses a policy smaller than what already runs under the path.
  - With a root CA, the bridges and CPU ids of a policy directly below the root must exist on the albatross host
    (the root policy albatrossd made of the host when it started). Albatross itself does not check this, and every
    unikernel using a missing bridge would fail to start.
  - When the policies of the sub-paths together promise more unikernels, memory or block storage than the new policy
    has, the module warns. It warns the same way when the new policy makes the sub-paths of the parent path (the
    path and its siblings) together promise more than the parent has. For a path directly below the path of
    O(client_cert), the parent's policy is the one O(client_cert) carries, or for a root CA the albatross host's.
    Albatross allows this, but the sub-paths cannot all use their share at once.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  path:
    description:
      - The path whose policy this is, relative to the path of O(client_cert) (the root for a root CA), for example
        V(alice) or V(alice:web). A deeper path needs a policy at its parent first.
      - If not set, the environment variable E(ALBATROSS_PATH) is used. In this module the option names the path of
        the policy; the credentials act at the path of O(client_cert).
    type: str
    required: true
  state:
    description:
      - V(present) installs the policy.
      - V(absent) is accepted only when the path has no policy. Albatross cannot remove a policy over TLS (only on the
        local socket of albatrossd, C(albatross-client remove-policy)); for a path with a policy the module fails and
        says how to remove it on the host.
    type: str
    choices: [present, absent]
    default: present
  unikernels:
    description:
      - Maximum number of unikernels under the path. Needed when the path has no policy yet.
      - Left out, the current value is kept.
    type: int
  memory:
    description:
      - Maximum memory in MB of all unikernels under the path (more than 16). Needed when the path has no policy yet.
      - Left out, the current value is kept.
    type: int
  block:
    description:
      - Maximum block storage in MB under the path.
      - Left out, the current value is kept; a new policy then allows no volumes. V(0) also allows none.
    type: int
  cpuids:
    description:
      - CPU ids the unikernels may be pinned to. Needed when the path has no policy yet.
      - Left out, the current value is kept.
    type: list
    elements: int
  bridges:
    description:
      - Host bridges the unikernels may use.
      - Left out, the current value is kept; a new policy then allows none.
    type: list
    elements: str
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the policy before and after.
  idempotent:
    support: full
notes:
  - Commands signed by a delegation certificate (as made by M(unikernels.albatross.certificate)) re-install the policy
    that certificate carries. A policy set here for the same path is overwritten by the next such command, so manage a
    path either here or with its delegation certificate.
seealso:
  - module: unikernels.albatross.policy_info
  - module: unikernels.albatross.certificate
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Tenant alice may run 5 unikernels with 1 GB memory on CPUs 0 and 1
  unikernels.albatross.policy:
    path: alice
    unikernels: 5
    memory: 1024
    block: 2048
    cpuids: [0, 1]
    bridges: [service]

- name: Give alice more memory, keep the rest
  unikernels.albatross.policy:
    path: alice
    memory: 2048
"""

RETURN = r"""
policy:
  description:
    - The policy as the server holds it now (the prediction in check mode).
    - V(null) with O(state=absent).
  returned: success
  type: dict
  contains:
    path:
      description: Full albatross path.
      type: str
      sample: alice
    unikernels:
      description: Maximum number of unikernels.
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
from ansible_collections.unikernels.albatross.plugins.module_utils._policy import POLICY_SPEC, run_policy_module


def main() -> None:
    run_as_module(POLICY_SPEC, run_policy_module)


if __name__ == "__main__":
    main()
