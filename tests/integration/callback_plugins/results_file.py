# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test helper callback: append every task result as one JSON line to $ALBATROSS_TEST_RESULTS."""

from __future__ import annotations

DOCUMENTATION = r"""
name: results_file
type: aggregate
short_description: Write task results to a JSON lines file (tests only)
description:
  - Appends one JSON object per task result (and loop item) to the file named by E(ALBATROSS_TEST_RESULTS).
requirements:
  - enabled with E(ANSIBLE_CALLBACKS_ENABLED)
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "results_file"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, status, result):
        path = os.environ.get("ALBATROSS_TEST_RESULTS")
        if not path:
            return
        record = {
            "task": result.task_name,
            "host": result.host.get_name(),
            "status": status,
            "result": dict(result.result),
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)
