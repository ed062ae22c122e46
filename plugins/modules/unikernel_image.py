#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module unikernels.albatross.unikernel_image (documentation; the code runs as an action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: unikernel_image
short_description: Download the image of a running unikernel
version_added: "1.0.0"
description:
  - Writes the image of a running unikernel, uncompressed, to a file on the controller.
  - The file is compared by SHA-256 with the digest albatross reports; when it already holds the image,
    nothing is downloaded.
  - The file is written atomically with mode C(0600).
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
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the digest of the file before and after.
  idempotent:
    support: full
options:
  name:
    description: The unikernel's label.
    type: str
    required: true
  dest:
    description:
      - File on the controller to write. Its directory must exist.
    type: path
    required: true
seealso:
  - module: unikernels.albatross.unikernel
"""

EXAMPLES = r"""
- name: Keep a copy of what runs
  unikernels.albatross.unikernel_image:
    name: web
    dest: backups/web.hvt
"""

RETURN = r"""
name:
  description: Full albatross name of the unikernel.
  returned: success
  type: str
  sample: ":web"
dest:
  description: The file written.
  returned: success
  type: str
  sample: backups/web.hvt
digest:
  description: SHA-256 (hex) of the image in O(dest).
  returned: success
  type: str
  sample: 5e9c1d0e0ab5f5c8f1ac5a1b3bd30c2f2e8d9e4f6a7b8c9d0e1f2a3b4c5d6e7f
size:
  description: Size of the image in bytes.
  returned: success, except in check mode when the file would change
  type: int
  sample: 4194304
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_info import IMAGE_SPEC, run_image


def main() -> None:
    run_as_module(IMAGE_SPEC, run_image)


if __name__ == "__main__":
    main()
