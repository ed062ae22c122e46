# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Local file helpers of the modules (PRIVATE to the collection).

Atomic writes (temporary file in the destination directory, then rename) so that a
reader never sees half a key or half a volume dump, and a failed run leaves the old
file in place.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from typing import BinaryIO, Callable, Optional

CHUNK = 1 << 16


class LocalFileError(Exception):
    """A local file could not be read or written; the message names the file."""


def sha256_file(path: str) -> Optional[str]:
    """Hex SHA-256 of a file, or None when it does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    return digest.hexdigest()


def check_parent_dir(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise LocalFileError("directory %s (for %s) does not exist; create it first" % (parent, path))


def file_mode(path: str) -> Optional[int]:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def atomic_write(path: str, writer: Callable[[BinaryIO], None], mode: int) -> None:
    """Call ``writer`` with a private temporary file next to ``path``, then rename it over ``path``.

    The temporary file gets ``mode`` before any byte is written, so a key is never
    readable by others, not even for a moment.
    """
    check_parent_dir(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    except OSError as exc:
        raise LocalFileError("cannot write in %s: %s" % (directory, exc.strerror or exc)) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            writer(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise LocalFileError("cannot write %s: %s" % (path, exc.strerror or exc)) from exc
        raise


def atomic_write_bytes(path: str, data: bytes, mode: int) -> None:
    atomic_write(path, lambda handle: handle.write(data), mode)
