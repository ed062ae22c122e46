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
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._block import BLOCK_INFO_SPEC, run_block_info_module
from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module


def main() -> None:
    run_as_module(BLOCK_INFO_SPEC, run_block_info_module)


if __name__ == "__main__":
    main()
