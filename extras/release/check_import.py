# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge a galaxy-importer log (`make release-check`): any error, and any warning not listed here, fails.

Automation Hub accepts an import with warnings and shows them on the collection's page; a warning
that points at a real problem must therefore fail here, before the upload. The few listed below are
known false alarms of the importer's own settings, each with the reason it does not matter.
"""

from __future__ import annotations

import re
import sys

# flake8 findings: (code, path pattern, why it is not a problem).
ACCEPTED_FLAKE8 = (
    # The importer hands every file of a filter plugin to flake8, also the YAML documentation files
    # (plugins/filter/<name>.yml) of filters that share one Python file; YAML is not Python.
    ("E999", re.compile(r"^plugins/.*\.ya?ml$"), "YAML documentation run through flake8"),
    # pycodestyle leaves these out by default (they contradict PEP 8's current advice on breaking before
    # operators, and Protocol method stubs `def f(self): ...` are the typing idiom); the importer's
    # explicit --select turns them back on.
    ("W503", re.compile(r"^plugins/"), "pycodestyle default-ignored: line break before binary operator"),
    ("W504", re.compile(r"^plugins/"), "pycodestyle default-ignored: line break after binary operator"),
    ("E704", re.compile(r"^plugins/"), "pycodestyle default-ignored: one-line def of a Protocol stub"),
)
FLAKE8_RE = re.compile(r"^WARNING: (?P<path>\S+?):\d+:\d+: (?P<code>[A-Z]+\d+) ")
DONE = "Importer processing completed successfully"


def judge(log: str) -> list[str]:
    """The lines of ``log`` that fail the release check (empty: the import is clean)."""
    problems = []
    for line in log.splitlines():
        if line.startswith("ERROR"):
            problems.append(line)
        elif line.startswith("WARNING"):
            found = FLAKE8_RE.match(line)
            if not (found and any(found.group("code") == code and pattern.search(found.group("path"))
                                  for code, pattern, _why in ACCEPTED_FLAKE8)):
                problems.append(line)
    if DONE not in log:
        problems.append("the importer did not finish: %r is missing" % DONE)
    return problems


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        problems = judge(handle.read())
    for line in problems:
        print("release-check: " + line, file=sys.stderr)
    if problems:
        print("release-check: galaxy-importer reported %d problem(s); the full log is %s" % (len(problems), argv[1]),
              file=sys.stderr)
        return 1
    print("release-check: galaxy-importer accepted the tarball without errors or unexpected warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
