# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted, stateful stand-in for the albatross Client, for the module logic tests."""

from __future__ import annotations

import dataclasses
import typing as t

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import names
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import CommandFailed
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy, Volume
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import ActionModuleAdapter, ModuleExit, validate_args

MB = 1 << 20
ROOT_POLICY = Policy(unikernels=1000, cpuids=(0, 1, 2, 3), memory=8192, block=10000, bridges=("service",))


@dataclasses.dataclass
class Signer:
    path: tuple = ()
    policy: Policy | None = None


class FakeClient:
    """Volumes, unikernels and policies at the root path (or under ``signer.path``)."""

    def __init__(self, signer_path: tuple = (), signer_policy: Policy | None = None) -> None:
        self.signer = Signer(signer_path, signer_policy)
        self.path = signer_path
        self.volumes: dict[str, tuple[int, bytes]] = {}
        self.active: set[str] = set()
        self.unikernels: list = []
        self.policies: dict[tuple, Policy] = {(): ROOT_POLICY} if not signer_path else {signer_path: signer_policy}
        self.console_lines: list = []
        self.samples: list = []
        self.calls: list[tuple] = []
        self.fail_next: dict[str, str] = {}

    def _full(self, label: str) -> str:
        return names.name_to_string(self.path, label)

    def _record(self, *call: t.Any) -> None:
        self.calls.append(call)
        message = self.fail_next.pop(call[0], None)
        if message is not None:
            raise CommandFailed(message)

    def mutations(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("block_add", "block_remove", "block_set", "install_policy")]

    # volumes
    def block_info(self, name: str | None = None) -> list[Volume]:
        self._record("block_info", name)
        return [Volume(self._full(label), size, label in self.active)
                for label, (size, dummy) in sorted(self.volumes.items()) if name is None or label == name]

    def block_add(self, name: str, size_mb: int) -> str:
        self._record("block_add", name, size_mb)
        if name in self.volumes:
            raise CommandFailed("block device with same name already exists")
        self.volumes[name] = (size_mb, bytes(size_mb * MB))
        return "added block device"

    def block_remove(self, name: str) -> str:
        self._record("block_remove", name)
        if name not in self.volumes:
            raise CommandFailed("remove block: not found")
        if name in self.active:
            raise CommandFailed("remove block: is in use")
        del self.volumes[name]
        return "removed block"

    def block_set(self, name: str, data, compression: int = 0) -> str:
        content = data.read() if hasattr(data, "read") else bytes(data)
        self._record("block_set", name, len(content), compression)
        size, dummy = self.volumes[name]
        if len(content) > size * MB:
            raise CommandFailed("stream exceeds size")
        self.volumes[name] = (size, content + bytes(size * MB - len(content)))
        return "set block device"

    def block_dump(self, name: str, out, compression: int = 0) -> int:
        self._record("block_dump", name, compression)
        if name not in self.volumes:
            raise CommandFailed("dump block: not found")
        if name in self.active:
            raise CommandFailed("dump block: is in use")
        content = self.volumes[name][1]
        for start in range(0, len(content), 1 << 16):
            out.write(content[start:start + (1 << 16)])
        return len(content)

    # unikernels
    def unikernel_info(self, name: str | None = None) -> list:
        self._record("unikernel_info", name)
        return [u for u in self.unikernels if name is None or names.parse_name(u.name)[1] == name]

    # policies
    def policy_info(self, path: str | None = None) -> list[tuple[str, Policy]]:
        self._record("policy_info", path)
        wanted = self.path + (names.parse_path(path) if path else ())
        return [(names.name_to_string(p), pol) for p, pol in sorted(self.policies.items()) if p[:len(wanted)] == wanted]

    def install_policy(self, path: str, policy: Policy) -> list[tuple[str, Policy]]:
        self._record("install_policy", path, policy)
        target = self.path + names.parse_path(path)
        self.policies[target] = policy.normalized()
        return [(names.name_to_string(p), pol) for p, pol in sorted(self.policies.items()) if p[:len(target)] == target]

    # console and statistics
    def console(self, name: str, count=None, since=None, wait: float = 0.0) -> list:
        self._record("console", name, count, since, wait)
        lines = [line for line in self.console_lines if names.parse_name(line.name)[1] == name]
        if since is not None:
            return [line for line in lines if line.timestamp >= since]
        return lines[-count:] if count else []

    def stats(self, name: str | None = None, samples: int = 1) -> list:
        self._record("stats", name)
        return [s for s in self.samples if name is None or names.parse_name(s.name)[1] == name]


def run(runner: t.Callable, spec, client: FakeClient, check_mode: bool = False, **args: t.Any) -> dict:
    """Validate ``args`` against ``spec`` and run the module logic; returns its result."""
    args.setdefault("server", "127.0.0.1:1025")
    checked = validate_args(spec, args, "test")
    if checked.error is not None:
        raise AssertionError(checked.error)
    module = ActionModuleAdapter(checked.params, check_mode=check_mode, diff_mode=True)
    with pytest.raises(ModuleExit) as exc:
        runner(module, client)
    result = exc.value.result
    if module.warnings:
        result["warnings"] = module.warnings
    return result
