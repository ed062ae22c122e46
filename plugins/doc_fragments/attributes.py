# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Attribute documentation shared by the modules (PRIVATE to the collection)."""

from __future__ import annotations


class ModuleDocFragment:
    # Descriptions of the standard attributes; each module states its support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the server.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    # Membership of group/unikernels.albatross.api.
    ACTIONGROUP_API = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/unikernels.albatross.api) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - unikernels.albatross.api
"""

    # API modules are action plugins: everything happens in the controller process.
    CONTROLLER = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
    details:
      - This action runs completely on the controller.
notes:
  - This module runs in the controller process as an action plugin. It needs no C(delegate_to), no Python on
    the target and no connection to it, so a task may target the inventory's unikernel hosts directly.
  - Local files (images, credentials, destinations) are paths on the controller. Keys and images are never
    copied to a target.
"""

    # Read-only modules.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""
