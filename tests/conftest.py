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
