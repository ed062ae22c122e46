# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test server that behaves like albatross 2.7 (albatrossd, console, stats and TLS endpoint in one process).

Written from the albatross sources, independent of the collection's client code: it only
shares the data model and the wire codec, which are pinned by byte vectors of the real tools.
"""

from __future__ import annotations
