# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The golden vectors of the real albatross tools, committed under tests/fixtures/vectors.

They are part of the repository (see their INDEX.md) so that the tests reading them
always run: a missing file is a test failure, never a skip.
"""

from __future__ import annotations

import glob
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
VECTORS = os.path.join(REPO, "tests", "fixtures", "vectors")


def path(*parts: str) -> str:
    return os.path.join(VECTORS, *parts)


def read(*parts: str) -> bytes:
    with open(path(*parts), "rb") as handle:
        return handle.read()


def hex_lines(*parts: str) -> list:
    """The messages of a ``.hex`` file (one hex message per line)."""
    return [bytes.fromhex(line) for line in read(*parts).decode("ascii").split()]


def reply_files() -> list:
    """Paths of every ``replies/*.reply.hex`` file, sorted."""
    found = sorted(glob.glob(path("replies", "*.reply.hex")))
    # An empty list would make every test over it pass vacuously.
    assert found, "no reply vectors under %s" % VECTORS
    return found


def reply_messages() -> list:
    """(file name, line number, message) of every reply message of the real daemons."""
    return [(os.path.basename(name), number, data)
            for name in reply_files()
            for number, data in enumerate(hex_lines(name))]
