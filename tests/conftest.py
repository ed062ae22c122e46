# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection importable as ansible_collections.unikernels.albatross."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "unikernels", "albatross")


def _ensure_link() -> None:
    # Inside ansible-test the collection already sits under ansible_collections/.
    if os.path.basename(os.path.dirname(os.path.dirname(ROOT))) == "ansible_collections":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(ROOT))))
        return
    if not os.path.islink(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(ROOT, LINK)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


_ensure_link()


# --- skip policy ---------------------------------------------------------------------
# Every skip must be one of tests/skip_policy.py; any other skip (a missing vector file,
# a fixture that gave up, an empty parametrization) fails the session.


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text[len("Skipped: "):] if text.startswith("Skipped: ") else text


def _unexpected_skips(config) -> list:
    import re  # pylint: disable=import-outside-toplevel

    from ansible_collections.unikernels.albatross.tests.skip_policy import EXPECTED_SKIPS  # pylint: disable=import-outside-toplevel

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return []
    found = []
    for report in reporter.stats.get("skipped", []):
        reason = _skip_reason(report)
        if not any(re.search(pattern, reason) for pattern in EXPECTED_SKIPS):
            found.append((report.nodeid or getattr(report, "fspath", "?"), reason))
    return found


_UNEXPECTED: list = []


def pytest_sessionfinish(session, exitstatus):
    # xdist workers report to the controller, which decides.
    if hasattr(session.config, "workerinput"):
        return
    _UNEXPECTED[:] = _unexpected_skips(session.config)
    if _UNEXPECTED and exitstatus in (0, 5):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, config):
    unexpected = _UNEXPECTED if not hasattr(config, "workerinput") else []
    if unexpected:
        terminalreporter.section("unexpected skips (not in tests/skip_policy.py)", sep="=", red=True, bold=True)
        for nodeid, reason in unexpected:
            terminalreporter.line("%s: %s" % (nodeid, reason))
