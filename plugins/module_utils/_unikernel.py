# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``unikernel`` module: options and reconciliation (PRIVATE to the collection).

``reconcile(client, params, ops)`` is shared with ``fleet``. ``ops`` (``Ops``) carries the
binding: ``step(what, fn)`` runs one operation and turns errors into a failure naming it,
``fail(msg)`` ends with an error, ``warn(msg)``, and ``check_mode``. The decision is the
same in check mode; only the writes are skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import CommandFailed, ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string, validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    run_with_errors,
    unikernel_to_dict,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._files import LocalFileError, atomic_write_bytes
from ansible_collections.unikernels.albatross.plugins.module_utils._image_source import ImageSource
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import (
    NOT_RESTARTABLE,
    arguments_of,
    config_of,
    current_view,
    desired_view,
    diff_side,
    differences,
    options_of,
    target_view,
)

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent", "restarted"]},
    "image": {"type": "path"},
    "image_url": {"type": "str"},
    "image_sha256": {"type": "str"},
    "builder_web": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "required": True},
            "job": {"type": "str", "required": True},
            "build": {"type": "str", "default": "latest"},
        },
    },
    "cpuids": {"type": "list", "elements": "int"},
    "memory": {"type": "int"},
    "cpus": {"type": "int"},
    "arguments": {"type": "list", "elements": "str"},
    "block_devices": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "host_device": {"type": "str"},
            "sector_size": {"type": "int"},
        },
    },
    "network_interfaces": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "bridge": {"type": "str"},
            "mac": {"type": "str"},
        },
    },
    "fail_behaviour": {"type": "str", "choices": ["quit", "restart"]},
    "restart_exit_codes": {"type": "list", "elements": "int"},
    "startup": {"type": "int"},
    "add_name": {"type": "bool"},
    "compression": {"type": "int", "default": 0, "choices": list(range(10))},
    "recreate": {"type": "str", "default": "on_change", "choices": ["on_change", "never", "always"]},
    "backup_dir": {"type": "path"},
}

MODULE_SPEC = ModuleSpec(
    ARGUMENT_SPEC,
    mutually_exclusive=(("image", "image_url", "builder_web"),),
    required_by={"image_sha256": "image_url"},
    controller_files=("image",),
)


@dataclasses.dataclass
class Ops:
    step: t.Callable[[str, t.Callable[[], t.Any]], t.Any]
    fail: t.Callable[[str], t.NoReturn]
    warn: t.Callable[[str], None]
    check_mode: bool = False


