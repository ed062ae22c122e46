# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side binding of the albatross modules (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.

An API module's action plugin is three lines::

    class ActionModule(AlbatrossActionBase):
        MODULE_SPEC = MODULE_SPEC          # a module_utils._common.ModuleSpec
        def run_module(self, module):
            run_unikernel(module)          # the logic, written against ModuleLike

``AlbatrossActionBase.run`` validates ``self._task.args`` (module_defaults, including
``group/unikernels.albatross.api``, are already merged in by Ansible) against the module's
argspec plus the connection options, with env fallbacks read on the controller. It then
calls ``run_module`` with an ``ActionModuleAdapter`` (a ModuleLike: check mode from the
task, diff from the task/play) and returns its result with ``invocation`` in which every
``no_log`` value is masked. It never uses the task's connection, so these tasks can target
unikernel hosts (or anything else) directly.
"""

from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleError
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    CapturingModule,
    ModuleExit,
    ModuleSpec,
    validate_args,
)


# Kept under these names for the action plugins and their tests.
ActionModuleAdapter = CapturingModule


class AlbatrossActionBase(ActionBase):
    """Base of the API modules' action plugins; see the file docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    MODULE_SPEC: ModuleSpec

    def run_module(self, module: ActionModuleAdapter) -> None:
        raise NotImplementedError

    def find_controller_file(self, value: str) -> str:
        """A relative local file is looked up like the src of ansible.builtin.copy."""
        if not value or os.path.isabs(value):
            return value
        try:
            return self._find_needle("files", value)
        except AnsibleError:
            return value  # kept as given: the module reports it as missing

    def _resolve_controller_files(self, params: dict[str, t.Any]) -> None:
        # "option" or "list_option[].suboption" (fleet items).
        for option in self.MODULE_SPEC.controller_files:
            outer, sep, inner = option.partition("[].")
            if not sep:
                if params.get(option):
                    params[option] = self.find_controller_file(params[option])
                continue
            for item in params.get(outer) or ():
                if isinstance(item, dict) and isinstance(item.get(inner), str):
                    item[inner] = self.find_controller_file(item[inner])

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        name = self._task.resolved_action or self._task.action
        checked = validate_args(self.MODULE_SPEC, self._task.args, name)
        params = checked.params
        module = ActionModuleAdapter(params, check_mode=bool(self._task.check_mode), diff_mode=bool(self._task.diff))
        if checked.error is not None:
            outcome = {"failed": True, "changed": False, "msg": checked.error}
        else:
            self._resolve_controller_files(params)
            try:
                self.run_module(module)
                outcome = {"failed": True, "changed": False, "msg": "The module ended without a result."}
            except ModuleExit as exc:
                outcome = exc.result
        warnings = checked.warnings + module.warnings + list(outcome.pop("warnings", []))
        if warnings:
            outcome["warnings"] = warnings
        if not module.diff_mode:
            outcome.pop("diff", None)
        outcome["invocation"] = {"module_args": params}
        result.update(remove_values(outcome, checked.no_log_values))
        return result
