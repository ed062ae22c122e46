# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a playbook of tests/integration/playbooks with the real ansible-playbook and read every task result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
BIN = os.path.dirname(sys.executable)


class Results:
    """Task results of one ansible-playbook run, by task name (the last one of that name)."""

    def __init__(self, records: list[dict[str, Any]], returncode: int, output: str) -> None:
        self.records = records
        self.returncode = returncode
        self.output = output
        self.by_task = {r["task"]: r for r in records}

    def __getitem__(self, task: str) -> dict[str, Any]:
        if task not in self.by_task:
            raise KeyError("no result for task %r; ansible-playbook said:\n%s" % (task, self.output[-4000:]))
        return self.by_task[task]["result"]

    def status(self, task: str) -> str:
        if task not in self.by_task:
            raise KeyError("no result for task %r" % task)
        return self.by_task[task]["status"]


def connection_vars(server: Any) -> dict[str, Any]:
    return {
        "albatross_server": server.address,
        "albatross_server_ca": str(server.server_ca),
        "albatross_client_cert": str(server.client_cert),
        "albatross_client_key": str(server.client_key),
    }


def run_playbook(name: str, tmp_path: Any, extra_vars: dict[str, Any], diff: bool = True, check: bool = False) -> Results:
    """Run ``playbooks/<name>`` against localhost (no connection: the modules run on the controller)."""
    work = os.path.join(str(tmp_path), "ansible-" + name.replace(".yml", ""))
    os.makedirs(work, exist_ok=True)
    results_file = os.path.join(work, "results.jsonl")
    if os.path.exists(results_file):
        os.unlink(results_file)
    inventory = os.path.join(work, "inventory.ini")
    with open(inventory, "w", encoding="utf-8") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    vars_file = os.path.join(work, "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(extra_vars, handle)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "results_file",
        "ALBATROSS_TEST_RESULTS": results_file,
        "ANSIBLE_HOME": os.path.join(work, "home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work, "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    for key in [k for k in env if k.startswith("ALBATROSS_") and k != "ALBATROSS_TEST_RESULTS"]:
        del env[key]
    command = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, "-e", "@" + vars_file, os.path.join(HERE, "playbooks", name)]
    if diff:
        command.append("--diff")
    if check:
        command.append("--check")
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    records = []
    if os.path.exists(results_file):
        with open(results_file, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    return Results(records, proc.returncode, proc.stdout)
