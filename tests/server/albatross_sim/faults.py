# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault switches of the test server, read from ``STATE_DIR/faults.json`` on every connection.

Tests change the switches while the server runs (``ServerInfo.set_faults``), so one playbook run can
meet a dropped upload, a stalled endpoint or a restart of the server between two of its commands.
The file holds a list of rules::

    [{"fault": "drop_upload", "command": "unikernel force-create", "nth": 1, "after_bytes": 4096},
     {"fault": "restart", "command": "unikernel get"},
     {"fault": "refuse", "stage": "accept", "nth": 2}]

The occurrence counters live in ``faults.counts.json`` next to it: they survive a restart of the
server (so "the first get" does not fire again afterwards) and start from zero whenever the rules
change. Every fault that fires is appended to ``faults.log`` (one JSON object a line).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

FAULTS_FILE = "faults.json"
COUNTS_FILE = "faults.counts.json"
LOG_FILE = "faults.log"

#: fault -> the stages it can apply to ("accept": TCP accepted, before the TLS handshake;
#: "command": after the handshake, once the command of the client certificate is known)
KINDS = {
    "drop_upload": ("command",),
    "drop_reply": ("command",),
    "stall": ("accept", "command"),
    "garbage": ("accept", "command"),
    "refuse": ("accept", "command"),
    "restart": ("command",),
    "fail": ("command",),
}

#: short names a rule may use for a command (the others are the model's kinds, e.g. "block_info")
ALIASES = {
    "info": "unikernel_info",
    "create": "unikernel_create",
    "force_create": "unikernel_force_create",
    "get": "unikernel_get",
    "destroy": "unikernel_destroy",
    "restart": "unikernel_restart",
    "console": "console_subscribe",
    "stats": "stats_subscribe",
}

DEFAULT_GARBAGE = {
    # a well-framed message whose content is not DER: the client must call it a protocol error
    "command": len(b"\xff\x0dnot albatross").to_bytes(4, "big") + b"\xff\x0dnot albatross",
    # not a TLS ServerHello
    "accept": b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
}


class FaultSpecError(ValueError):
    """A rule of faults.json that the server cannot apply."""


def command_key(text: str) -> str:
    """``"unikernel force-create"`` and ``"unikernel_force_create"`` -> ``"unikernel_force_create"``."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key, key)


def kind_key(kind: str) -> str:
    """The command a model kind belongs to: the old wire forms count as the current one."""
    for suffix in ("_old2", "_old4", "_old5", "_old"):
        if kind.endswith(suffix):
            return kind[: -len(suffix)]
    return kind


@dataclass(frozen=True)
class Fault:
    """One rule; ``index`` is its position in faults.json (the key of its counter)."""

    index: int
    fault: str
    stage: str
    command: Optional[str]
    nth: Optional[int]
    after_bytes: int
    seconds: float
    message: str
    data: bytes

    def matches(self, stage: str, kind: Optional[str]) -> bool:
        if stage != self.stage:
            return False
        return self.command is None or (kind is not None and self.command == kind_key(kind))

    def describe(self) -> Dict[str, Any]:
        return {"fault": self.fault, "stage": self.stage, "command": self.command, "nth": self.nth}


def parse(rules: Any) -> List[Fault]:
    """The rules of faults.json; raises FaultSpecError naming the bad rule."""
    if rules is None:
        return []
    if isinstance(rules, dict):
        rules = [rules]
    if not isinstance(rules, list):
        raise FaultSpecError("faults.json must hold a list of rules")
    result = []
    for index, rule in enumerate(rules):
        where = "faults[%d]" % index
        if not isinstance(rule, dict):
            raise FaultSpecError("%s: expected an object" % where)
        unknown = sorted(set(rule) - {"fault", "stage", "command", "nth", "after_bytes", "seconds", "message", "data", "hex"})
        if unknown:
            raise FaultSpecError("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
        kind = rule.get("fault")
        if kind not in KINDS:
            raise FaultSpecError("%s: fault must be one of %s" % (where, ", ".join(sorted(KINDS))))
        command = rule.get("command")
        command = None if command in (None, "*", "any") else command_key(str(command))
        stage = rule.get("stage") or "command"
        if stage not in KINDS[kind]:
            raise FaultSpecError("%s: %s applies to stage %s, not %s" % (where, kind, " or ".join(KINDS[kind]), stage))
        if stage == "accept" and command is not None:
            raise FaultSpecError("%s: the command is not known before the TLS handshake (stage accept)" % where)
        nth = rule.get("nth")
        if nth in ("every", "all"):
            nth = None
        if nth is not None and (not isinstance(nth, int) or nth < 1):
            raise FaultSpecError("%s: nth must be a positive integer or \"every\"" % where)
        if "hex" in rule:
            data = bytes.fromhex(rule["hex"])
        elif "data" in rule:
            data = str(rule["data"]).encode("utf-8")
        else:
            data = DEFAULT_GARBAGE[stage]
        seconds = float(rule.get("seconds", 60.0 if kind == "stall" else 0.0))
        result.append(Fault(index=index, fault=kind, stage=stage, command=command, nth=nth,
                            after_bytes=int(rule.get("after_bytes", 0)), seconds=seconds,
                            message=str(rule.get("message", "fault injected by the test server")), data=data))
    return result


class Faults:
    """The switches of one state directory."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, FAULTS_FILE)
        self.counts_path = os.path.join(state_dir, COUNTS_FILE)
        self.log_path = os.path.join(state_dir, LOG_FILE)

    def _load(self):
        try:
            with open(self.path, "rb") as handle:
                text = handle.read()
        except FileNotFoundError:
            return "", []
        if not text.strip():
            return "", []
        stamp = hashlib.sha256(text).hexdigest()
        return stamp, parse(json.loads(text))

    def _counts(self, stamp: str) -> Dict[str, int]:
        try:
            with open(self.counts_path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (FileNotFoundError, ValueError):
            return {}
        return data.get("counts", {}) if data.get("rules") == stamp else {}

    def _save_counts(self, stamp: str, counts: Dict[str, int]) -> None:
        tmp = self.counts_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"rules": stamp, "counts": counts}, handle)
        os.replace(tmp, self.counts_path)

    def take(self, stage: str, kind: Optional[str] = None) -> Optional[Fault]:
        """Count this connection (stage ``accept``) or command against every rule it matches and
        return the first rule that fires for it, or None. A broken faults.json is logged and ignored."""
        try:
            stamp, rules = self._load()
        except (ValueError, FaultSpecError) as exc:
            self._log({"error": "faults.json ignored: %s" % exc})
            return None
        matching = [rule for rule in rules if rule.matches(stage, kind)]
        if not matching:
            return None
        counts = self._counts(stamp)
        fired = None
        for rule in matching:
            seen = counts.get(str(rule.index), 0) + 1
            counts[str(rule.index)] = seen
            if fired is None and (rule.nth is None or rule.nth == seen):
                fired = rule
                self._log(dict(rule.describe(), kind=kind, occurrence=seen))
        self._save_counts(stamp, counts)
        return fired

    def _log(self, entry: Dict[str, Any]) -> None:
        entry["time"] = time.time()
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
