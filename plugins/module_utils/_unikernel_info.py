# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``unikernel_info`` and ``unikernel_image`` modules (PRIVATE to the collection)."""

from __future__ import annotations

import hashlib
import os
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    run_with_errors,
    unikernel_to_dict,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._files import LocalFileError, atomic_write_bytes, sha256_file

INFO_SPEC = ModuleSpec({"name": {"type": "str"}})

IMAGE_SPEC = ModuleSpec({
    "name": {"type": "str", "required": True},
    "dest": {"type": "path", "required": True},
})


def run_info(module: ModuleLike, client: t.Any = None) -> None:
    name = module.params.get("name")
    what = f"reading unikernel {name}" if name else "listing unikernels"
    label = run_with_errors(module, lambda: validate_label(name), f"validating unikernel {name}") if name else None
    if client is None:
        client = client_for(module)
    infos = run_with_errors(module, lambda: client.unikernel_info(label), what)
    unikernels = sorted((unikernel_to_dict(info) for info in infos), key=lambda u: u["name"])
    module.exit_json(changed=False, unikernels=unikernels)


def run_image(module: ModuleLike, client: t.Any = None) -> None:
    """Download a running unikernel's image to ``dest`` unless ``dest`` already holds it."""
    params = module.params
    label = run_with_errors(module, lambda: validate_label(params["name"]), f"validating unikernel {params['name']}")
    dest = params["dest"]
    if client is None:
        client = client_for(module)
    infos = run_with_errors(module, lambda: client.unikernel_info(label), f"reading unikernel {label}")
    if not infos:
        module.fail_json(msg=f"Cannot get the image of unikernel {label}: it is not running.")
    digest = infos[0].digest.hex()

    def local_digest() -> str | None:
        try:
            return sha256_file(dest)
        except LocalFileError as exc:
            raise ValidationError(str(exc)) from exc
    existing = run_with_errors(module, local_digest, f"reading {dest}")
    result: dict[str, t.Any] = {"name": infos[0].name, "dest": dest, "digest": digest,
                                "diff": {"before": {"dest": dest, "digest": existing}, "after": {"dest": dest, "digest": digest}}}
    if existing == digest:
        module.exit_json(changed=False, size=os.path.getsize(dest), **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)
    image = run_with_errors(module, lambda: client.unikernel_get(label), f"getting the image of unikernel {label}")
    actual = hashlib.sha256(image).hexdigest()
    if actual != digest:
        # Replaced while we were reading; report what was written.
        module.warn(f"unikernel {label} changed while its image was read; {dest} holds the newer image")
        result["digest"] = result["diff"]["after"]["digest"] = actual

    def write() -> None:
        try:
            atomic_write_bytes(dest, image, 0o600)
        except LocalFileError as exc:
            raise ValidationError(str(exc)) from exc
    run_with_errors(module, write, f"writing {dest}")
    module.exit_json(changed=True, size=len(image), **result)
