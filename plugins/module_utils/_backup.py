# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where kept copies of unikernels live on the controller (PRIVATE to the collection).

One layout for the ``backup_dir`` option of ``unikernel`` and for the ``upgrade`` and
``rollback`` roles (docs/upgrades.md, "Where the kept copies live")::

    <backup dir>/<key>/<name>.hvt    the image, uncompressed, mode 0600
    <backup dir>/<key>/<name>.json   {"name", "digest", "options"}, mode 0600

``<key>`` keeps unikernels of the same name on different servers (or tenant paths) apart:
the server address, then ``_`` and the tenant path when there is one, with every character
other than ``A-Za-z0-9._-`` replaced by ``_``. The roles compute the same key in their
defaults (``albatross_upgrade_backup_key``, ``albatross_rollback_backup_key``).
"""

from __future__ import annotations

import json
import os
import re
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._files import atomic_write_bytes

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def backup_key(server: str | None, path: str | None = None) -> str:
    """The subdirectory of a backup dir for one server and tenant path."""
    key = (server or "default") + ("_" + path if path else "")
    return _UNSAFE.sub("_", key)


def backup_paths(directory: str, key: str, label: str) -> dict[str, str]:
    """``{"image": ..., "config": ...}`` of the kept copy of unikernel ``label``."""
    base = os.path.join(directory, key, label)
    return {"image": base + ".hvt", "config": base + ".json"}


def write_backup(paths: t.Mapping[str, str], label: str, digest: str, options: t.Mapping[str, t.Any], image: bytes) -> None:
    """Write the image first and the configuration last, each atomically (the JSON names the image's digest).

    A reader that finds a JSON whose digest matches the image has a complete pair; an
    interrupted write leaves the previous pair or a JSON that does not match, never half a file.
    Raises OSError or ``_files.LocalFileError``.
    """
    directory = os.path.dirname(paths["image"])
    os.makedirs(directory, mode=0o700, exist_ok=True)
    atomic_write_bytes(paths["image"], image, 0o600)
    config = {"name": label, "digest": digest, "options": dict(options)}
    atomic_write_bytes(paths["config"], (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(), 0o600)
