# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource bookkeeping of albatrossd (Vmm_resources): policies, block devices, unikernels.

Failure texts are those of albatross 2.7; usage is computed with the same trie fold, so
the quirks of the real daemon (names and paths share one namespace) are kept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy, UnikernelConfig

from . import names

MAX_INT = (1 << 62) - 1


class CommandError(Exception):
    """A command failed; ``str(exc)`` is the failure text sent to the client."""


@dataclass
class Unikernel:
    """A running unikernel (Unikernel.t): the config plus what exec produced."""

    config: UnikernelConfig
    cmd: List[str]
    pid: int
    taps: List[Tuple[str, str]]  # (tap, mac) per bridge, in config order
    digest: bytes
    started: datetime.datetime
    extra: Dict[str, object] = field(default_factory=dict)


def host_bridges(config) -> List[str]:
    return [n.bridge if n.bridge is not None else n.name for n in config.network_interfaces]


def _ints(values) -> str:
    return ", ".join(str(v) for v in sorted(values))


def is_smaller(sup: Policy, sub: Policy) -> None:
    """Policy.is_smaller ~super ~sub."""
    if sup.unikernels < sub.unikernels:
        raise CommandError("policy above allows %d unikernels, which is fewer than %d" % (sup.unikernels, sub.unikernels))
    if sup.memory < sub.memory:
        raise CommandError("policy above allows %d MB memory, which is fewer than %d MB" % (sup.memory, sub.memory))
    if not set(sub.cpuids) <= set(sup.cpuids):
        raise CommandError("policy above does not allow CPUids %s" % _ints(set(sub.cpuids) - set(sup.cpuids)))
    if not set(sub.bridges) <= set(sup.bridges):
        raise CommandError("policy above allows bridge(s) %s, which is not a superset of %s"
                           % (", ".join(sorted(set(sup.bridges))), ", ".join(sorted(set(sub.bridges)))))
    block_ok = sub.block is None or (sup.block is not None and sup.block >= sub.block)
    if not block_ok:
        raise CommandError("policy above allows %d MB block storage, which is fewer than %d MB"
                           % (sup.block or 0, sub.block or 0))


def policies_equal(a: Policy, b: Policy) -> bool:
    return (a.unikernels == b.unikernels and set(a.cpuids) == set(b.cpuids) and a.memory == b.memory
            and a.block == b.block and set(a.bridges) == set(b.bridges))


