# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logic of the block, block_info and block_download modules (PRIVATE to the collection).

Albatross volumes have a name, a size in MB and an "active" flag (attached to a running
unikernel). There is no resize and no way to read the content of an active volume, so
the module refuses those cases with a message that says what to do instead.

Every data write runs under a write-in-progress marker volume (_volume_marker names it,
_block_write runs the write), so that an interrupted write is found and repaired by the next run
instead of being reported as ok.
"""

from __future__ import annotations

import hashlib
import os
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossError, CommandFailed
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import MAX_COMPRESSION_LEVEL, Volume
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string, parse_name, validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._block_write import (
    check_room,
    fail_step,
    in_use_message,
    leftover_hint,
    pending_text,
    used_by,
    write_data,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    run_with_errors,
    volume_to_dict,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._files import CHUNK, LocalFileError, atomic_write, sha256_file
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import PREFIX as MARKER_PREFIX
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import is_marker, marker_label, split_listing

MB = 1 << 20
_ZEROS = bytes(CHUNK)

BLOCK_SPEC = ModuleSpec(
    argument_spec=dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        size=dict(type="int"),
        data=dict(type="path"),
        data_overwrite=dict(type="str", default="never", choices=["never", "if_different", "always"]),
        compression=dict(type="int", default=0),
    ),
    controller_files=("data",),
)

BLOCK_INFO_SPEC = ModuleSpec(argument_spec=dict(name=dict(type="str")))

BLOCK_DOWNLOAD_SPEC = ModuleSpec(
    argument_spec=dict(
        name=dict(type="str", required=True),
        dest=dict(type="path", required=True),
        compression=dict(type="int", default=0),
        mode=dict(type="raw"),
    ),
)


class _HashWriter:
    """A file-like sink that only hashes (a dump compared with local data)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def _label(module: ModuleLike) -> str:
    return run_with_errors(module, lambda: validate_label(module.params["name"]), "checking the volume name")


def _compression(module: ModuleLike) -> int:
    level = module.params.get("compression") or 0
    if not 0 <= level <= MAX_COMPRESSION_LEVEL:
        module.fail_json(msg="compression must be between 0 (none) and %d, got %d" % (MAX_COMPRESSION_LEVEL, level))
    return level


def find_volume(module: ModuleLike, client, label: str) -> Volume | None:
    volumes = run_with_errors(module, lambda: client.block_info(label), "reading volume %s" % label)
    for volume in volumes:
        if parse_name(volume.name)[1] == label:
            return volume
    return None


def padded_sha256(path: str, size_mb: int) -> str:
    """SHA-256 of the volume content after writing ``path``: the data, then zeros up to the size."""
    digest = hashlib.sha256()
    written = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            written += len(chunk)
    remaining = size_mb * MB - written
    while remaining > 0:
        piece = min(remaining, len(_ZEROS))
        digest.update(_ZEROS[:piece])
        remaining -= piece
    return digest.hexdigest()


