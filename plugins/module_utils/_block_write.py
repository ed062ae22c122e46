# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Data writes into volumes under a write-in-progress marker (PRIVATE to the collection).

Used by the block module logic (and so by fleet's volumes). The marker's name comes from
_volume_marker; this file holds the order of the commands, the check that the policy has room for
the marker, and the messages that say what a failed or interrupted write left behind.
"""

from __future__ import annotations

import traceback
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossError,
    CommandFailed,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Volume
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string, parse_name
from ansible_collections.unikernels.albatross.plugins.module_utils._common import ModuleLike, format_error
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import SIZE_MB, marker_label


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


def used_by(client, volume: Volume) -> str:
    users = users_of(client, volume.name)
    return " by unikernel %s" % ", ".join(users) if users else " by a running unikernel"


def in_use_message(client, volume: Volume, action: str) -> str:
    return "cannot %s volume %s: it is in use%s; stop or destroy that unikernel first" % (action, volume.name, used_by(client, volume))


def _upload_file(client, label: str, data: str, compression: int) -> None:
    try:
        handle = open(data, "rb")
    except OSError as exc:
        raise ValidationError("cannot read data %s: %s" % (data, exc.strerror or exc)) from exc
    with handle:
        client.block_set(label, handle, compression=compression)


def fail_step(module: ModuleLike, what: str, exc: AlbatrossError, hint: str = "") -> t.NoReturn:
    """Like run_with_errors, with ``hint`` (what the failure left behind and what happens next) appended."""
    kwargs: dict[str, t.Any] = {}
    if isinstance(exc, CommandFailed):
        kwargs["server_message"] = exc.message
    if isinstance(exc, ProtocolError):
        kwargs["exception"] = traceback.format_exc()
    module.fail_json(msg=format_error(what, exc, module.params) + hint, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def _policy_full(exc: AlbatrossError) -> bool:
    return isinstance(exc, CommandFailed) and (
        "block device policy limit" in exc.message or "no block devices are allowed by policy" in exc.message)


def _path_text(client) -> str:
    return name_to_string(tuple(getattr(client, "path", ())))


def _room_fix(short: int | None) -> str:
    more = " by at least %d MB" % short if short else ""
    return "raise the block limit of that policy%s (unikernels.albatross.policy) or remove volumes that are no longer needed" % more


def check_room(module: ModuleLike, client, volume_name: str, label: str, create_mb: int | None, marker_needed: bool = True) -> None:
    """Fail, before anything changes, when the policy has no room for the marker (and the new volume).

    The numbers come from policy info and block info; when those cannot be read the server's own
    check still applies and its answer is reworded the same way (see write_data).
    """
    marker = marker_label(label)
    needed = (SIZE_MB if marker_needed else 0) + (create_mb or 0)
    try:
        policies = client.policy_info()
        stored = client.block_info()
    except AlbatrossError:
        return
    own = tuple(getattr(client, "path", ()))
    policy = None
    for name, candidate in policies:
        try:
            if tuple(parse_name(name)[0]) == own:
                policy = candidate
        except ValidationError:
            continue
    if policy is None:
        return  # no policy at this very path: albatross does not limit volumes here
    used = sum(volume.size for volume in stored)
    if policy.block is not None and needed <= policy.block - used:
        return
    parts = ["%d MB for the volume" % create_mb] if create_mb else []
    if marker_needed:
        parts.append("%d MB for its write-in-progress marker %s while the data is written" % (SIZE_MB, marker))
    what = " plus ".join(parts)
    if policy.block is None:
        module.fail_json(msg="cannot write data to volume %s: that needs %s, but the policy of path %s allows no volumes; %s"
                             % (volume_name, what, _path_text(client), _room_fix(None)))
    module.fail_json(msg="cannot write data to volume %s: that needs %s, but the policy of path %s allows %d MB of volumes and "
                         "%d MB are used; %s" % (volume_name, what, _path_text(client), policy.block, used,
                                                 _room_fix(needed - (policy.block - used))))


def write_data(module: ModuleLike, client, volume_name: str, label: str, data: str, compression: int,
               create_mb: int | None = None, marker_present: bool = False) -> None:
    """Write ``data`` to volume ``label`` under its write-in-progress marker (creating the volume first with ``create_mb``).

    Order: marker add (unless it is there already), volume add, block set, marker remove after the
    success reply. An interruption at any point (SIGKILL included, when nothing here runs any more)
    leaves either the marker or a volume with all of its data, so the next run knows what to do.
    """
    marker = marker_label(label)
    if not marker_present:
        try:
            client.block_add(marker, SIZE_MB)
        except AlbatrossError as exc:
            if _policy_full(exc):
                module.fail_json(msg="cannot write data to volume %s: albatross needs room for a %d MB write-in-progress marker %s "
                                     "next to it, and the policy of path %s has none (%s); %s"
                                     % (volume_name, SIZE_MB, marker, _path_text(client), exc.message, _room_fix(None)),
                                 server_message=exc.message)
            fail_step(module, "adding the write-in-progress marker %s of volume %s" % (marker, volume_name), exc,
                      "; nothing was changed")
    if create_mb is not None:
        try:
            client.block_add(label, create_mb)
        except AlbatrossError as exc:
            if not marker_present:
                # Only tidiness: a marker without its volume is harmless, the next run removes or reuses it.
                try:
                    client.block_remove(marker)
                except AlbatrossError:
                    pass
            if _policy_full(exc):
                module.fail_json(msg="cannot create volume %s (%d MB) with data: together with its %d MB write-in-progress marker %s "
                                     "it does not fit the policy of path %s (%s); %s"
                                     % (volume_name, create_mb, SIZE_MB, marker, _path_text(client), exc.message, _room_fix(None)),
                                 server_message=exc.message)
            fail_step(module, "creating volume %s with data %s" % (volume_name, data), exc, leftover_hint(exc, volume_name))
    try:
        _upload_file(client, label, data, compression)
    except CommandFailed as exc:
        if "is in use" in exc.message:
            module.fail_json(msg=in_use_message(client, Volume(volume_name, create_mb or 0), "overwrite the data of"),
                             server_message=exc.message)
        fail_step(module, "writing data %s to volume %s" % (data, volume_name), exc, _INCOMPLETE % marker)
    except AlbatrossError as exc:
        fail_step(module, "writing data %s to volume %s" % (data, volume_name), exc, _INCOMPLETE % marker)
    try:
        client.block_remove(marker)
    except AlbatrossError as exc:
        fail_step(module, "removing the write-in-progress marker %s of volume %s" % (marker, volume_name), exc,
                  "; the data was written completely, but as long as the marker is there each run writes the data again")


def leftover_hint(exc: AlbatrossError, volume_name: str) -> str:
    """What to do when albatross knows no volume of that name but still has its file."""
    if not (isinstance(exc, CommandFailed) and exc.message == "file already exists"):
        return ""
    return ("; albatross still has the file of volume %s although it lists no such volume (albatrossd skips a volume file "
            "that is not a whole number of MB when it starts, which happens after a restart during a data write): remove "
            "<albatross dbdir>/block/%s on the albatross host, then run this task again" % (volume_name, volume_name))


_INCOMPLETE = ("; the volume now holds incomplete data, and its write-in-progress marker %s stays so that the next run "
               "writes the data again")


def pending_text(volume_name: str, marker: str) -> str:
    return ("volume %s holds incomplete data: a data write of an earlier run did not finish (its write-in-progress marker %s "
            "is still on the server)" % (volume_name, marker))
