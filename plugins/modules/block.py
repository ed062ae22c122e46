#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A volume (block device) on an albatross server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: block
short_description: A volume (block device) on an albatross server
version_added: "1.0.0"
description:
  - Makes sure a volume of an albatross server is present with a given size, optionally with data uploaded from a
    local file, or absent.
  - A volume lives under the path of the credentials, next to the unikernels that use it (O(unikernels.albatross.unikernel#module:block_devices)).
  - "Every write of O(data) runs under a I(write-in-progress marker): a 1 MB volume named C(pending-data.<name>)
    (for names longer than 50 characters C(pending-data-<start of name>.<12 hex digits of its SHA-256>)) next to the
    volume. The module adds the marker, then (when creating) the volume, writes the data, and removes the marker only
    after albatross confirmed the write."
  - "So a run that was interrupted at any point (ctrl-c, an AWX job cancel, a killed controller, a dropped connection)
    leaves either the marker or a volume with all of its data. The next run with O(data) that finds the marker writes the data
    again, whatever O(data_overwrite) says, reports a change and warns that an interrupted write was repaired; a run with
    O(data) never reports the volume unchanged while its marker says the data is incomplete. The marker lives on the albatross
    server, so this holds for throwaway AWX containers and for several controllers."
  - The marker needs 1 MB of the policy's block limit while the data is written. Without that room the module fails
    before changing anything and names the policy's limit and usage.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  name:
    description:
      - Name of the volume, an albatross label (1 to 63 of C([a-zA-Z0-9.-]), not starting with C(-)); it is lower-cased.
      - Names starting with C(pending-data.) or C(pending-data-) are reserved for write-in-progress markers. Such a name
        is refused with O(state=present); O(state=absent) removes that marker.
    type: str
    required: true
  state:
    description:
      - V(present) creates the volume if it does not exist.
      - V(absent) removes it, with its data, and then its write-in-progress marker if there is one (also when the
        volume itself is gone). Removing a volume that does not exist is not an error.
      - A volume attached to a running unikernel cannot be removed nor overwritten (O(data_overwrite=always)); the module
        fails and names the unikernel.
    type: str
    choices: [present, absent]
    default: present
  size:
    description:
      - Size in MB (2^20 bytes). Needed to create the volume.
      - Albatross cannot resize a volume. If the volume exists with another size the module fails; removing it
        (O(state=absent)) and creating it again is up to you, and loses its data.
      - Left out, the size of an existing volume is not compared.
    type: int
  data:
    description:
      - Local file (on the controller) whose content is written to the volume, followed by zeros up to its size.
      - A relative path is looked up like the C(src) of M(ansible.builtin.copy) (the C(files/) directories of the role
        and playbook first).
      - The file must not be larger than the volume; this is checked before anything is sent.
      - When it is written depends on O(data_overwrite), except that a volume with a write-in-progress marker (an
        earlier write did not finish) always gets the data written again.
      - If the volume has a marker and a running unikernel uses it, the module fails and names the unikernel (albatross
        cannot write a volume in use).
      - Without O(data), a volume with a marker is left as it is, with a warning that its content is incomplete and
        RV(data_pending=true).
    type: path
  data_overwrite:
    description:
      - When O(data) is written to a volume that already exists.
      - V(never) writes O(data) only when the volume is created (or when an earlier write did not finish, see above).
      - V(if_different) downloads the volume first and writes O(data) only when the content differs (compared by
        SHA-256 of the whole volume). The download also runs in check mode, so the prediction is exact.
        Albatross can neither read nor write a volume that a running unikernel uses, so such a volume is left as it
        is, with a warning naming the unikernel, so that a playbook which creates a volume and then starts its unikernel
        runs again without change.
      - V(always) writes O(data) on every run, and always reports a change.
    type: str
    choices: [never, if_different, always]
    default: never
  compression:
    description:
      - zlib compression level (V(0) none, up to V(9)) of the data on the wire, for uploads and for the comparison of
        O(data_overwrite=if_different). It does not change what is stored.
    type: int
    default: 0
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
attributes:
  check_mode:
    support: full
    details:
      - Check mode takes the same decisions as a real run, including the download for O(data_overwrite=if_different).
  diff_mode:
    support: full
    details:
      - The diff shows name, size and in-use flag, and C(data_sha256) (SHA-256 of the whole volume) when it is known.
  idempotent:
    support: partial
    details:
      - Idempotent, except with O(data_overwrite=always), which writes the data on every run, and except that a run
        after an interrupted write of O(data) writes it again.
seealso:
  - module: unikernels.albatross.block_info
  - module: unikernels.albatross.block_download
  - module: unikernels.albatross.unikernel
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: A 64 MB volume for the unikernel's storage
  unikernels.albatross.block:
    name: storage
    size: 64

- name: A volume holding a disk image, updated when the image changes
  unikernels.albatross.block:
    name: webdata
    size: 128
    data: files/webdata.img
    data_overwrite: if_different
    compression: 6

- name: Remove a volume (its data is lost)
  unikernels.albatross.block:
    name: scratch
    state: absent
"""

RETURN = r"""
block:
  description:
    - The volume as the server holds it now (the prediction in check mode).
    - V(null) when O(state=absent).
  returned: success
  type: dict
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
    - Whether the volume is left with a write-in-progress marker, i.e. with incomplete data. Only a task without
      O(data) leaves it so (with a warning).
  returned: success and O(state=present)
  type: bool
  sample: false
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._block import BLOCK_SPEC, run_block_module
from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module


def main() -> None:
    run_as_module(BLOCK_SPEC, run_block_module)


if __name__ == "__main__":
    main()
