# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Albatross names (Vmm_core.Name) and the trie fold that produces relative names (Vmm_trie.fold).

A name is ``(path, label)``: ``path`` a tuple of labels, ``label`` a label or None (a path).
"""

from __future__ import annotations

import string
from typing import Any, Callable, Dict, List, Optional, Tuple

Path = Tuple[str, ...]
Name = Tuple[Path, Optional[str]]

LABEL_ERROR = "invalid label (only [a-zA-Z0-9-.] allowed, 1 to 63 chars)"
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-.")


class NameError_(ValueError):
    """A label or name that albatross refuses; the text is albatross' own."""


def label(text: str) -> str:
    """Label.of_string: 1-63 chars of [A-Za-z0-9.-], not starting with '-', lower-cased."""
    if not 0 < len(text) < 64 or text[0] == "-" or not all(c in _LABEL_CHARS for c in text):
        raise NameError_(LABEL_ERROR)
    return text.lower()


def to_string(name: Name) -> str:
    path, lbl = name
    return ":".join(path) + ":" + (lbl or "")


def path_to_string(path: Path) -> str:
    return ":".join(path)


def of_string(text: str) -> Name:
    """Name.of_string (used when restoring persisted names)."""
    if text == "":
        raise NameError_("empty name")
    if text.endswith(":"):
        parts = text[:-1].split(":")
        if parts and parts[0] == "":
            parts = parts[1:]
        return tuple(label(p) for p in parts), None
    parts = text.split(":")
    if parts and parts[0] == "":
        parts = parts[1:]
    try:
        labels = [label(p) for p in parts]
    except NameError_:
        raise NameError_("invalid name") from None
    if not labels:
        raise NameError_("empty name")
    return tuple(labels[:-1]), labels[-1]


def labels_of(name: Name) -> Path:
    path, lbl = name
    return path + (lbl,) if lbl is not None else path


def pp(name: Name) -> str:
    """Name.pp, as used in vmmd/endpoint messages: ``[unikernel: a:b:label]``."""
    path, lbl = name
    return "[unikernel: " + ":".join(path) + ":" + (lbl or "") + "]"


def block_name(unikernel: Name, device: str) -> Name:
    """The host block device of a unikernel lives at the unikernel's own path."""
    return unikernel[0], device


def is_prefix(prefix: Path, labels: Path) -> bool:
    return labels[:len(prefix)] == prefix


def drop_prefix(name: Name, prefix: Path) -> Name:
    path, lbl = name
    if not is_prefix(prefix, path):
        raise ValueError("not a prefix")
    return path[len(prefix):], lbl


class _Node:
    __slots__ = ("value", "children")

    def __init__(self) -> None:
        self.value: Optional[Tuple[Any, bool]] = None
        self.children: Dict[str, "_Node"] = {}


def _build(entries: Dict[Name, Any]) -> _Node:
    root = _Node()
    for name, value in entries.items():
        node = root
        for lbl in labels_of(name):
            node = node.children.setdefault(lbl, _Node())
        node.value = (value, name[1] is None)
    return root


def trie_fold(entries: Dict[Name, Any], path: Path) -> List[Tuple[Name, Any]]:
    """Every entry at or below ``path`` with its name relative to ``path``.

    Same traversal and result order as Vmm_trie.fold with a prepending accumulator:
    the entry at the node itself first, then the children in descending label order.
    """
    node = _build(entries)
    for lbl in path:
        child = node.children.get(lbl)
        if child is None:
            return []
        node = child
    acc: List[Tuple[Name, Any]] = []

    def explore(nd: _Node, prefix_path: Path, lbl: Optional[str]) -> None:
        prefix = prefix_path if lbl is None else prefix_path + (lbl,)
        for child_label in sorted(nd.children):
            explore(nd.children[child_label], prefix, child_label)
        if nd.value is None:
            return
        value, is_path = nd.value
        name: Name = (prefix_path, lbl)
        if is_path:
            name = (prefix, None)
        acc.insert(0, (name, value))

    explore(node, (), None)
    return acc


def collect(keys: List[Name], name: Name) -> List[Name]:
    """Vmm_trie.collect: the stored keys found walking from the root down to ``name``."""
    target = labels_of(name)
    return [key for key in keys if is_prefix(labels_of(key), target)]


def sort_key(name: Name) -> Tuple[str, ...]:
    return labels_of(name)


def apply_all(entries: Dict[Name, Any], func: Callable[[Name, Any], None]) -> None:
    for name in sorted(entries, key=sort_key):
        func(name, entries[name])