class Resources:
    def __init__(self) -> None:
        self.policies: Dict[names.Name, Policy] = {}
        self.blocks: Dict[names.Name, List] = {}  # name -> [size MB, active]
        self.unikernels: Dict[names.Name, Unikernel] = {}

    # lookups -----------------------------------------------------------------
    def find_policy(self, path: names.Path) -> Optional[Policy]:
        return self.policies.get((path, None))

    def find_block(self, name: names.Name) -> Optional[Tuple[int, bool]]:
        entry = self.blocks.get(name)
        return (entry[0], entry[1]) if entry is not None else None

    def unikernel_usage(self, path: names.Path) -> Tuple[int, int]:
        found = names.trie_fold(self.unikernels, path)
        return len(found), sum(u.config.memory for _name, u in found)

    def block_usage(self, path: names.Path) -> int:
        return sum(entry[0] for _name, entry in names.trie_fold(self.blocks, path))

    def console_limit(self, name: names.Name) -> int:
        """Vmm_resources.unikernels: ring buffers allowed for the path (console add)."""
        if not name[0]:
            return MAX_INT
        policy = self.find_policy(name[0])
        return policy.unikernels if policy is not None else 0

    # unikernels ----------------------------------------------------------------
    def _block_names(self, name: names.Name, config) -> List[names.Name]:
        return [names.block_name(name, b.effective_host_device) for b in config.block_devices]

    def check_unikernel(self, name: names.Name, config) -> None:
        policy = self.find_policy(name[0])
        if policy is not None:
            running, memory = self.unikernel_usage(name[0])
            if running + 1 > policy.unikernels:
                raise CommandError("maximum amount of unikernels (%d) reached" % policy.unikernels)
            if config.memory > policy.memory - memory:
                raise CommandError("maximum allowed memory (%d, used %d) would be exceeded (requesting %d)"
                                   % (policy.memory, memory, config.memory))
            if not set(config.cpuids) <= set(policy.cpuids):
                raise CommandError("CPUids %s are not allowed by policy" % _ints(set(config.cpuids) - set(policy.cpuids)))
            disallowed = [b for b in host_bridges(config) if b not in set(policy.bridges)]
            if disallowed:
                raise CommandError("bridges %s not allowed by policy" % ", ".join(disallowed))
        for block in self._block_names(name, config):
            entry = self.find_block(block)
            if entry is None:
                raise CommandError("block device %s not found" % names.to_string(block))
            if entry[1]:
                raise CommandError("block device %s already in use" % names.to_string(block))
        if name in self.unikernels:
            raise CommandError("unikernel with same name already exists")

    def without(self, name: names.Name) -> "Resources":
        """A copy with the unikernel removed and its block devices inactive (remove_unikernel)."""
        copy = Resources()
        copy.policies = dict(self.policies)
        copy.blocks = {k: list(v) for k, v in self.blocks.items()}
        copy.unikernels = dict(self.unikernels)
        copy.remove_unikernel(name)
        return copy

    def insert_unikernel(self, name: names.Name, unikernel: Unikernel) -> None:
        self.unikernels[name] = unikernel
        for block in self._block_names(name, unikernel.config):
            if block in self.blocks:
                self.blocks[block][1] = True

    def remove_unikernel(self, name: names.Name) -> Optional[Unikernel]:
        unikernel = self.unikernels.pop(name, None)
        if unikernel is not None:
            for block in self._block_names(name, unikernel.config):
                if block in self.blocks:
                    self.blocks[block][1] = False
        return unikernel

    # block devices -------------------------------------------------------------
    def check_block(self, name: names.Name, size: int) -> None:
        if name in self.blocks:
            raise CommandError("block device with name %s already exists" % names.pp(name))
        policy = self.find_policy(name[0])
        if policy is None:
            return
        used = self.block_usage(name[0])
        if policy.block is None:
            raise CommandError("no block devices are allowed by policy")
        if size > policy.block - used:
            raise CommandError("block device policy limit of %d MB (used %d MB) would be exceeded by the request (%d MB)"
                               % (policy.block, used, size))

    # policies --------------------------------------------------------------------
    def insert_policy(self, path: names.Path, policy: Policy) -> None:
        prefix = path[:-1]
        while prefix:
            above = self.find_policy(prefix)
            if above is not None:
                is_smaller(above, policy)
            prefix = prefix[:-1]
        for rel, below in names.trie_fold(self.policies, path):
            if rel != ((), None):
                is_smaller(policy, below)
        self._check_usage(path, policy)
        self.policies[(path, None)] = policy

    def _check_usage(self, path: names.Path, policy: Policy) -> None:
        found = names.trie_fold(self.unikernels, path)
        count = len(found)
        memory = sum(u.config.memory for _name, u in found)
        block = self.block_usage(path)
        bridges = set()
        cpuids = set()
        for _name, unikernel in found:
            bridges.update(host_bridges(unikernel.config))
            cpuids.update(unikernel.config.cpuids)
        if not cpuids <= set(policy.cpuids):
            raise CommandError("policy does not allow CPUids %s" % _ints(cpuids - set(policy.cpuids)))
        if not bridges <= set(policy.bridges):
            raise CommandError("policy allows bridges %s, which is not a superset of %s"
                               % (", ".join(sorted(set(policy.bridges))), ", ".join(sorted(bridges))))
        if count > policy.unikernels:
            raise CommandError("unikernel would exceed running unikernel limit set by policy to %d, running %d"
                               % (policy.unikernels, count))
        if memory > policy.memory:
            raise CommandError("unikernel would exceed running memory limit set by policy to %d MB, used %d MB"
                               % (policy.memory, memory))
        policy_block = policy.block or 0
        if block > policy_block:
            raise CommandError("unikernel would exceed running block storage limit set by policy to %d MB, used %d MB"
                               % (policy_block, block))
