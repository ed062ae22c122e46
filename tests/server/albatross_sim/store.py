# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Persisted state in the state directory: ``state.json``, ``images/``, ``block/``, ``console.json``.

Like albatrossd's state dump it holds policies and the running unikernels; block devices are
files, and the console rings are kept too (the real console daemon keeps them in memory).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, List, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice, FailBehaviour, NetworkInterface, Policy, UnikernelConfig,
)

from . import names


def config_to_json(config: UnikernelConfig) -> Dict[str, Any]:
    data = dataclasses.asdict(config)
    del data["image"]
    return data


def config_from_json(data: Dict[str, Any], image: bytes) -> UnikernelConfig:
    fail = data["fail_behaviour"]
    return UnikernelConfig(
        typ=data["typ"], compressed=bool(data["compressed"]), image=image, startup=data.get("startup"),
        add_name=bool(data["add_name"]), fail_behaviour=FailBehaviour(bool(fail["restart"]), tuple(fail["exit_codes"])),
        cpuids=tuple(data["cpuids"]), memory=int(data["memory"]),
        block_devices=tuple(BlockDevice(**b) for b in data["block_devices"]),
        network_interfaces=tuple(NetworkInterface(**n) for n in data["network_interfaces"]),
        argv=tuple(data["argv"]) if data.get("argv") is not None else None,
        cpus=data.get("cpus"), linux_boot_partition=data.get("linux_boot_partition"),
    )


def policy_to_json(policy: Policy) -> Dict[str, Any]:
    return dataclasses.asdict(policy)


def policy_from_json(data: Dict[str, Any]) -> Policy:
    return Policy(unikernels=int(data["unikernels"]), cpuids=tuple(data["cpuids"]), memory=int(data["memory"]),
                  block=data.get("block"), bridges=tuple(data["bridges"]))


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class Store:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.images = os.path.join(directory, "images")
        self.block_dir = os.path.join(directory, "block")
        for sub in (self.images, self.block_dir):
            os.makedirs(sub, mode=0o700, exist_ok=True)
        self.written: Dict[str, bytes] = {}  # image file -> sha256 of what this process wrote there

    def _image_file(self, name: names.Name) -> str:
        return os.path.join(self.images, names.to_string(name) + ".img")

    def save(self, policies: Dict[names.Name, Policy], unikernels: Dict[names.Name, Any],
             blocks: Dict[names.Name, List]) -> None:
        entries = []
        keep = set()
        for name in sorted(unikernels, key=names.sort_key):
            config = unikernels[name].config
            path = self._image_file(name)
            keep.add(os.path.basename(path))
            digest = hashlib.sha256(config.image).digest()
            if self.written.get(path) != digest:
                _atomic_write(path, config.image)
                self.written[path] = digest
            entries.append({"name": names.to_string(name), "config": config_to_json(config)})
        state = {
            "policies": {names.to_string(n): policy_to_json(p) for n, p in policies.items() if n != ((), None)},
            "unikernels": entries,
            "blocks": {names.to_string(n): e[0] for n, e in blocks.items()},
        }
        _atomic_write(os.path.join(self.dir, "state.json"), json.dumps(state, indent=1, sort_keys=True).encode())
        for stale in set(os.listdir(self.images)) - keep:
            if stale.endswith(".img"):
                os.unlink(os.path.join(self.images, stale))
                self.written.pop(os.path.join(self.images, stale), None)

    def load(self) -> Tuple[List[Tuple[names.Path, Policy]], List[Tuple[names.Name, UnikernelConfig]], Dict[names.Name, int]]:
        path = os.path.join(self.dir, "state.json")
        if not os.path.exists(path):
            return [], [], {}
        with open(path, "rb") as handle:
            state = json.loads(handle.read())
        policies = [(names.of_string(n)[0], policy_from_json(p)) for n, p in state.get("policies", {}).items()]
        policies.sort(key=lambda item: len(item[0]))
        unikernels = []
        for entry in state.get("unikernels", []):
            name = names.of_string(entry["name"])
            with open(self._image_file(name), "rb") as handle:
                unikernels.append((name, config_from_json(entry["config"], handle.read())))
        blocks = {}
        for text, size in state.get("blocks", {}).items():
            name = names.of_string(text)
            if os.path.exists(os.path.join(self.block_dir, text)):
                blocks[name] = int(size)
        return policies, unikernels, blocks

    def save_console(self, data: Dict[str, Any]) -> None:
        _atomic_write(os.path.join(self.dir, "console.json"), json.dumps(data).encode())

    def load_console(self) -> Dict[str, Any]:
        path = os.path.join(self.dir, "console.json")
        if not os.path.exists(path):
            return {}
        with open(path, "rb") as handle:
            return json.loads(handle.read())
