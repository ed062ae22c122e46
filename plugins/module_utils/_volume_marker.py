# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write-in-progress markers of volumes (PRIVATE to the collection).

Albatross keeps no metadata about a volume and cannot rename one, and a block set that is cut
off (ctrl-c, a cancelled AWX job, a killed controller, a dropped connection) leaves the volume
with part of the data. So before any data write the block module adds a 1 MB volume, the
*marker*, next to the volume (same path), and removes it only after albatross confirmed the
write. Whoever finds a marker knows that the data of its volume is not what was last asked for.
The state lives on the server, so it holds for throwaway AWX containers, several controllers and
a SIGKILL, when no cleanup code runs.

Every place that needs a marker's name uses ``marker_label``; this module imports nothing of
Ansible.
"""

from __future__ import annotations

import hashlib
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Volume
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import parse_name

SIZE_MB = 1  # albatross cannot add a 0 MB volume ("overflow while computing bytes", after creating the file)
PREFIX = "pending-data"
_DIRECT = PREFIX + "."  # pending-data.<label>: readable, for labels of up to 50 characters
_HASHED = PREFIX + "-"  # pending-data-<start of label>.<sha256 prefix>: longer labels
_MAX = 63  # longest albatross label
_HASH_CHARS = 12


def marker_label(label: str) -> str:
    """The marker's label for the (validated, lower-case) volume label ``label``.

    The two forms differ in the character after ``pending-data``, so a marker of a short label
    never equals the marker of a long one.
    """
    direct = _DIRECT + label
    if len(direct) <= _MAX:
        return direct
    digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    keep = _MAX - len(_HASHED) - 1 - _HASH_CHARS
    return _HASHED + label[:keep] + "." + digest


def is_marker(label: str) -> bool:
    """Whether ``label`` has the form of a marker (both forms are reserved for markers)."""
    return label.startswith((_DIRECT, _HASHED))


def owner_of(marker: str, candidates: t.Iterable[str] = ()) -> str | None:
    """The volume label that ``marker`` belongs to.

    The short form names it; the hashed form only matches one of ``candidates``. None when unknown.
    """
    if marker.startswith(_DIRECT):
        owner = marker[len(_DIRECT):]
        return owner if owner and marker_label(owner) == marker else None
    for candidate in candidates:
        if marker_label(candidate) == marker:
            return candidate
    return None


class Listing(t.NamedTuple):
    """A block info reply split into volumes and markers (all with full names)."""

    volumes: list[Volume]
    pending: set[str]  # full names of the volumes that have a marker
    orphans: list[Volume]  # markers whose volume does not exist


def split_listing(found: t.Iterable[Volume]) -> Listing:
    """Sort the volumes of a path listing into ordinary volumes, volumes with a marker, and orphan markers."""
    volumes: list[Volume] = []
    markers: list[tuple[tuple[str, ...], str, Volume]] = []
    for volume in found:
        try:
            path, label = parse_name(volume.name)
        except ValidationError:
            volumes.append(volume)
            continue
        if label is not None and is_marker(label):
            markers.append((tuple(path), label, volume))
        else:
            volumes.append(volume)
    by_path: dict[tuple[str, ...], dict[str, Volume]] = {}
    for volume in volumes:
        try:
            path, label = parse_name(volume.name)
        except ValidationError:
            continue
        if label is not None:
            by_path.setdefault(tuple(path), {})[label] = volume
    pending: set[str] = set()
    orphans: list[Volume] = []
    for path, label, volume in markers:
        neighbours = by_path.get(path, {})
        owner = owner_of(label, neighbours)
        if owner is not None and owner in neighbours:
            pending.add(neighbours[owner].name)
        else:
            orphans.append(volume)
    return Listing(volumes, pending, orphans)
