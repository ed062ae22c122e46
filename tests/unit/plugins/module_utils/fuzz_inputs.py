# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile inputs for the decoder tests: the real vectors as seeds and DER-aware mutations.

Random bytes rarely get past the first header, so most inputs start from a real message
(a golden vector or a fixed sample) and change a few things in it: bit flips, truncation,
inserted or deleted bytes, and edits aimed at the structure (a tag or a length field of
one of its elements) so that the decoders see messages that are nearly right.
"""

from __future__ import annotations

import datetime
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden

#: One budget for every hypothesis test over hostile input: a fixed number of examples,
#: and a per-example deadline far above the normal (about 1 ms) so that only a
#: pathological decoder (quadratic, huge allocation) trips it, even on a loaded core.
FUZZ = settings(
    max_examples=int(os.environ.get("ALBATROSS_FUZZ_EXAMPLES", "200")),
    deadline=datetime.timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Larger messages (block dumps of 4 KiB) cost time without reaching new decoder paths.
_SEED_LIMIT = 2000

_SAMPLES = (
    # The byte examples of the protocol specification (§3.9).
    "30203013020105040800000000000000000c043a666f6fa009a007a205a103020114",
    "300c020105a007a205a103020114",
    "3017020105a412a110300e3003020100020101020202003000",
)


def _seeds() -> list:
    seeds = [bytes.fromhex(sample) for sample in _SAMPLES]
    for kind in ("requests", "cert_ext", "replies"):
        for name in sorted(os.listdir(golden.path(kind))):
            if name.endswith(".hex"):
                seeds.extend(data for data in golden.hex_lines(kind, name) if len(data) < _SEED_LIMIT)
    return seeds


SEEDS = _seeds()


def headers(data: bytes) -> list:
    """(position, header size) of every element of ``data``, read leniently (best effort)."""
    found = []
    stack = [(0, len(data))]
    while stack and len(found) < 512:
        pos, end = stack.pop()
        while pos + 2 <= end:
            tag, first = data[pos], data[pos + 1]
            size, head = first, 2
            if first & 0x80:
                count = first & 0x7F
                if count == 0 or count > 4 or pos + 2 + count > end:
                    break
                size, head = int.from_bytes(data[pos + 2:pos + 2 + count], "big"), 2 + count
            if pos + head + size > end:
                break
            found.append((pos, head))
            if tag & 0x20:
                stack.append((pos + head, pos + head + size))
            pos += head + size
    return found


_LENGTHS = (b"\x00", b"\x01", b"\x7f", b"\x80", b"\x81\x7f", b"\x81\x80", b"\x82\x00\x80", b"\x84\x7f\xff\xff\xff",
            b"\x84\xff\xff\xff\xff", b"\x85\x01\x00\x00\x00\x00", b"\x88" + b"\xff" * 8)
_TAGS = (0x00, 0x01, 0x02, 0x04, 0x05, 0x0C, 0x18, 0x1F, 0x30, 0x31, 0x10, 0x11, 0x45, 0x7F, 0x80, 0xA0, 0xA1, 0xA2, 0xA3,
         0xA4, 0xA5, 0xA6, 0xAD, 0xAE, 0xBE, 0xBF, 0xC0, 0xFF)


@st.composite
def mutated(draw, base=None):
    """A seed (or a value of ``base``) with one to four mutations."""
    data = bytearray(draw(st.sampled_from(SEEDS)) if base is None else draw(base))
    for _round in range(draw(st.integers(1, 4))):
        if not data:
            break
        action = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "duplicate", "tag", "length", "resize")))
        elements = headers(bytes(data)) if action in ("tag", "length", "resize") else []
        if elements:
            pos, head = draw(st.sampled_from(elements))
            if action == "tag":
                data[pos] = draw(st.sampled_from(_TAGS))
            elif action == "length":
                data[pos + 1:pos + head] = draw(st.sampled_from(_LENGTHS))
            else:
                # The same length form, one more or less (or far off): contents and container disagree.
                size = int.from_bytes(data[pos + 2:pos + head], "big") if head > 2 else data[pos + 1]
                size = max(0, size + draw(st.sampled_from((-2, -1, 1, 2, 1000))))
                data[pos + 1:pos + head] = bytes((size,)) if size < 0x80 else bytes((0x82,)) + (size & 0xFFFF).to_bytes(2, "big")
            continue
        where = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[where] = draw(st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF, 0x30, 0x31, 0xA0, 0xBF, 0x1F)))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[where:where + draw(st.integers(1, 4))]
        elif action == "truncate":
            del data[where:]
        else:
            data[where:where] = data[where:where + draw(st.integers(1, 16))]
    return bytes(data)
