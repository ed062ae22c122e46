# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Albatross labels, paths and names (PRIVATE to the collection).

A name is a path (tuple of labels, the chain of policy sub-CAs) and an optional
label. ``to_string`` joins the path with ``:`` and appends ``:`` and the label:
root is ``:``, unikernel ``foo`` at root ``:foo``, path ``a:b`` is ``a:b:``.
Parsing and error texts follow albatross' ``Vmm_core.Name``.
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError

LABEL_ERROR = "invalid label (only [a-zA-Z0-9-.] allowed, 1 to 63 chars)"

_LABEL_RE = re.compile(r"\A[A-Za-z0-9.][A-Za-z0-9.-]{0,62}\Z")

Path = Tuple[str, ...]


def is_label(text: str) -> bool:
    return isinstance(text, str) and _LABEL_RE.match(text) is not None


def validate_label(text: str) -> str:
    """Return the label lower-cased, or raise ValidationError with albatross' text."""
    if not is_label(text):
        raise ValidationError(LABEL_ERROR)
    return text.lower()


def _path_of_string(text: str) -> Path:
    parts = text.split(":")
    if parts[0] == "":
        parts = parts[1:]
    labels = []
    for part in parts:
        if not is_label(part):
            raise ValidationError("invalid path: " + LABEL_ERROR)
        labels.append(part.lower())
    return tuple(labels)


def parse_path(text: str) -> Path:
    """Parse a path: ``""`` and ``":"`` are root, ``"a:b"`` and ``"a:b:"`` are path (a, b)."""
    if not isinstance(text, str):
        raise ValidationError("invalid path: expected a string")
    if text.endswith(":"):
        text = text[:-1]
    return _path_of_string(text)


def path_to_string(path: Path) -> str:
    """``"a:b"`` for path (a, b), ``""`` for root."""
    return ":".join(path)


def parse_name(text: str) -> Tuple[Path, Optional[str]]:
    """Parse a name into (path, label); a trailing ``:`` means no label."""
    if not isinstance(text, str):
        raise ValidationError("invalid name")
    if text == "":
        raise ValidationError("empty name")
    if text.endswith(":"):
        return _path_of_string(text[:-1]), None
    try:
        labels = _path_of_string(text)
    except ValidationError:
        raise ValidationError("invalid name") from None
    if not labels:
        raise ValidationError("empty name")
    return labels[:-1], labels[-1]


def name_to_string(path: Path, label: Optional[str] = None) -> str:
    """``":foo"``, ``"a:b:foo"``, ``"a:b:"`` or ``":"``."""
    return ":".join(path) + ":" + (label or "")


def normalize_name(text: str) -> str:
    """Parse and print again (lower-cases labels, adds the leading ``:``)."""
    path, label = parse_name(text)
    return name_to_string(path, label)
