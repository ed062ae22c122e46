# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""albatross-console: per-unikernel ring buffers of 1024 lines and their subscribers."""

from __future__ import annotations

import collections
import datetime
from typing import Deque, Dict, List, Optional, Tuple

from . import names

RING_SIZE = 1024
MAX_LINE = 512


class Subscriber:
    """One streaming client; the endpoint implements ``push`` and ``drop``."""

    def push(self, name: names.Name, timestamp: datetime.datetime, line: bytes) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError


Ring = Deque[Tuple[datetime.datetime, bytes]]


class _Entry:
    __slots__ = ("subs", "active", "ring")

    def __init__(self, subs: List[Subscriber], active: bool, ring: Optional[Ring]) -> None:
        self.subs = subs  # newest first, as the real daemon prepends
        self.active = active
        self.ring = ring


def new_ring() -> Ring:
    return collections.deque(maxlen=RING_SIZE)


def split_output(data: bytes) -> List[bytes]:
    """Line handling of read_console for output that arrives in one piece."""
    lines = []
    for line in data.split(b"\n"):
        if len(line) >= MAX_LINE:
            line = line[:MAX_LINE] + b" [truncated]"
        if line:
            lines.append(line)
    return lines


class Console:
    def __init__(self, max_subscribers: int = 5) -> None:
        self.max_subscribers = max_subscribers
        # path -> (ring buffers allowed for the path, label -> entry)
        self.state: Dict[names.Path, Tuple[int, Dict[str, _Entry]]] = {}
        self.changed = False

    def _lookup(self, name: names.Name) -> Optional[_Entry]:
        found = self.state.get(name[0])
        return found[1].get(name[1]) if found is not None else None

    def _maybe_drop(self, limit: int, entries: Dict[str, _Entry]) -> None:
        # one more than the limit is allowed; then the smallest inactive label goes
        if len(entries) > limit:
            inactive = sorted(lbl for lbl, e in entries.items() if not e.active)
            if inactive:
                for sub in entries[inactive[0]].subs:
                    sub.drop()
                del entries[inactive[0]]

    def add(self, name: names.Name, limit: int) -> None:
        """Console add (vmmd, at create): the console becomes active, keeping an old ring."""
        path, lbl = name
        found = self.state.get(path)
        if found is None:
            self.state[path] = (limit, {lbl: _Entry([], True, new_ring())})
            return
        entries = found[1]
        entry = entries.get(lbl)
        if entry is None:
            entries[lbl] = _Entry([], True, new_ring())
            self._maybe_drop(limit, entries)
        else:
            entry.active = True
            if entry.ring is None:
                entry.ring = new_ring()
        self.state[path] = (limit, entries)

    def stopped(self, name: names.Name) -> None:
        entry = self._lookup(name)
        if entry is not None:
            entry.active = False

    def write(self, name: names.Name, data: bytes, now: Optional[datetime.datetime] = None) -> None:
        entry = self._lookup(name)
        if entry is None or entry.ring is None:
            return
        now = now or datetime.datetime.now(datetime.timezone.utc)
        for line in split_output(data):
            entry.ring.append((now, line))
            for sub in list(entry.subs):
                sub.push(name, now, line)
        self.changed = True

    def subscribe(self, sub: Subscriber, name: names.Name) -> Tuple[Optional[Ring], str]:
        path, lbl = name
        found = self.state.get(path)
        if found is None:
            self.state[path] = (1, {lbl: _Entry([sub], False, None)})
            return None, "waiting for VM"
        limit, entries = found
        entry = entries.get(lbl)
        if entry is None:
            entries[lbl] = _Entry([sub], False, None)
            self._maybe_drop(limit, entries)
            return None, "waiting for VM"
        if len(entry.subs) - 1 >= self.max_subscribers:
            entry.subs.pop().drop()
        entry.subs.insert(0, sub)
        if entry.ring is None:
            return None, "waiting for VM"
        return entry.ring, "subscribed"

    def unsubscribe(self, sub: Subscriber, name: names.Name) -> None:
        path, lbl = name
        found = self.state.get(path)
        if found is None or lbl not in found[1]:
            return
        entry = found[1][lbl]
        entry.subs = [s for s in entry.subs if s is not sub]
        if not entry.active and entry.ring is None and not entry.subs:
            del found[1][lbl]
        if not found[1]:
            del self.state[path]

    def list_inactive(self, path: names.Path) -> List[str]:
        result: List[str] = []
        # the trie fold's call order is the reverse of its result order
        for rel_path, (_limit, entries) in reversed(names.trie_fold({(p, None): v for p, v in self.state.items()}, path)):
            for lbl in sorted(entries):
                entry = entries[lbl]
                if not entry.active and entry.ring is not None:
                    result.insert(0, names.to_string((rel_path[0], lbl)))
        return result

    # persistence ---------------------------------------------------------------
    def dump(self) -> Dict[str, List[Tuple[str, str]]]:
        out = {}
        for path, (_limit, entries) in self.state.items():
            for lbl, entry in entries.items():
                if entry.ring is not None:
                    out[names.to_string((path, lbl))] = [(ts.isoformat(), line.hex()) for ts, line in entry.ring]
        return out

    def restore(self, data: Dict[str, List[Tuple[str, str]]]) -> None:
        for text, lines in data.items():
            path, lbl = names.of_string(text)
            ring = new_ring()
            for ts, line in lines:
                ring.append((datetime.datetime.fromisoformat(ts), bytes.fromhex(line)))
            entries = self.state.setdefault(path, (1, {}))[1]
            entries[lbl] = _Entry([], False, ring)


def history(ring: Ring, count: Optional[int], since: Optional[datetime.datetime]) -> List[Tuple[datetime.datetime, bytes]]:
    """Vmm_ring.read_last / read_history."""
    entries = list(ring)
    if since is not None:
        start = len(entries)
        while start > 0 and not entries[start - 1][0] < since:
            start -= 1
        return entries[start:]
    n = min(count or 0, RING_SIZE)
    if n < 0:
        return entries  # the real ring walk never reaches 0 and returns everything (or loops when full)
    return entries[max(len(entries) - n, 0):] if n > 0 else []
