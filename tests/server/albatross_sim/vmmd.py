# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""albatrossd: unikernel lifecycle and policies (Vmm_vmmd + albatrossd.ml), with simulated processes.

Waiters and the restarting set follow the real daemon, including its quirk that a destroyed or
restarted name stays in the restarting set (a second destroy answers "destroyed: removed from
restarting").
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import logging
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDeviceInfo, Image, NetworkInterfaceInfo, Policy, Success, UnikernelConfig, UnikernelInfo,
)

from . import elf, names, sim
from .console import Console
from .resources import MAX_INT, CommandError, Resources, Unikernel, policies_equal
from .stats import Stats

LOG = logging.getLogger("albatross-sim")
NEVER_RESTART = (1, 60, 61, 62, 63, 64)


@dataclass
class Options:
    cpus: int = 4
    memory: int = 4096
    block_mb: int = 10240
    bridges: Tuple[str, ...] = ("service", "br0")
    restart_delay: float = 0.5


def default_mac(name: names.Name, netif: str) -> str:
    digest = hashlib.md5((netif + names.to_string(name)).encode()).digest()
    return ":".join("%02x" % b for b in b"\x00\x80\x41" + digest[:3])


def uncompress(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error as exc:
        raise CommandError(str(exc)) from None


def should_restart(config, code: Optional[int]) -> bool:
    if code is None or code in NEVER_RESTART:
        return False
    fail = config.fail_behaviour
    return not fail.exit_codes or code in fail.exit_codes


class Vmmd:
    def __init__(self, options: Options, console: Console, stats: Stats) -> None:
        self.options = options
        self.console = console
        self.stats = stats
        self.res = Resources()
        self.root_policy = Policy(unikernels=MAX_INT, cpuids=tuple(range(options.cpus)), memory=options.memory,
                                  block=options.block_mb, bridges=tuple(sorted(set(options.bridges))))
        self.res.policies[((), None)] = self.root_policy
        self.waiters: Dict[str, Callable[[Optional[int]], None]] = {}
        self.restarting: set = set()
        self.procs: Dict[names.Name, sim.Process] = {}
        self.next_pid = 4200
        self.lock = asyncio.Lock()
        self.dump: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ policies
    def policy_add(self, path: names.Path, policy: Policy) -> str:
        current = self.res.find_policy(path)
        if current is not None and policies_equal(current, policy):
            return "no modification of policy"
        self.res.insert_policy(path, policy)
        self.dump()
        return "added policy"

    def policy_info(self, name: names.Name) -> Success:
        found = names.trie_fold(self.res.policies, name[0])
        return Success("policies", tuple((names.to_string(rel), p) for rel, p in found))

    # ------------------------------------------------------------------ info/get
    def _info(self, rel: names.Name, unikernel: Unikernel) -> UnikernelInfo:
        cfg = unikernel.config
        blocks = []
        for b in cfg.block_devices:
            # albatross looks the size up under the name it reports, which is relative for path queries
            found = self.res.find_block(names.block_name(rel, b.effective_host_device))
            blocks.append(BlockDeviceInfo(b.name, b.effective_host_device, b.effective_sector_size, found[0] if found else 0))
        nets = tuple(NetworkInterfaceInfo(n.name, n.effective_bridge, mac)
                     for n, (_tap, mac) in zip(cfg.network_interfaces, unikernel.taps))
        return UnikernelInfo(
            name=names.to_string(rel), typ=cfg.typ, startup=cfg.startup, fail_behaviour=cfg.fail_behaviour.normalized(),
            cpuids=tuple(sorted(set(cfg.cpuids))), memory=cfg.memory, digest=unikernel.digest, block_devices=tuple(blocks),
            network_interfaces=nets, argv=cfg.argv, started=unikernel.started, cpus=cfg.cpus if cfg.cpus is not None else 1,
            linux_boot_partition=cfg.linux_boot_partition)

    def info(self, name: names.Name, kind: str = "unikernel_info") -> Success:
        if name[1] is None:
            found = names.trie_fold(self.res.unikernels, name[0])
        else:
            unikernel = self.res.unikernels.get(name)
            found = [(name, unikernel)] if unikernel is not None else []
        return Success(kind, tuple(self._info(rel, u) for rel, u in found))

    def get(self, name: names.Name, level: int) -> Success:
        unikernel = self.res.unikernels.get(name)
        if unikernel is None:
            raise CommandError("get: no unikernel found")
        cfg = unikernel.config
        if cfg.compressed:
            if level > 0:
                return Success("unikernel_image", Image(True, cfg.image))
            return Success("unikernel_image", Image(False, uncompress(cfg.image)))
        if level == 0:
            return Success("unikernel_image", Image(False, cfg.image))
        if not 0 < level <= 9:
            raise ConnectionAbortedError("compression level out of range")
        return Success("unikernel_image", Image(True, zlib.compress(cfg.image, level)))

    # ------------------------------------------------------------------ create
    def _prepare(self, config: UnikernelConfig) -> Tuple[bytes, bytes]:
        """Vmm_unix.prepare: image checks in the daemon's order; returns (digest, image)."""
        if config.typ != "solo5":
            for kind, specs in (("network device on %s", config.network_interfaces), ("block device %s", config.block_devices)):
                for n, spec in enumerate(specs):
                    if spec.name != str(n):
                        dev = spec.effective_bridge if hasattr(spec, "bridge") else spec.effective_host_device
                        raise CommandError((kind % dev) + " with name %s not in ascending order (expected %d)" % (spec.name, n))
            disk = [b for b in config.block_devices if b.name == "0"]
            if not disk:
                raise CommandError("couldn't find initial block device")
            if disk[0].host_device is None:
                raise CommandError("no name for initial disk")
            raise CommandError("bhyve is not available on this host")
        image = config.image
        if config.compressed:
            try:
                image = zlib.decompress(image)
            except zlib.error as exc:
                raise CommandError("failed to uncompress: %s" % exc) from None
        digest = hashlib.sha256(image).digest()
        try:
            abi = elf.read_abi(image)
            if abi.target not in ("hvt", "spt"):
                raise CommandError("unsupported solo5 target %s" % abi.target)
            elf.devices_match(elf.read_manifest(image), [b.name for b in config.block_devices],
                              [n.name for n in config.network_interfaces])
        except elf.ElfError as exc:
            raise CommandError(str(exc)) from None
        for net in config.network_interfaces:
            if net.effective_bridge not in self.options.bridges:
                raise CommandError("interface %s does not exist" % net.effective_bridge)
        return digest, image

    def _taps(self, count: int) -> List[str]:
        used = {tap for u in self.res.unikernels.values() for tap, _mac in u.taps}
        taps = []
        n = 0
        while len(taps) < count:
            if "vmmtap%d" % n not in used:
                taps.append("vmmtap%d" % n)
            n += 1
        return taps

    async def create(self, name: names.Name, config: UnikernelConfig, needs_dump: bool = True) -> str:
        if name in self.res.unikernels:
            raise CommandError("Unikernel with same name is already running")
        self.res.check_unikernel(name, config)
        digest, image = self._prepare(config)
        if name[1] is None:
            # albatross-console refuses "console add" for a path, so the create fails here
            raise CommandError("could not create unikernel: console failed")
        taps = self._taps(len(config.network_interfaces))
        self.console.add(name, self.res.console_limit(name))
        macs = [n.mac or default_mac(name, n.name) for n in config.network_interfaces]
        argv = list(config.argv or ())
        if config.add_name:
            argv.insert(0, "--name=" + (name[1] if name[1] is not None else names.to_string(name)))
        cmd = ["taskset", "-c", ",".join(str(c) for c in sorted(set(config.cpuids))), "solo5-hvt", "--mem=%d" % config.memory]
        cmd += ["--net:%s=%s" % (n.name, t) for n, t in zip(config.network_interfaces, taps)]
        cmd += ["--net-mac:%s=%s" % (n.name, m) for n, m in zip(config.network_interfaces, macs)]
        cmd += ["--block:%s=block/%s" % (b.name, names.to_string(names.block_name(name, b.effective_host_device)))
                for b in config.block_devices]
        cmd += ["--block-sector-size:%s=%d" % (b.name, b.sector_size) for b in config.block_devices if b.sector_size is not None]
        cmd += ["--", names.to_string(name) + ".img"] + argv
        self.next_pid += 1
        unikernel = Unikernel(config=config, cmd=cmd, pid=self.next_pid, taps=list(zip(taps, macs)), digest=digest,
                              started=datetime.datetime.now(datetime.timezone.utc))
        self.res.insert_unikernel(name, unikernel)
        if needs_dump:
            self.dump()
        self.stats.add(name, config.memory, [n.name for n in config.network_interfaces], unikernel.started)
        key = names.to_string(name)
        if config.fail_behaviour.restart or config.add_name:
            if key in self.waiters:
                LOG.error("restart attempted to overwrite waiter")
            else:
                self.waiters[key] = lambda code: self._restart_task(name, unikernel, code)
        proc = sim.Process(name[1] or names.to_string(name), config.memory, argv, image, digest,
                           lambda data: self.console.write(name, data),
                           lambda code: self._exited(name, unikernel, code))
        self.procs[name] = proc
        await proc.start()
        LOG.info("created %s: %s", key, " ".join(cmd))
        return "created unikernel"

    # ------------------------------------------------------------------ exits
    def _exited(self, name: names.Name, unikernel: Unikernel, code: Optional[int]) -> None:
        """Process exit: handle_shutdown, then hand over to a registered waiter (if any)."""
        if self.res.unikernels.get(name) is not unikernel:
            return
        self.res.remove_unikernel(name)
        self.procs.pop(name, None)
        self.stats.remove(name)
        self.console.stopped(name)
        key = names.to_string(name)
        LOG.info("unikernel %s (PID %d) stopped with %s", key, unikernel.pid, "exit %d" % code if code is not None else "signal")
        waiter = self.waiters.pop(key, None)
        if waiter is None:
            self.dump()
            return
        self.restarting.add(key)
        waiter(code)

    def _restart_task(self, name: names.Name, unikernel: Unikernel, code: Optional[int]) -> None:
        async def run() -> None:
            await asyncio.sleep(self.options.restart_delay)
            async with self.lock:
                key = names.to_string(name)
                may = key in self.restarting
                self.restarting.discard(key)
                config = unikernel.config
                try:
                    if may and config.add_name and code == 64:
                        await self.create(name, dataclasses.replace(config, add_name=False), needs_dump=True)
                    elif may and config.fail_behaviour.restart and should_restart(config, code):
                        await self.create(name, config, needs_dump=False)
                    else:
                        self.dump()
                except CommandError as exc:
                    LOG.error("failed to restart %s: %s", key, exc)
        asyncio.get_running_loop().create_task(run())

    def _kill(self, name: names.Name) -> None:
        """SIGTERM and wait: the waiter registered by the caller takes over (register, Wait)."""
        unikernel = self.res.unikernels[name]
        proc = self.procs.get(name)
        if proc is not None:
            proc.terminate()
        self.waiters[names.to_string(name)] = lambda code: None
        self._exited(name, unikernel, None)

    def _stop_create(self, name: names.Name) -> str:
        key = names.to_string(name)
        if key in self.waiters:
            del self.waiters[key]
            return "destroyed: removed waiter"
        if key in self.restarting:
            self.restarting.discard(key)
            return "destroyed: removed from restarting"
        raise CommandError("destroy: not found")

    # ------------------------------------------------------------------ commands
    async def destroy(self, name: names.Name) -> str:
        if name not in self.res.unikernels:
            result = self._stop_create(name)
            self.dump()
            return result
        self._kill(name)
        self.dump()
        return "destroyed unikernel"

    async def force_create(self, name: names.Name, config: UnikernelConfig) -> str:
        resources = self.res.without(name) if name in self.res.unikernels else self.res
        resources.check_unikernel(name, config)
        if name in self.res.unikernels:
            self._kill(name)
        return await self.create(name, config)

    async def restart(self, name: names.Name, arguments) -> str:
        unikernel = self.res.unikernels.get(name)
        if unikernel is None:
            return self._stop_create(name)
        old = unikernel.config
        self.res.without(name).check_unikernel(name, old)
        config = old
        if arguments is not None:
            config = dataclasses.replace(old, **{f.name: getattr(arguments, f.name) for f in dataclasses.fields(arguments)})
        image = config.image
        if config.compressed:
            try:
                image = zlib.decompress(image)
            except zlib.error as exc:
                raise CommandError("failed to uncompress: %s" % exc) from None
        try:
            elf.devices_match(elf.read_manifest(image), [b.name for b in config.block_devices],
                              [n.name for n in config.network_interfaces])
        except elf.ElfError as exc:
            raise CommandError(str(exc)) from None
        self._kill(name)
        return await self.create(name, config)

    async def shutdown(self) -> None:
        for proc in list(self.procs.values()):
            proc.stop()
