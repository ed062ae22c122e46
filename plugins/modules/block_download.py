#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download the content of a volume to a local file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: block_download
short_description: Download the content of an albatross volume to a local file
version_added: "1.0.0"
description:
  - Dumps a volume of an albatross server into a file on the controller.
  - Albatross offers no checksum of a volume, so the volume is downloaded on every run (also in check mode).
    O(dest) is replaced, atomically, only when its content differs; RV(ignore:changed) tells whether it did.
  - A volume attached to a running unikernel cannot be downloaded; the module fails and names the unikernel.
  - A volume with a write-in-progress marker of M(unikernels.albatross.block) (an earlier data write did not finish) is
    downloaded with a warning that its content is incomplete, and RV(data_pending=true).
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  name:
    description: Name of the volume (an albatross label).
    type: str
    required: true
  dest:
    description:
      - Local file on the controller. Its directory must exist.
      - The file holds the whole volume (its size in MB), uncompressed.
    type: path
    required: true
  compression:
    description:
      - zlib compression level (V(0) none, up to V(9)) on the wire. The file is always written uncompressed.
    type: int
    default: 0
  mode:
    description:
      - Permissions of O(dest), as an octal number such as V('0600').
      - Left out, a new file gets V('0600') (a volume may hold secrets) and an existing file keeps its mode.
    type: raw
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
attributes:
  check_mode:
    support: full
    details:
      - In check mode the volume is downloaded and compared, but O(dest) is not written.
  diff_mode:
    support: full
    details:
      - The diff shows the SHA-256 of O(dest) before and after.
  idempotent:
    support: full
seealso:
  - module: unikernels.albatross.block
  - module: unikernels.albatross.block_info
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Back up a volume
  unikernels.albatross.block_download:
    name: storage
    dest: /var/backups/albatross/storage.img
    compression: 6
"""

RETURN = r"""
dest:
  description: The local file.
  returned: success
  type: str
  sample: /var/backups/albatross/storage.img
sha256:
  description: SHA-256 of the volume content (and of O(dest) after the run).
  returned: success
  type: str
  sample: 30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58
size:
  description: Size of the volume content in bytes.
  returned: success
  type: int
  sample: 67108864
data_pending:
  description: Whether the volume has a write-in-progress marker, so that the downloaded content is incomplete.
  returned: success
  type: bool
  sample: false
block:
  description: The volume.
  returned: success
  type: dict
  contains:
    name:
      description: Full albatross name of the volume.
      type: str
      sample: ":storage"
    size:
      description: Size in MB.
      type: int
      sample: 64
    active:
      description: Whether a running unikernel uses the volume (always V(false) here).
      type: bool
      sample: false
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._block import BLOCK_DOWNLOAD_SPEC, run_block_download_module
from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module


def main() -> None:
    run_as_module(BLOCK_DOWNLOAD_SPEC, run_block_download_module)


if __name__ == "__main__":
    main()
