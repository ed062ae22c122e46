# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The skip allow-list (tests/skip_policy.py) against the skips the tests can take."""

from __future__ import annotations

import os
import re

from ansible_collections.unikernels.albatross.tests.integration._host_tools import namespace_skip_reason
from ansible_collections.unikernels.albatross.tests.skip_policy import EXPECTED_SKIPS

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LITERAL_SKIP = re.compile(r"""pytest\.skip\(\s*(["'])(.*?)\1""")


def _allowed(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern in EXPECTED_SKIPS)


def test_patterns_compile_and_are_unique():
    assert len(set(EXPECTED_SKIPS)) == len(EXPECTED_SKIPS)
    for pattern in EXPECTED_SKIPS:
        re.compile(pattern)


def test_every_literal_skip_reason_is_expected():
    # A new skip either names a machine property listed in skip_policy.py, or is a failure.
    found = []
    for folder, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    found += [(name, m.group(2)) for m in _LITERAL_SKIP.finditer(handle.read())]
    assert found
    # Only the text before the first placeholder is fixed.
    assert [item for item in found if not _allowed(item[1].split("%", 1)[0])] == []


def test_namespace_reason_of_this_machine_is_expected():
    reason = namespace_skip_reason()
    assert reason is None or _allowed(reason)
    for reason in ("creating network namespaces needs root (CI runs these tests as root)", "network namespaces need Linux",
                   "cannot create a network namespace here: Operation not permitted"):
        assert _allowed(reason)
    assert not _allowed("albatross vectors not found")
