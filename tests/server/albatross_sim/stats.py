# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""albatross-stats: subscriptions and synthetic samples of the simulated unikernels (Linux layout)."""

from __future__ import annotations

import datetime
from typing import Dict, List, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    IfData, KinfoMem, Rusage, Statistics, Timeval,
)

from . import names

PAGE = 4096


class StatsSubscriber:
    def push(self, header_name: names.Name, stats: Statistics) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError


def _timeval(seconds: float) -> Timeval:
    whole = int(seconds)
    return Timeval(whole, int((seconds - whole) * 1_000_000))


def sample(memory: int, netifs: List[str], started: datetime.datetime, tick: int,
           now: Optional[datetime.datetime] = None) -> Statistics:
    """A plausible sample: Linux semantics (rss in pages, runtime in us), grows with uptime."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    uptime = max((now - started).total_seconds(), 0.0)
    utime = round(uptime * 0.01, 2)
    stime = round(uptime * 0.002, 2)
    rss_pages = (memory * 1024 * 1024) // PAGE // 4 + 64
    rusage = Rusage(utime=_timeval(utime), stime=_timeval(stime), maxrss=rss_pages, minflt=1000 + tick,
                    majflt=0, nswap=0, nvcsw=10 + tick, nivcsw=tick)
    kinfo = KinfoMem(vsize=memory * 1024 * 1024 + 16 * 1024 * 1024, rss=rss_pages, tsize=128, dsize=rss_pages - 128,
                     ssize=rss_pages - 128, runtime=int((utime + stime) * 1_000_000), cow=0,
                     start=_timeval(started.timestamp()))
    ifdata = tuple(
        IfData(name=netif, flags=0x1043, send_length=0, max_send_length=1000, send_drops=0, mtu=1500,
               baudrate=10_000_000, input_packets=tick * 3, output_packets=tick * 2, input_bytes=tick * 300,
               output_bytes=tick * 200)
        for netif in netifs)
    return Statistics(rusage=rusage, ifdata=ifdata, vmm=None, kinfo_mem=kinfo)


class Stats:
    def __init__(self) -> None:
        self.subscribers: Dict[names.Name, StatsSubscriber] = {}
        # registered running unikernels: name -> (memory, netifs, started)
        self.vmids: Dict[names.Name, Tuple[int, List[str], datetime.datetime]] = {}
        self.ticks = 0

    def subscribe(self, name: names.Name, sub: StatsSubscriber) -> None:
        """A new subscription for the same name closes the previous one."""
        old = self.subscribers.get(name)
        self.subscribers[name] = sub
        if old is not None and old is not sub:
            old.drop()

    def unsubscribe(self, name: names.Name, sub: StatsSubscriber) -> None:
        if self.subscribers.get(name) is sub:
            del self.subscribers[name]

    def add(self, name: names.Name, memory: int, netifs: List[str], started: datetime.datetime) -> None:
        self.vmids[name] = (memory, list(netifs), started)

    def remove(self, name: names.Name) -> None:
        self.vmids.pop(name, None)

    def tick(self) -> None:
        self.ticks += 1
        keys = list(self.subscribers)
        for vmid in sorted(self.vmids, key=names.sort_key):
            listeners = names.collect(keys, vmid)
            if not listeners:
                continue
            memory, netifs, started = self.vmids[vmid]
            stats = sample(memory, netifs, started, self.ticks)
            for key in listeners:
                sub = self.subscribers.get(key)
                if sub is not None:
                    sub.push(names.drop_prefix(vmid, key[0]), stats)