def _data_size(module: ModuleLike, path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        module.fail_json(msg="cannot read data %s: %s" % (path, exc.strerror or exc))
    raise AssertionError("unreachable")  # pragma: no cover


def _check_fits(module: ModuleLike, label: str, data: str, data_size: int, size_mb: int) -> None:
    if data_size > size_mb * MB:
        module.fail_json(msg="data %s has %d bytes, more than volume %s holds (%d MB = %d bytes); give a larger size"
                         % (data, data_size, label, size_mb, size_mb * MB))


def _guarded(module: ModuleLike, client, volume: Volume, action: str, what: str, fn: t.Callable[[], t.Any]) -> t.Any:
    """``fn()`` under run_with_errors; "is in use" becomes a message naming the unikernel."""
    def call() -> t.Any:
        try:
            return fn()
        except CommandFailed as exc:
            if "is in use" in exc.message:
                module.fail_json(msg=in_use_message(client, volume, action))
            raise
    return run_with_errors(module, call, what)


def _remote_sha256(module: ModuleLike, client, volume: Volume, compression: int) -> str:
    sink = _HashWriter()
    label = parse_name(volume.name)[1]
    _guarded(module, client, volume, "compare the data of", "reading volume %s" % volume.name,
             lambda: client.block_dump(label, sink, compression=compression))
    return sink.digest.hexdigest()


def _view(volume: Volume | None, sha256: str | None = None, pending: bool = False) -> dict[str, t.Any]:
    if volume is None:
        return {}
    view = volume_to_dict(volume)
    if sha256 is not None:
        view["data_sha256"] = sha256
    if pending:
        view["data_pending"] = True
    return view


# --- block -------------------------------------------------------------------------------

def run_block(module: ModuleLike, client) -> None:
    params = module.params
    label = _label(module)
    compression = _compression(module)
    if is_marker(label) and params["state"] == "present":
        module.fail_json(msg="volume names starting with %s. or %s- are reserved for the write-in-progress markers of this "
                             "module; choose another name" % (MARKER_PREFIX, MARKER_PREFIX))
    current = find_volume(module, client, label)
    marker = None if is_marker(label) else find_volume(module, client, marker_label(label))
    if params["state"] == "absent":
        _absent(module, client, label, current, marker)
    _present(module, client, label, current, marker, compression)


def _remove(module: ModuleLike, client, volume: Volume, what: str) -> bool:
    """Remove ``volume``; False when it was gone already (absent is what was asked)."""
    label = parse_name(volume.name)[1]

    def remove() -> bool:
        try:
            client.block_remove(label)
        except CommandFailed as exc:
            if exc.message == "remove block: not found":
                return False
            raise
        return True
    return _guarded(module, client, volume, "remove", what, remove)


def _absent(module: ModuleLike, client, label: str, current: Volume | None, marker: Volume | None) -> t.NoReturn:
    if current is None and marker is None:
        module.exit_json(changed=False, block=None, diff=dict(before={}, after={}))
    if current is not None and current.active:
        module.fail_json(msg=in_use_message(client, current, "remove"))
    before = _view(current, pending=marker is not None) if current is not None else {"orphan_marker": marker.name}
    if not module.check_mode:
        # The volume first: were the marker removed first, an interruption could leave a volume with
        # incomplete data and no marker saying so.
        removed = current is not None and _remove(module, client, current, "removing volume %s" % label)
        if marker is not None:
            removed = _remove(module, client, marker, "removing the write-in-progress marker %s of volume %s" % (marker.name, label)) or removed
        if not removed:
            module.exit_json(changed=False, block=None, diff=dict(before={}, after={}))
    module.exit_json(changed=True, block=None, diff=dict(before=before, after={}))


def _present(module: ModuleLike, client, label: str, current: Volume | None, marker: Volume | None, compression: int) -> t.NoReturn:
    params = module.params
    size, data, overwrite = params.get("size"), params.get("data"), params["data_overwrite"]
    if size is not None and size < 1:
        module.fail_json(msg="size must be at least 1 (MB), got %d" % size)
    data_size = _data_size(module, data) if data else 0
    if current is None:
        _create(module, client, label, size, data, data_size, marker, compression)
    if size is not None and size != current.size:
        module.fail_json(
            msg="volume %s has %d MB, size asks for %d MB: albatross cannot resize a volume. To get a volume of another "
                "size, remove it (state=absent; its data is lost) and create it again, or leave size out" % (current.name, current.size, size))
    if marker is not None:
        _repair(module, client, label, current, marker, data, data_size, compression)
    unchanged = dict(changed=False, block=volume_to_dict(current), data_pending=False,
                     diff=dict(before=_view(current), after=_view(current)))
    if not data or overwrite == "never":
        module.exit_json(**unchanged)
    _check_fits(module, label, data, data_size, current.size)
    if current.active and overwrite == "if_different":
        # Neither readable nor writable while attached: failing here would break every re-run of a
        # playbook that creates the volume and then starts its unikernel.
        module.warn("volume %s is in use%s, so its data was not compared with %s (albatross can neither read nor write a "
                    "volume in use); stop or destroy that unikernel to update the data" % (current.name, used_by(client, current), data))
        module.exit_json(**unchanged)
    if current.active:
        module.fail_json(msg=in_use_message(client, current, "overwrite the data of"))
    after_sha = padded_sha256(data, current.size)
    before_sha = None
    if overwrite == "if_different":
        before_sha = _remote_sha256(module, client, current, compression)
        if before_sha == after_sha:
            view = _view(current, before_sha)
            module.exit_json(**dict(unchanged, diff=dict(before=view, after=view)))
    check_room(module, client, current.name, label, None)
    if not module.check_mode:
        write_data(module, client, current.name, label, data, compression)
    volume = _final(module, client, label, current)
    module.exit_json(changed=True, block=volume_to_dict(volume), data_pending=False,
                     diff=dict(before=_view(current, before_sha), after=_view(volume, after_sha)))


def _create(module: ModuleLike, client, label: str, size: int | None, data: str | None, data_size: int,
            marker: Volume | None, compression: int) -> t.NoReturn:
    if size is None:
        module.fail_json(msg="volume %s does not exist: size (in MB) is needed to create it" % label)
    full = name_to_string(tuple(client.path), label)
    if data:
        _check_fits(module, label, data, data_size, size)
    if marker is not None:
        module.warn("found the write-in-progress marker %s of volume %s without the volume: a run that created it was "
                    "interrupted; the volume %s created%s" % (marker.name, full, "would be" if module.check_mode else "was",
                                                              " with its data" if data else ""))
    after_sha = padded_sha256(data, size) if data else None
    if data:
        check_room(module, client, full, label, size, marker_needed=marker is None)
        if not module.check_mode:
            write_data(module, client, full, label, data, compression, create_mb=size, marker_present=marker is not None)
    elif not module.check_mode:
        if marker is not None:
            # Before the volume exists the marker vouches for nothing: removing it first keeps every
            # interruption harmless.
            _remove(module, client, marker, "removing the write-in-progress marker %s" % marker.name)
        try:
            client.block_add(label, size)
        except AlbatrossError as exc:
            fail_step(module, "creating volume %s" % label, exc, leftover_hint(exc, full))
    volume = _final(module, client, label, Volume(name=full, size=size, active=False))
    module.exit_json(changed=True, block=volume_to_dict(volume), data_pending=False, diff=dict(before={}, after=_view(volume, after_sha)))


def _repair(module: ModuleLike, client, label: str, current: Volume, marker: Volume, data: str | None, data_size: int,
            compression: int) -> t.NoReturn:
    """The volume has a marker: the last data write did not finish, whatever data_overwrite says."""
    pending = pending_text(current.name, marker.name)
    if not data:
        # A task without data cannot repair the content; it still gets what it asks for (the volume
        # exists with its size), so it warns instead of failing, and never reports a silent ok.
        module.warn("%s; run the task that writes its data again, or remove the marker (block name=%s state=absent) if the "
                    "content is fine as it is" % (pending, parse_name(marker.name)[1]))
        module.exit_json(changed=False, block=volume_to_dict(current), data_pending=True,
                         diff=dict(before=_view(current, pending=True), after=_view(current, pending=True)))
    if current.active:
        module.fail_json(msg="%s and is in use%s, so albatross cannot write the data again; stop or destroy that unikernel, then "
                             "run this task again" % (pending, used_by(client, current)))
    _check_fits(module, label, data, data_size, current.size)
    after_sha = padded_sha256(data, current.size)
    module.warn("%s; the data of %s %s written again" % (pending, data, "would be" if module.check_mode else "was"))
    if not module.check_mode:
        write_data(module, client, current.name, label, data, compression, marker_present=True)
    volume = _final(module, client, label, current)
    module.exit_json(changed=True, block=volume_to_dict(volume), data_pending=False,
                     diff=dict(before=_view(current, pending=True), after=_view(volume, after_sha)))


def _final(module: ModuleLike, client, label: str, predicted: Volume) -> Volume:
    """The volume as the server holds it now (the prediction in check mode)."""
    if module.check_mode:
        return predicted
    return find_volume(module, client, label) or predicted


# --- block_info ----------------------------------------------------------------------------

def _info_dict(volume: Volume, pending: bool) -> dict[str, t.Any]:
    return dict(volume_to_dict(volume), data_pending=pending)


def run_block_info(module: ModuleLike, client) -> None:
    name = module.params.get("name")
    if name and not is_marker(_label(module)):
        label = _label(module)
        volume = find_volume(module, client, label)
        marker = find_volume(module, client, marker_label(label))
        blocks = [_info_dict(volume, marker is not None)] if volume is not None else []
        orphans = [marker.name] if marker is not None and volume is None else []
        module.exit_json(changed=False, blocks=blocks, orphan_markers=orphans)
    listing = split_listing(run_with_errors(module, client.block_info, "listing volumes"))
    orphans = sorted(volume.name for volume in listing.orphans)
    if name:
        # A marker's name: it is never listed as a volume, only as an orphan when its volume is gone.
        label = _label(module)
        module.exit_json(changed=False, blocks=[], orphan_markers=[n for n in orphans if parse_name(n)[1] == label
                                                                   and tuple(parse_name(n)[0]) == tuple(client.path)])
    blocks = sorted((_info_dict(v, v.name in listing.pending) for v in listing.volumes), key=lambda v: v["name"])
    module.exit_json(changed=False, blocks=blocks, orphan_markers=orphans)


def run_block_download(module: ModuleLike, client) -> None:
    params = module.params
    label = _label(module)
    compression = _compression(module)
    dest = params["dest"]
    mode = _mode(module)
    current = find_volume(module, client, label)
    if current is None:
        module.fail_json(msg="volume %s does not exist" % label)
    if current.active:
        module.fail_json(msg=in_use_message(client, current, "download"))
    marker = None if is_marker(label) else find_volume(module, client, marker_label(label))
    if marker is not None:
        module.warn("%s, so the download holds that incomplete content; run the block task that writes its data again "
                    "first" % pending_text(current.name, marker.name))
    try:
        before_sha = sha256_file(dest)
    except LocalFileError as exc:
        module.fail_json(msg=str(exc))
    if module.check_mode:
        # Whether the content differs is only known after a dump, which check mode still does (it is a read).
        after_sha = _remote_sha256(module, client, current, compression)
    else:
        after_sha = _download(module, client, current, dest, compression, mode, before_sha)
    changed = before_sha != after_sha
    mode_changed = _fix_mode(module, dest, mode, changed)
    result = dict(changed=changed or mode_changed, dest=dest, sha256=after_sha, size=current.size * MB, block=volume_to_dict(current),
                  data_pending=marker is not None,
                  diff=dict(before=dict(dest=dest, sha256=before_sha), after=dict(dest=dest, sha256=after_sha)))
    module.exit_json(**result)


def _mode(module: ModuleLike) -> int | None:
    mode = module.params.get("mode")
    if mode is None:
        return None
    try:
        return int(mode, 8) if isinstance(mode, str) else int(mode)
    except ValueError:
        module.fail_json(msg="mode must be an octal number such as '0600', got %r" % mode)
    raise AssertionError("unreachable")  # pragma: no cover


def _download(module: ModuleLike, client, volume: Volume, dest: str, compression: int, mode: int | None, before_sha: str | None) -> str:
    """Dump into a temporary file next to ``dest``; replace ``dest`` only when the content differs."""
    sink = _HashWriter()

    class _Tee:
        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            sink.write(data)
            return self.handle.write(data)

    class _Unchanged(Exception):
        pass

    def writer(handle) -> None:
        client.block_dump(parse_name(volume.name)[1], _Tee(handle), compression=compression)
        if sink.digest.hexdigest() == before_sha:
            raise _Unchanged()  # keeps dest untouched (same inode, same times)

    existing_mode = _existing_mode(dest)
    file_mode = mode if mode is not None else (existing_mode if existing_mode is not None else 0o600)

    def download() -> None:
        try:
            atomic_write(dest, writer, file_mode)
        except _Unchanged:
            pass
        except LocalFileError as exc:
            module.fail_json(msg=str(exc))
    _guarded(module, client, volume, "download", "downloading volume %s" % volume.name, download)
    return sink.digest.hexdigest()


def _existing_mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def _fix_mode(module: ModuleLike, dest: str, mode: int | None, written: bool) -> bool:
    if mode is None:
        return False
    current = _existing_mode(dest)
    if current is None or current == mode:
        return False
    if module.check_mode:
        return not written
    try:
        os.chmod(dest, mode)
    except OSError as exc:
        module.fail_json(msg="cannot set mode of %s: %s" % (dest, exc.strerror or exc))
    return True


def run_block_module(module: ModuleLike) -> None:
    run_block(module, client_for(module))


def run_block_info_module(module: ModuleLike) -> None:
    run_block_info(module, client_for(module))


def run_block_download_module(module: ModuleLike) -> None:
    run_block_download(module, client_for(module))
