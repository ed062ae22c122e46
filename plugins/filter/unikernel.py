# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for unikernel state: unikernel_options, unikernel_drift, desired_state (docs in the .yml files beside this one)."""

from __future__ import annotations

import os
import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._files import LocalFileError, sha256_file
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import (
    desired_view,
    differences,
    options_of,
    target_view,
)

_IMAGE_SOURCES = ("image", "image_url", "builder_web")


def _mapping(value: t.Any, what: str) -> t.Mapping[str, t.Any]:
    if not isinstance(value, t.Mapping):
        raise AnsibleFilterError(f"{what} must be a dictionary, got {type(value).__name__}")
    return value


def _list_of_dicts(value: t.Any, what: str) -> list[dict[str, t.Any]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, t.Mapping) for item in value):
        raise AnsibleFilterError(f"{what} must be a list of dictionaries")
    return [dict(item) for item in value]


def view_of(unikernel: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The comparable view (as the modules build it from the server) of a unikernel dict as unikernel_info returns it."""
    unikernel = _mapping(unikernel, "the unikernel")
    try:
        restart = unikernel.get("fail_behaviour") == "restart"
        return {
            "digest": str(unikernel.get("digest") or ""),
            "memory": int(unikernel["memory"]),
            "cpuids": sorted({int(c) for c in unikernel.get("cpuids") or ()}),
            "cpus": int(unikernel.get("cpus") or 1),
            "arguments": [str(a) for a in unikernel.get("arguments") or ()],
            "block_devices": sorted(
                ({"name": b["name"], "host_device": b.get("host_device") or b["name"], "sector_size": b.get("sector_size") or 512}
                 for b in unikernel.get("block_devices") or ()),
                key=lambda d: d["name"],
            ),
            "network_interfaces": sorted(
                ({"name": n["name"], "bridge": n.get("bridge") or n["name"], "mac": str(n.get("mac") or "").lower() or None}
                 for n in unikernel.get("network_interfaces") or ()),
                key=lambda d: d["name"],
            ),
            "fail_behaviour": "restart" if restart else "quit",
            "restart_exit_codes": sorted({int(c) for c in unikernel.get("restart_exit_codes") or ()}) if restart else [],
            "startup": unikernel.get("startup"),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"not a unikernel as unikernels.albatross.unikernel_info returns it: {exc!r}") from exc


def unikernel_options(unikernel: t.Any) -> dict[str, t.Any]:
    """Options of the unikernel module that recreate this unikernel's configuration."""
    return options_of(view_of(unikernel))


def _expected_digest(desired: t.Mapping[str, t.Any], digest: t.Any) -> str | None:
    if digest:
        return str(digest).lower()
    if desired.get("image_sha256"):
        return str(desired["image_sha256"]).lower()
    if desired.get("image"):
        try:
            return sha256_file(os.path.expanduser(str(desired["image"])))
        except LocalFileError as exc:
            raise AnsibleFilterError(str(exc)) from exc
    return None


def unikernel_drift(running: t.Any, desired: t.Any, digest: t.Any = None) -> list[str]:
    """Fields in which a running unikernel differs from desired unikernel module options (["absent"] when it does not run)."""
    desired = _mapping(desired, "the desired options")
    if desired.get("state", "present") == "absent":
        return [] if not running else ["present"]
    if not running:
        return ["absent"]
    current = view_of(running)
    try:
        wanted = desired_view(desired)
    except ValidationError as exc:
        raise AnsibleFilterError(f"invalid desired options of unikernel {desired.get('name')}: {exc}") from exc
    return differences(current, target_view(current, wanted, _expected_digest(desired, digest)))


def _absolute(path: t.Any, base_dir: str | None) -> t.Any:
    if not isinstance(path, str) or not path or base_dir is None:
        return path
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def _merge(common: list[dict[str, t.Any]], specific: list[dict[str, t.Any]], what: str) -> list[dict[str, t.Any]]:
    merged: dict[str, dict[str, t.Any]] = {}
    for source in (common, specific):
        for item in source:
            if not item.get("name"):
                raise AnsibleFilterError(f"every entry of {what} needs a name")
            merged[str(item["name"]).lower()] = item  # a server's entry replaces the common one of that name
    return list(merged.values())


def desired_state(state: t.Any, server: str | None = None, base_dir: str | None = None) -> dict[str, t.Any]:
    """The unikernels, volumes and prune flag of a desired-state document for one server."""
    state = _mapping(state or {}, "the desired state")
    unknown = sorted(set(state) - {"unikernels", "volumes", "prune", "servers"})
    if unknown:
        raise AnsibleFilterError(f"unknown keys in the desired state: {', '.join(unknown)} (expected unikernels, volumes, prune, servers)")
    servers = _mapping(state.get("servers") or {}, "servers of the desired state")
    own = _mapping(servers.get(server) or {}, f"servers.{server} of the desired state") if server is not None else {}
    unikernels = _merge(_list_of_dicts(state.get("unikernels"), "unikernels"), _list_of_dicts(own.get("unikernels"), "unikernels"), "unikernels")
    volumes = _merge(_list_of_dicts(state.get("volumes"), "volumes"), _list_of_dicts(own.get("volumes"), "volumes"), "volumes")
    for entry in unikernels:
        if "server" in entry:
            raise AnsibleFilterError(f"unikernel {entry['name']}: put server-specific entries under servers.<name>, not a server key")
        if entry.get("image"):
            entry["image"] = _absolute(entry["image"], base_dir)
    for entry in volumes:
        if entry.get("data"):
            entry["data"] = _absolute(entry["data"], base_dir)
    prune = own.get("prune", state.get("prune", False))
    return {"unikernels": unikernels, "volumes": volumes, "prune": bool(prune)}


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "unikernel_options": unikernel_options,
            "unikernel_drift": unikernel_drift,
            "desired_state": desired_state,
        }