class _Present:
    """state=present: decide created / replaced / restarted_with_arguments / none, then act."""

    def __init__(self, client: t.Any, params: t.Mapping[str, t.Any], ops: Ops, label: str) -> None:
        self.client, self.params, self.ops, self.label = client, params, ops, label
        self.add_name = params["add_name"] if params.get("add_name") is not None else True

    def run(self, info: t.Any) -> dict[str, t.Any]:
        label, ops = self.label, self.ops
        if info is not None and info.typ != "solo5":
            ops.fail(f"unikernel {label} is a {info.typ} guest; this module manages solo5 unikernels only.")
        desired = ops.step(f"validating unikernel {label}", lambda: desired_view(self.params))
        source = ops.step(f"validating unikernel {label}", lambda: ImageSource.from_params(self.params))
        current = current_view(info) if info is not None else None
        if current is None and source is None:
            ops.fail(f"Cannot create unikernel {label}: one of image, image_url or builder_web is required to create it.")
        digest = ops.step(f"reading {source.describe()}", source.digest) if source is not None else None
        target = target_view(current, desired, digest)
        action, diffs = self._decide(current, target)
        result: dict[str, t.Any] = {"changed": action != "none", "action": action,
                                    "diff": {"before": diff_side(label, current), "after": diff_side(label, target)}}
        if current is not None:
            result["differences"] = diffs
        if source is not None:
            result["image_source"] = source.details
        if action == "none":
            if current is not None:
                result["diff"]["after"] = result["diff"]["before"]
            return result
        image = self._image(source, action)
        checked = self._manifest_image(current, target, image)
        self._preflight(target, checked)
        if ops.check_mode:
            return result
        if current is not None and self.params.get("backup_dir"):
            same = checked is not None and hashlib.sha256(checked).hexdigest() == current["digest"]
            result["backup"] = self._backup(current, checked if same else None)
        self._act(action, target, image)
        return result

    def _decide(self, current: dict | None, target: dict) -> tuple[str, list[str]]:
        if current is None:
            return "created", []
        diffs = differences(current, target)
        recreate = self.params.get("recreate") or "on_change"
        if recreate == "always":
            return "replaced", diffs
        if not diffs:
            return "none", diffs
        if recreate == "never":
            self.ops.warn(f"unikernel {self.label} differs from the task in {', '.join(diffs)}, "
                          "but recreate=never: it was left as it is.")
            return "none", diffs
        if any(key in NOT_RESTARTABLE for key in diffs):
            return "replaced", diffs
        return "restarted_with_arguments", diffs

    def _image(self, source: ImageSource | None, action: str) -> bytes | None:
        """The image to upload; downloads only what is really needed (never in check mode)."""
        if action == "restarted_with_arguments":
            return source.loaded if source is not None else None
        if source is not None:
            if self.ops.check_mode and source.kind != "file" and source.loaded is None:
                return None
            return self.ops.step(f"reading {source.describe()}", source.load)
        if self.ops.check_mode:
            return None
        # Replacing without an image source: the server's own image, with the new config.
        return self.ops.step(f"getting the image of unikernel {self.label}", lambda: self.client.unikernel_get(self.label))

    def _manifest_image(self, current: dict | None, target: dict, image: bytes | None) -> bytes | None:
        """The image whose manifest the target's devices must match, read in check mode too.

        Without an image at hand (restart with new arguments, or check mode), the running
        image is fetched only when the device names change: otherwise it matches already.
        A remote image that check mode does not download cannot be checked.
        """
        if image is not None or current is None or current["digest"] != target["digest"]:
            return image
        if _device_names(current) == _device_names(target):
            return None
        return self.ops.step(f"getting the image of unikernel {self.label}", lambda: self.client.unikernel_get(self.label))

    def _preflight(self, target: dict, image: bytes | None) -> None:
        """Checks that need no change on the server: manifest against devices, policy."""
        label, ops = self.label, self.ops
        if image is not None:
            def check_manifest() -> None:
                from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.manifest import (
                    check_devices,
                    read_manifest,
                )
                manifest = read_manifest(image)
                check_devices(manifest, [b["name"] for b in target["block_devices"]],
                              [n["name"] for n in target["network_interfaces"]])
            ops.step(f"checking the image of unikernel {label} against block_devices and network_interfaces", check_manifest)
        policies = ops.step(f"reading the policy for unikernel {label}", self._policies)
        own = dict(policies).get(name_to_string(tuple(getattr(self.client, "path", ())))) if policies else None
        if own is not None:
            from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import check_fine_with_policy
            ops.step(f"checking unikernel {label} against the policy", lambda: check_fine_with_policy(own, arguments_of(target, self.add_name)))

    def _policies(self) -> list | None:
        try:
            return self.client.policy_info()
        except CommandFailed:
            return None  # not allowed to read it: the server checks the policy anyway

    def _backup(self, current: dict, image: bytes | None) -> dict[str, str]:
        directory = self.params["backup_dir"]
        if image is None:
            image = self.ops.step(f"getting the image of unikernel {self.label} for the backup",
                                  lambda: self.client.unikernel_get(self.label))
        paths = {"image": os.path.join(directory, f"{self.label}.hvt"), "config": os.path.join(directory, f"{self.label}.json")}
        config = {"name": self.label, "digest": current["digest"], "options": options_of(current)}

        def write() -> None:
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                atomic_write_bytes(paths["image"], image, 0o600)
                atomic_write_bytes(paths["config"], (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(), 0o600)
            except (LocalFileError, OSError) as exc:
                raise ValidationError(f"cannot write the backup in {directory}: {exc}") from exc
        self.ops.step(f"keeping a backup of unikernel {self.label}", write)
        return paths

    def _act(self, action: str, target: dict, image: bytes | None) -> None:
        client, label = self.client, self.label
        level = self.params.get("compression") or 0
        if action == "restarted_with_arguments":
            self.ops.step(f"restarting unikernel {label} with new arguments",
                          lambda: client.unikernel_restart(label, arguments_of(target, self.add_name)))
            return
        config = config_of(target, self.add_name)
        verb = "creating" if action == "created" else "replacing"
        self.ops.step(f"{verb} unikernel {label}",
                      lambda: client.unikernel_create(label, config, image, force=action == "replaced", compression=level))


def _device_names(view: dict) -> tuple[list[str], list[str]]:
    return [b["name"] for b in view["block_devices"]], [n["name"] for n in view["network_interfaces"]]


def reconcile(client: t.Any, params: t.Mapping[str, t.Any], ops: Ops) -> dict[str, t.Any]:
    """Bring one unikernel to ``params``; the result dict of the ``unikernel`` module."""
    label = ops.step(f"validating unikernel {params['name']}", lambda: validate_label(params["name"]))
    state = params.get("state") or "present"
    infos = ops.step(f"reading unikernel {label}", lambda: client.unikernel_info(label))
    info = infos[0] if infos else None
    if state == "present":
        result = _Present(client, params, ops, label).run(info)
    elif state == "absent":
        result = _absent(client, ops, label, info)
    else:
        result = _restarted(client, ops, label, info)
    if result["changed"] and not ops.check_mode:
        infos = ops.step(f"reading unikernel {label}", lambda: client.unikernel_info(label))
        info = infos[0] if infos else None
        if info is None and state != "absent":
            ops.warn(f"unikernel {label} is not running after the change; see unikernels.albatross.console_info")
    result["unikernel"] = unikernel_to_dict(info) if info is not None else None
    return result


def _absent(client: t.Any, ops: Ops, label: str, info: t.Any) -> dict[str, t.Any]:
    result = {"changed": info is not None, "action": "destroyed" if info is not None else "none",
              "diff": {"before": diff_side(label, current_view(info) if info else None), "after": diff_side(label, None)}}
    if info is None or ops.check_mode:
        return result

    def destroy() -> None:
        try:
            client.unikernel_destroy(label)
        except CommandFailed as exc:
            if "not found" not in exc.message:
                raise
            result.update(changed=False, action="none")
    ops.step(f"destroying unikernel {label}", destroy)
    return result


def _restarted(client: t.Any, ops: Ops, label: str, info: t.Any) -> dict[str, t.Any]:
    if info is None:
        ops.fail(f"Cannot restart unikernel {label}: it is not running (a restart does not start a stopped unikernel; "
                 "use state=present to create it).")
    view = diff_side(label, current_view(info))
    if not ops.check_mode:
        ops.step(f"restarting unikernel {label}", lambda: client.unikernel_restart(label))
    return {"changed": True, "action": "restarted", "diff": {"before": view, "after": view}}


def module_ops(module: ModuleLike) -> Ops:
    return Ops(step=lambda what, fn: run_with_errors(module, fn, what),
               fail=lambda msg: module.fail_json(msg=msg), warn=module.warn, check_mode=module.check_mode)


def run_module(module: ModuleLike, client: t.Any = None) -> None:
    """Entry point of both bindings; ``client`` is injected by unit tests."""
    if client is None:
        client = client_for(module)
    result = reconcile(client, module.params, module_ops(module))
    if not module.diff_mode:
        result.pop("diff", None)
    module.exit_json(**result)
