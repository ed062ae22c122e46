# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Desired versus running unikernel configuration (PRIVATE to the collection).

No Ansible imports: plain functions over the model, shared by ``unikernel`` and ``fleet``.

A *view* is the comparable part of a unikernel as a snake_case dict (``VIEW_KEYS``);
the server's state gives the current view, the user's options (only those given) are
laid over it to give the target view. Options left out keep what runs, so they never
cause a difference; defaults (``CREATE_DEFAULTS``) fill in only when nothing runs.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    FailBehaviour,
    NetworkInterface,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
    check_arguments,
    check_exit_codes,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import validate_label

VIEW_KEYS = (
    "digest", "memory", "cpuids", "cpus", "arguments", "block_devices", "network_interfaces",
    "fail_behaviour", "restart_exit_codes", "startup",
)

CREATE_DEFAULTS: dict[str, t.Any] = {
    "memory": 32, "cpuids": [0], "cpus": 1, "arguments": [], "block_devices": [], "network_interfaces": [],
    "fail_behaviour": "quit", "restart_exit_codes": [], "startup": None,
}

# Fields that albatross 2.7.2 does not apply on restart with new arguments.
NOT_RESTARTABLE = ("digest", "memory", "cpus")

_MAC_RE = re.compile(r"\A[0-9a-f]{2}([:-][0-9a-f]{2}){5}\Z")


def current_view(info: UnikernelInfo) -> dict[str, t.Any]:
    fail = info.fail_behaviour
    return {
        "digest": info.digest.hex(),
        "memory": info.memory,
        "cpuids": sorted(set(info.cpuids)),
        "cpus": info.cpus if info.cpus is not None else 1,
        "arguments": list(info.argv or ()),
        "block_devices": sorted(
            ({"name": b.name, "host_device": b.host_device, "sector_size": b.sector_size} for b in info.block_devices),
            key=lambda d: d["name"],
        ),
        "network_interfaces": sorted(
            ({"name": n.name, "bridge": n.bridge, "mac": n.mac.lower()} for n in info.network_interfaces),
            key=lambda d: d["name"],
        ),
        "fail_behaviour": "restart" if fail.restart else "quit",
        "restart_exit_codes": sorted(set(fail.exit_codes)) if fail.restart else [],
        "startup": info.startup,
    }


def _mac(value: str) -> str:
    text = str(value).strip().lower()
    if not _MAC_RE.match(text):
        raise ValidationError(f"invalid MAC address {value!r} (expected six hex bytes like 00:80:41:ab:cd:ef)")
    return text.replace("-", ":")


def _unique(items: list[dict[str, t.Any]], what: str) -> None:
    names = [item["name"] for item in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"{what} names must be unique, {', '.join(duplicates)} given more than once")


