# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logic of the block, block_info and block_download modules (PRIVATE to the collection).

Albatross volumes have a name, a size in MB and an "active" flag (attached to a running
unikernel). There is no resize and no way to read the content of an active volume, so
the module refuses those cases with a message that says what to do instead.
"""

from __future__ import annotations

import hashlib
import os
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossError, CommandFailed, ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import MAX_COMPRESSION_LEVEL, Volume
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string, parse_name, validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    run_with_errors,
    volume_to_dict,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._files import CHUNK, LocalFileError, atomic_write, sha256_file

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


def users_of(client, volume_name: str) -> list[str]:
    """Names of the unikernels that use ``volume_name``; empty when that cannot be found out."""
    path, label = parse_name(volume_name)
    try:
        infos = client.unikernel_info()
    except Exception:  # only used to improve an error message: never fail because of it
        return []
    users = []
    for info in infos:
        try:
            info_path = parse_name(info.name)[0]
        except ValidationError:
            continue
        if info_path == path and any(b.host_device == label for b in info.block_devices):
            users.append(info.name)
    return sorted(users)


def _used_by(client, volume: Volume) -> str:
    users = users_of(client, volume.name)
    return " by unikernel %s" % ", ".join(users) if users else " by a running unikernel"


def in_use_message(client, volume: Volume, action: str) -> str:
    return "cannot %s volume %s: it is in use%s; stop or destroy that unikernel first" % (action, volume.name, _used_by(client, volume))


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


def _write(client, label: str, data: str, compression: int) -> None:
    try:
        handle = open(data, "rb")
    except OSError as exc:
        raise ValidationError("cannot read data %s: %s" % (data, exc.strerror or exc)) from exc
    with handle:
        client.block_set(label, handle, compression=compression)


def _upload(module: ModuleLike, client, volume: Volume, data: str, compression: int) -> None:
    label = parse_name(volume.name)[1]
    _guarded(module, client, volume, "overwrite the data of", "writing data to volume %s" % volume.name,
             lambda: _write(client, label, data, compression))


def _create(module: ModuleLike, client, label: str, size: int, data: str | None, compression: int) -> None:
    """Add the volume and write its initial data; a volume whose data could not be written is removed
    again, so that the next run creates it (with the data) instead of finding it there, empty."""
    def create() -> None:
        client.block_add(label, size)
        if not data:
            return
        try:
            _write(client, label, data, compression)
        except AlbatrossError:
            try:
                client.block_remove(label)
            except AlbatrossError:
                pass  # the error that matters is the one of the upload
            raise
    run_with_errors(module, create, "creating volume %s" % label + (" with data %s" % data if data else ""))


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


def _view(volume: Volume | None, sha256: str | None = None) -> dict[str, t.Any]:
    if volume is None:
        return {}
    view = volume_to_dict(volume)
    if sha256 is not None:
        view["data_sha256"] = sha256
    return view


def run_block(module: ModuleLike, client) -> None:
    params = module.params
    label = _label(module)
    compression = _compression(module)
    current = find_volume(module, client, label)
    if params["state"] == "absent":
        _absent(module, client, label, current)
    _present(module, client, label, current, compression)


def _absent(module: ModuleLike, client, label: str, current: Volume | None) -> t.NoReturn:
    if current is None:
        module.exit_json(changed=False, block=None, diff=dict(before={}, after={}))
    if current.active:
        module.fail_json(msg=in_use_message(client, current, "remove"))
    if not module.check_mode:
        def remove() -> bool:
            try:
                client.block_remove(label)
            except CommandFailed as exc:
                if exc.message == "remove block: not found":
                    return False  # removed by someone else meanwhile: absent is what was asked
                raise
            return True
        if not _guarded(module, client, current, "remove", "removing volume %s" % label, remove):
            module.exit_json(changed=False, block=None, diff=dict(before={}, after={}))
    module.exit_json(changed=True, block=None, diff=dict(before=_view(current), after={}))


def _present(module: ModuleLike, client, label: str, current: Volume | None, compression: int) -> t.NoReturn:
    params = module.params
    size, data, overwrite = params.get("size"), params.get("data"), params["data_overwrite"]
    if size is not None and size < 1:
        module.fail_json(msg="size must be at least 1 (MB), got %d" % size)
    data_size = _data_size(module, data) if data else 0
    if current is None:
        if size is None:
            module.fail_json(msg="volume %s does not exist: size (in MB) is needed to create it" % label)
        if data:
            _check_fits(module, label, data, data_size, size)
        after_sha = padded_sha256(data, size) if data else None
        if not module.check_mode:
            _create(module, client, label, size, data, compression)
        volume = _final(module, client, label, Volume(name=name_to_string(tuple(client.path), label), size=size, active=False))
        module.exit_json(changed=True, block=volume_to_dict(volume), diff=dict(before={}, after=_view(volume, after_sha)))
    if size is not None and size != current.size:
        module.fail_json(
            msg="volume %s has %d MB, size asks for %d MB: albatross cannot resize a volume. To get a volume of another "
                "size, remove it (state=absent; its data is lost) and create it again, or leave size out" % (current.name, current.size, size))
    if not data or overwrite == "never":
        module.exit_json(changed=False, block=volume_to_dict(current), diff=dict(before=_view(current), after=_view(current)))
    _check_fits(module, label, data, data_size, current.size)
    if current.active and overwrite == "if_different":
        # Neither readable nor writable while attached: failing here would break every re-run of a
        # playbook that creates the volume and then starts its unikernel.
        module.warn("volume %s is in use%s, so its data was not compared with %s (albatross can neither read nor write a "
                    "volume in use); stop or destroy that unikernel to update the data" % (current.name, _used_by(client, current), data))
        module.exit_json(changed=False, block=volume_to_dict(current), diff=dict(before=_view(current), after=_view(current)))
    if current.active:
        module.fail_json(msg=in_use_message(client, current, "overwrite the data of"))
    after_sha = padded_sha256(data, current.size)
    before_sha = None
    if overwrite == "if_different":
        before_sha = _remote_sha256(module, client, current, compression)
        if before_sha == after_sha:
            view = _view(current, before_sha)
            module.exit_json(changed=False, block=volume_to_dict(current), diff=dict(before=view, after=view))
    if not module.check_mode:
        _upload(module, client, current, data, compression)
    volume = _final(module, client, label, current)
    module.exit_json(changed=True, block=volume_to_dict(volume), diff=dict(before=_view(current, before_sha), after=_view(volume, after_sha)))


def _final(module: ModuleLike, client, label: str, predicted: Volume) -> Volume:
    """The volume as the server holds it now (the prediction in check mode)."""
    if module.check_mode:
        return predicted
    return find_volume(module, client, label) or predicted


def run_block_info(module: ModuleLike, client) -> None:
    name = module.params.get("name")
    if name:
        label = _label(module)
        volume = find_volume(module, client, label)
        volumes = [volume] if volume is not None else []
    else:
        volumes = run_with_errors(module, client.block_info, "listing volumes")
    blocks = sorted((volume_to_dict(v) for v in volumes), key=lambda v: v["name"])
    module.exit_json(changed=False, blocks=blocks)


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
