#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""List the volumes of an albatross server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: block_info
short_description: List the volumes (block devices) of an albatross server
version_added: "1.0.0"
description:
  - Lists the volumes under the path of the credentials, with their size and whether a running unikernel uses them.
  - The write-in-progress markers of M(unikernels.albatross.block) (volumes named C(pending-data.*) and
    C(pending-data-*)) are not listed as volumes; RV(blocks[].data_pending) tells which volumes have one, and
    RV(orphan_markers) lists markers whose volume does not exist.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  name:
    description:
      - Only this volume (an albatross label). The list is empty when it does not exist.
      - Left out, every volume under the path of the credentials is listed, including those of sub-paths.
    type: str
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
  - unikernels.albatross.attributes.info_module
seealso:
  - module: unikernels.albatross.block
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: All volumes
  unikernels.albatross.block_info:
  register: volumes

- name: Show the unused ones
  ansible.builtin.debug:
    msg: "{{ volumes.blocks | rejectattr('active') | map(attribute='name') }}"

- name: Fail when a data write did not finish
  ansible.builtin.assert:
    that: volumes.blocks | selectattr('data_pending') | list | length == 0
    fail_msg: "incomplete volumes: {{ volumes.blocks | selectattr('data_pending') | map(attribute='name') }}"
"""

RETURN = r"""
blocks:
  description: The volumes, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Full albatross name of the volume (C(path:label), C(:label) at the root).
      type: str
      sample: ":storage"
    size:
      description: Size in MB.
      type: int
      sample: 64
    active:
      description: Whether a running unikernel uses the volume.
      type: bool
      sample: false
    data_pending:
      description:
        - Whether the volume has a write-in-progress marker, i.e. a data write of M(unikernels.albatross.block) did not
          finish and the content is incomplete. Running the block task with its data again repairs it.
      type: bool
      sample: false
orphan_markers:
  description:
    - Full names of write-in-progress markers whose volume does not exist (a run that created the volume was
      interrupted before the volume was added). They use 1 MB of the policy each; the next M(unikernels.albatross.block)
      run for that volume removes or reuses its marker.
    - With O(name), only the marker of that volume.
  returned: success
  type: list
  elements: str
  sample: [":pending-data.storage"]
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._block import BLOCK_INFO_SPEC, run_block_info_module
from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module


def main() -> None:
    run_as_module(BLOCK_INFO_SPEC, run_block_info_module)


if __name__ == "__main__":
    main()
