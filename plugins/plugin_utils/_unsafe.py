# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mark data from albatross servers as unsafe (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.

Names, arguments and other strings a server reports end up in host variables. If one
of them held ``{{ ... }}`` and Ansible templated it, whoever controls a unikernel's
arguments could run code on the controller (community.general PR #8098). Every value
an inventory plugin takes from a server goes through ``make_unsafe`` first, the way
community.docker and community.dns do it: ``wrap_var`` removes template trust on
ansible-core 2.19 and later, and marks the strings unsafe on older cores.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping, Set

from ansible.module_utils.common.collections import is_sequence
from ansible.utils.unsafe_proxy import AnsibleUnsafe
from ansible.utils.unsafe_proxy import wrap_var as _make_unsafe

_SCALARS = frozenset((int, float, bool, type(None)))


def make_unsafe(value: t.Any) -> t.Any:
    """``value`` with every string that could start a template marked unsafe (recursively)."""
    # The exact JSON types first, without isinstance: inventories call this for thousands of values.
    value_type = type(value)
    if value_type is str:
        return _make_unsafe(value) if "{" in value or "}" in value else value
    if value_type in _SCALARS:
        return value
    if value_type is dict:
        return {make_unsafe(key): make_unsafe(val) for key, val in value.items()}
    if value_type is list:
        return [make_unsafe(elt) for elt in value]
    if isinstance(value, AnsibleUnsafe):
        return value
    if isinstance(value, Mapping):
        return {make_unsafe(key): make_unsafe(val) for key, val in value.items()}
    if isinstance(value, Set):
        return {make_unsafe(elt) for elt in value}
    if is_sequence(value):
        return type(value)(make_unsafe(elt) for elt in value)
    if isinstance(value, bytes):
        return _make_unsafe(value) if b"{" in value or b"}" in value else value
    if isinstance(value, str):
        return _make_unsafe(value) if "{" in value or "}" in value else value
    return value
