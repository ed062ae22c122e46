# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the host-side tests: network namespaces and ansible-playbook runs with captured results."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
BIN = os.path.dirname(sys.executable)
CALLBACKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")
RECAP_RE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
                      r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


def namespace_skip_reason() -> Optional[str]:
    """Why network namespace tests cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CI runs these tests as root)"
    if shutil.which("ip") is None:
        return "the ip command is missing (install iproute2)"
    return None


def require_namespaces() -> None:
    reason = namespace_skip_reason()
    if reason:
        pytest.skip(reason)


class Namespace:
    """A throw-away network namespace; nothing done inside touches the host's interfaces."""

    def __init__(self) -> None:
        self.name = "albtest-" + secrets.token_hex(4)
        proc = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip("cannot create a network namespace here: %s" % proc.stderr.strip())
        self.ip("link", "set", "dev", "lo", "up")

    def prefix(self) -> List[str]:
        return ["ip", "netns", "exec", self.name]

    def ip(self, *args: str) -> str:
        proc = subprocess.run(self.prefix() + ["ip"] + list(args), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError("ip %s failed: %s" % (" ".join(args), proc.stderr.strip()))
        return proc.stdout

    def links(self) -> Dict[str, Dict[str, Any]]:
        return {link["ifname"]: link for link in json.loads(self.ip("-j", "-d", "addr", "show"))}

    def addresses(self, name: str) -> List[str]:
        link = self.links()[name]
        return sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", []) if a.get("scope") != "link")

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: List[Dict[str, Any]] = field(default_factory=list)

    def recap(self) -> Dict[str, Dict[str, int]]:
        return {m.group("host"): {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP_RE.finditer(self.stdout)}

    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap().values())

    def result(self, task: str) -> Dict[str, Any]:
        found = [r for r in self.results if r["task"] == task or r["task"].endswith(" : " + task)]
        if len(found) != 1:
            raise AssertionError("expected one result of task %r, found %d:\n%s" % (task, len(found), self.stdout))
        return found[0]

    def explain(self) -> str:
        return "rc=%d\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


def write_inventory(path: str, hosts: Optional[Dict[str, Dict[str, Any]]] = None) -> str:
    """A YAML inventory with local connections and the venv's interpreter (discovery is unreliable here)."""
    hosts = hosts or {"target": {}}
    inventory = {"all": {"hosts": {}}}
    for name, variables in hosts.items():
        entry = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        entry.update(variables)
        inventory["all"]["hosts"][name] = entry
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle)
    return path


def run_playbook(playbook: str, inventory: str, workdir: str, extra_vars: Optional[Dict[str, Any]] = None,
                 namespace: Optional[Namespace] = None, args: Optional[List[str]] = None, timeout: int = 300) -> PlaybookRun:
    results = os.path.join(workdir, "results-%s.jsonl" % secrets.token_hex(4))
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
        "ANSIBLE_CALLBACKS_ENABLED": "results_file",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, ".ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(workdir, ".ansible-tmp"),
        "ANSIBLE_HOME": os.path.join(workdir, ".ansible-home"),
        "ALBATROSS_TEST_RESULTS": results,
    })
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook] + list(args or [])
    if extra_vars:
        vars_file = os.path.join(workdir, "vars-%s.json" % secrets.token_hex(4))
        with open(vars_file, "w", encoding="utf-8") as handle:
            json.dump(extra_vars, handle)
        cmd += ["-e", "@" + vars_file]
    if namespace is not None:
        cmd = namespace.prefix() + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout, check=False)
    records = []
    if os.path.exists(results):
        with open(results, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, records)
