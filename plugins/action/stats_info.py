# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of unikernels.albatross.stats_info: runs the module on the controller."""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils._console import STATS_INFO_SPEC, run_stats_info_module
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import AlbatrossActionBase


class ActionModule(AlbatrossActionBase):
    MODULE_SPEC = STATS_INFO_SPEC

    def run_module(self, module) -> None:
        run_stats_info_module(module)