def desired_view(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The options the user gave, validated and normalised; missing keys mean "don't care"."""
    view: dict[str, t.Any] = {}
    if params.get("memory") is not None:
        if params["memory"] <= 0:
            raise ValidationError(f"memory must be a positive number of MB, got {params['memory']}")
        view["memory"] = int(params["memory"])
    if params.get("cpuids") is not None:
        cpuids = sorted(set(int(c) for c in params["cpuids"]))
        if not cpuids or cpuids[0] < 0:
            raise ValidationError("cpuids must list at least one CPU id (>= 0)")
        view["cpuids"] = cpuids
    if params.get("cpus") is not None:
        if params["cpus"] < 1:
            raise ValidationError("cpus must be at least 1")
        view["cpus"] = int(params["cpus"])
    if params.get("arguments") is not None:
        view["arguments"] = list(check_arguments(params["arguments"]))
    if params.get("block_devices") is not None:
        blocks = []
        for item in params["block_devices"]:
            sector = item.get("sector_size")
            if sector is not None and (sector < 512 or sector & (sector - 1)):
                raise ValidationError(f"sector_size of block device {item['name']} must be a power of 2 and at least 512, got {sector}")
            host = item.get("host_device") or item["name"]
            blocks.append({"name": item["name"], "host_device": validate_label(host), "sector_size": sector})
        _unique(blocks, "block_devices")
        view["block_devices"] = sorted(blocks, key=lambda d: d["name"])
    if params.get("network_interfaces") is not None:
        nets = []
        for item in params["network_interfaces"]:
            mac = _mac(item["mac"]) if item.get("mac") else None
            nets.append({"name": item["name"], "bridge": item.get("bridge") or item["name"], "mac": mac})
        _unique(nets, "network_interfaces")
        view["network_interfaces"] = sorted(nets, key=lambda d: d["name"])
    fail = params.get("fail_behaviour")
    codes = params.get("restart_exit_codes")
    if codes is not None:
        if fail == "quit":
            raise ValidationError("restart_exit_codes only apply with fail_behaviour=restart")
        fail = "restart"
        view["restart_exit_codes"] = list(check_exit_codes(codes))
    if fail is not None:
        view["fail_behaviour"] = fail
        if fail == "quit":
            view["restart_exit_codes"] = []
    if params.get("startup") is not None:
        view["startup"] = int(params["startup"])
    return view


def target_view(current: dict[str, t.Any] | None, desired: dict[str, t.Any], digest: str | None) -> dict[str, t.Any]:
    """``desired`` laid over ``current`` (or over the create defaults when nothing runs)."""
    base = dict(current) if current is not None else dict(CREATE_DEFAULTS, digest=None)
    target = dict(base)
    target.update(desired)
    if digest is not None:
        target["digest"] = digest
    if "fail_behaviour" in desired and desired["fail_behaviour"] == "restart" and "restart_exit_codes" not in desired:
        if base["fail_behaviour"] != "restart":
            target["restart_exit_codes"] = []
    old_blocks = {b["name"]: b for b in base["block_devices"]}
    target["block_devices"] = [
        dict(b, sector_size=b["sector_size"] or old_blocks.get(b["name"], {}).get("sector_size") or 512)
        for b in target["block_devices"]
    ]
    # A MAC left out keeps the one in use (albatross derives the same one for the same name anyway).
    old_nets = {n["name"]: n for n in base["network_interfaces"]}
    target["network_interfaces"] = [
        dict(n, mac=n["mac"] or old_nets.get(n["name"], {}).get("mac")) for n in target["network_interfaces"]
    ]
    return target


def differences(current: dict[str, t.Any], target: dict[str, t.Any]) -> list[str]:
    return [key for key in VIEW_KEYS if current.get(key) != target.get(key)]


def arguments_of(view: dict[str, t.Any], add_name: bool) -> UnikernelArguments:
    return UnikernelArguments(**_argument_fields(view, add_name))


def config_of(view: dict[str, t.Any], add_name: bool, compressed: bool = False) -> UnikernelConfig:
    return UnikernelConfig(typ="solo5", compressed=compressed, image=b"", **_argument_fields(view, add_name))


def _argument_fields(view: dict[str, t.Any], add_name: bool) -> dict[str, t.Any]:
    restart = view["fail_behaviour"] == "restart"
    return {
        "cpuids": tuple(view["cpuids"]),
        "memory": view["memory"],
        "fail_behaviour": FailBehaviour(restart, tuple(view["restart_exit_codes"]) if restart else ()).normalized(),
        "startup": view["startup"],
        "add_name": add_name,
        "block_devices": tuple(
            BlockDevice(b["name"], None if b["host_device"] == b["name"] else b["host_device"],
                        None if b["sector_size"] in (None, 512) else b["sector_size"])
            for b in view["block_devices"]
        ),
        "network_interfaces": tuple(
            NetworkInterface(n["name"], None if n["bridge"] == n["name"] else n["bridge"], n["mac"])
            for n in view["network_interfaces"]
        ),
        "argv": tuple(view["arguments"]) or None,
        "cpus": view["cpus"],
    }


def diff_side(name: str, view: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """One side of ``diff``: sorted keys, ``state`` first."""
    if view is None:
        return {"name": name, "state": "absent"}
    side = {"name": name, "state": "present"}
    side.update((key, view.get(key)) for key in VIEW_KEYS)
    return side


def options_of(view: dict[str, t.Any]) -> dict[str, t.Any]:
    """The view as ``unikernel`` module options (for backups a rollback can replay)."""
    options = {key: view[key] for key in VIEW_KEYS if key != "digest"}
    if options["fail_behaviour"] != "restart":
        options.pop("restart_exit_codes")
    return options
