# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook (and the other ansible commands) of this venv for the integration tests.

Every playbook run gets a fresh directory below the test's tmp_path holding its inventory, extra vars,
ANSIBLE_HOME and the task results the results_file callback writes (one JSON line per result).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Optional, Sequence

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = os.path.join(HERE, "playbooks")
BIN = os.path.dirname(sys.executable)
TIMEOUT = 300
RECAP_RE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
                      r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


def _collections_path() -> str:
    # ansible-test and CI check the collection out at .../ansible_collections/<ns>/<name> already.
    above = os.path.dirname(os.path.dirname(ROOT))
    if os.path.basename(above) == "ansible_collections":
        return os.path.dirname(above)
    return os.path.join(ROOT, ".build", "collections")


COLLECTIONS = _collections_path()


class Results:
    """Task results of one ansible-playbook run; ``output`` is its stdout and stderr together."""

    def __init__(self, records: list[dict[str, Any]], returncode: int, output: str) -> None:
        self.records = records
        self.returncode = returncode
        self.output = output
        self.by_task = {r["task"]: r for r in records}  # a task name run more than once keeps its last result

    def __getitem__(self, task: str) -> dict[str, Any]:
        if task not in self.by_task:
            raise KeyError("no result for task %r; ansible-playbook said:\n%s" % (task, self.output[-4000:]))
        return self.by_task[task]["result"]

    def status(self, task: str) -> str:
        if task not in self.by_task:
            raise KeyError("no result for task %r" % task)
        return self.by_task[task]["status"]

    def record(self, task: str) -> dict[str, Any]:
        """The one record (task, host, status, result) of ``task``, also when it is named ``role : task``."""
        found = [r for r in self.records if r["task"] == task or r["task"].endswith(" : " + task)]
        if len(found) != 1:
            raise AssertionError("expected one result of task %r, found %d:\n%s" % (task, len(found), self.output[-6000:]))
        return found[0]

    def changed(self) -> int:
        """Changed tasks of all hosts, from the play recap."""
        return sum(int(m.group("changed")) for m in RECAP_RE.finditer(self.output))


def connection_vars(server: Any) -> dict[str, str]:
    """The connection options of a ServerInfo as the albatross_* variables the test playbooks pass on."""
    return {"albatross_server": server.address, "albatross_server_ca": str(server.server_ca),
            "albatross_client_cert": str(server.client_cert), "albatross_client_key": str(server.client_key)}


def environment(work: Optional[str] = None, env: Optional[dict[str, str]] = None) -> dict[str, str]:
    """os.environ without ANSIBLE_* and ALBATROSS_* (so nothing from outside leaks in), the test settings, then ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ALBATROSS_"))}
    environ.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    if work:
        environ.update({"ANSIBLE_HOME": os.path.join(work, "home"), "ANSIBLE_LOCAL_TEMP": os.path.join(work, "tmp"),
                        "ANSIBLE_REMOTE_TEMP": os.path.join(work, "tmp")})
    environ.update(env or {})
    return environ


def _write_json(path: str, value: Any) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    return path


def run_playbook(playbook: str, tmp_path: Any, extra_vars: Optional[dict[str, Any]] = None,
                 hosts: Optional[dict[str, dict[str, Any]]] = None, check: bool = False, diff: bool = True,
                 env: Optional[dict[str, str]] = None, prefix: Sequence[str] = ()) -> Results:
    """Run ``playbook`` (a file of tests/integration/playbooks, or a path) on ``hosts`` (host -> variables).

    Every host (default: localhost alone) gets a local connection and this venv's python, as interpreter
    discovery is unreliable here. ``env`` adds to the environment; ``prefix`` goes before the command
    (``ip netns exec NAME``).
    """
    os.makedirs(str(tmp_path), exist_ok=True)
    work = tempfile.mkdtemp(prefix="ansible-%s-" % os.path.splitext(os.path.basename(playbook))[0], dir=str(tmp_path))
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {name: dict(local, **variables) for name, variables in (hosts or {"localhost": {}}).items()}}}
    results = os.path.join(work, "results.jsonl")
    command = list(prefix) + [
        os.path.join(BIN, "ansible-playbook"),
        "-i", _write_json(os.path.join(work, "inventory.json"), inventory),
        "-e", "@" + _write_json(os.path.join(work, "vars.json"), extra_vars or {}),
        os.path.join(PLAYBOOKS, playbook),
    ] + (["--diff"] if diff else []) + (["--check"] if check else [])
    environ = environment(work, dict({
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "results_file",
        "ALBATROSS_TEST_RESULTS": results,
        "ANSIBLE_PIPELINING": "1",
    }, **(env or {})))
    proc = subprocess.run(command, env=environ, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT, check=False)
    records = []
    if os.path.exists(results):
        with open(results, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    return Results(records, proc.returncode, proc.stdout)


def run_ansible(*args: str, env: Optional[dict[str, str]] = None, check: bool = True, stdin: Optional[str] = None,
                timeout: int = 120) -> subprocess.CompletedProcess:
    """Another command of this venv (``ansible-inventory``, ``ansible-vault`` ...); stdout and stderr kept apart."""
    proc = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), input=stdin, capture_output=True, text=True,
                          env=environment(env=env), timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc
