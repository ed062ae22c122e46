# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake albatross Client holding unikernels in memory, and a runner for module logic.

The fake behaves like albatross 2.7.2 where the modules' decisions depend on it: restart
with new arguments keeps memory and cpus, destroy of a missing unikernel fails with
"destroy: not found", create of an existing one fails, info lists only running unikernels.
Every call is logged in ``calls``; ``mutations()`` lists the ones that change state.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.util
import os
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import CommandFailed
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDeviceInfo,
    NetworkInterfaceInfo,
    Policy,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
    Volume,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._common import ModuleSpec
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import ActionModuleAdapter, ModuleExit, validate_args

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
MUTATING = ("unikernel_create", "unikernel_destroy", "unikernel_restart", "block_add", "block_remove", "block_set")
CONNECTION = {"server": "127.0.0.1:1025", "client_cert_content": "CERT", "client_key_content": "KEY", "server_ca_content": "CA"}


def _load_make_images():
    spec = importlib.util.spec_from_file_location("albatross_test_make_images", os.path.join(ROOT, "images", "make_images.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_images = _load_make_images()


def make_image(blocks=(), networks=(), version: int = 1) -> bytes:
    return make_images.make_image(blocks=tuple(blocks), networks=tuple(networks), behaviour={"version": version})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeClient:
    path: tuple[str, ...] = ()  # the credentials' path (root)

    def __init__(self, policy: Policy | None = None, started: datetime.datetime | None = None) -> None:
        self.policy = policy or Policy(unikernels=10, cpuids=(0, 1), memory=1024, block=100, bridges=("service", "br0"))
        self.unikernels: dict[str, tuple[UnikernelInfo, bytes, bool]] = {}
        self.volumes: dict[str, tuple[int, bytes]] = {}
        self.calls: list[tuple[str, tuple, dict]] = []
        self.started = started or datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
        self.fail_next: dict[str, Exception] = {}
        # Albatross order of a force-create or restart: stop the old unikernel, then create; these fail the create.
        self.fail_after_stop: dict[str, Exception] = {}
        # The command is carried out, but its reply never arrives (connection lost after the upload).
        self.lose_reply: dict[str, Exception] = {}

    def _log(self, name: str, *args: t.Any, **kwargs: t.Any) -> None:
        self.calls.append((name, args, kwargs))
        if name in self.fail_next:
            raise self.fail_next.pop(name)

    def mutations(self) -> list[str]:
        return [call[0] for call in self.calls if call[0] in MUTATING]

    def call_names(self) -> list[str]:
        return [call[0] for call in self.calls]

    # --- unikernels -----------------------------------------------------------------

    def unikernel_info(self, name: str | None = None) -> list[UnikernelInfo]:
        self._log("unikernel_info", name)
        if name is None:
            return [entry[0] for entry in self.unikernels.values()]
        entry = self.unikernels.get(name)
        return [entry[0]] if entry else []

    def _info(self, name: str, args: UnikernelArguments, digest: bytes) -> UnikernelInfo:
        def mac(netif: str) -> str:
            raw = hashlib.md5((netif + ":" + name).encode()).digest()[:3]
            return "00:80:41:" + ":".join(f"{b:02x}" for b in raw)
        return UnikernelInfo(
            name=":" + name, typ="solo5", startup=args.startup, fail_behaviour=args.fail_behaviour.normalized(),
            cpuids=tuple(sorted(args.cpuids)), memory=args.memory, digest=digest,
            block_devices=tuple(BlockDeviceInfo(b.name, b.effective_host_device, b.effective_sector_size, 16)
                                for b in args.block_devices),
            network_interfaces=tuple(NetworkInterfaceInfo(n.name, n.effective_bridge, n.mac or mac(n.name))
                                     for n in args.network_interfaces),
            argv=args.argv, started=self.started, cpus=args.cpus,
        )

    def _stop_then(self, command: str, name: str) -> None:
        failure = self.fail_after_stop.pop(command, None)
        if failure is not None:
            self.unikernels.pop(name, None)
            raise failure

    def _reply(self, command: str, text: str) -> str:
        lost = self.lose_reply.pop(command, None)
        if lost is not None:
            raise lost
        return text

    def _next_start(self) -> datetime.datetime:
        """Every start gets its own time (one second after the previous one), as a real exec does."""
        started = self.started
        self.started += datetime.timedelta(seconds=1)
        return started

    def unikernel_create(self, name: str, config: UnikernelConfig, image: bytes, force: bool = False, compression: int = 0) -> str:
        self._log("unikernel_create", name, config, force=force, compression=compression)
        if name in self.unikernels and not force:
            raise CommandFailed("Unikernel with same name is already running")
        self._stop_then("unikernel_create", name)
        data = bytes(image)
        info = dataclasses.replace(self._info(name, config.arguments(), hashlib.sha256(data).digest()), started=self._next_start())
        self.unikernels[name] = (info, data, config.add_name)
        return self._reply("unikernel_create", "created unikernel")

    def unikernel_destroy(self, name: str) -> str:
        self._log("unikernel_destroy", name)
        if name not in self.unikernels:
            raise CommandFailed("destroy: not found")
        del self.unikernels[name]
        return "destroyed unikernel"

    def unikernel_restart(self, name: str, arguments: UnikernelArguments | None = None) -> str:
        self._log("unikernel_restart", name, arguments)
        if name not in self.unikernels:
            raise CommandFailed("destroy: not found")
        info, data, add_name = self.unikernels[name]
        self._stop_then("unikernel_restart", name)
        if arguments is not None:
            # 2.7.2: memory and cpus are kept from the old config.
            kept = dataclasses.replace(arguments, memory=info.memory, cpus=info.cpus)
            info = dataclasses.replace(self._info(name, kept, info.digest))
            add_name = arguments.add_name
        self.unikernels[name] = (dataclasses.replace(info, started=self._next_start()), data, add_name)
        return self._reply("unikernel_restart", "created unikernel")

    def unikernel_get(self, name: str, compression: int = 0) -> bytes:
        self._log("unikernel_get", name)
        if name not in self.unikernels:
            raise CommandFailed("get: no unikernel found")
        return self.unikernels[name][1]

    # --- volumes (enough for fleet) --------------------------------------------------

    def _active(self, label: str) -> bool:
        return any(b.host_device == label for entry in self.unikernels.values() for b in entry[0].block_devices)

    def block_info(self, name: str | None = None) -> list[Volume]:
        self._log("block_info", name)
        labels = [name] if name is not None else sorted(self.volumes)
        return [Volume(":" + label, self.volumes[label][0], self._active(label)) for label in labels if label in self.volumes]

    def block_add(self, name: str, size_mb: int) -> str:
        self._log("block_add", name, size_mb)
        if name in self.volumes:
            raise CommandFailed("block device with same name already exists")
        self.volumes[name] = (size_mb, b"")
        return "added block device"

    def block_remove(self, name: str) -> str:
        self._log("block_remove", name)
        if name not in self.volumes:
            raise CommandFailed("remove block: not found")
        del self.volumes[name]
        return "removed block"

    def block_set(self, name: str, data: t.Any, compression: int = 0) -> str:
        self._log("block_set", name)
        self.volumes[name] = (self.volumes[name][0], data if isinstance(data, bytes) else data.read())
        return "set block"

    def policy_info(self, path: str | None = None) -> list[tuple[str, Policy]]:
        self._log("policy_info", path)
        return [(":", self.policy)]


def run(spec: ModuleSpec, run_module: t.Callable, client: t.Any, args: dict, check_mode: bool = False,
        diff: bool = True, connection: bool = True) -> dict:
    """Validate ``args`` like the action plugin, run the logic, return the result dict."""
    full = dict(CONNECTION, **args) if connection else dict(args)
    checked = validate_args(spec, full)
    if checked.error:
        return {"failed": True, "msg": checked.error, "changed": False}
    module = ActionModuleAdapter(checked.params, check_mode=check_mode, diff_mode=diff)
    try:
        run_module(module, client)
    except ModuleExit as exc:
        result = exc.result
        if module.warnings:
            result["warnings"] = module.warnings
        return result
    raise AssertionError("module ended without exit_json/fail_json")
