# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decoding is total: hostile bytes give a model value or ProtocolError, nothing else."""

from __future__ import annotations

import glob
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    decode_cert_extension,
    decode_command,
    decode_policy,
    decode_wire,
    encode_cert_extension,
    encode_wire,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import albatross_strategies as s

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DECODERS = (decode_wire, decode_cert_extension, decode_command, decode_policy)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
VECTORS = os.environ.get("ALBATROSS_VECTORS") or os.path.join(REPO, "..", "shared", "vectors")


def _seeds() -> list:
    """Valid messages to mutate: the real vectors (when present, small ones) and fixed samples."""
    seeds = [
        bytes.fromhex("30203013020105040800000000000000000c043a666f6fa009a007a205a103020114"),
        bytes.fromhex("300c020105a007a205a103020114"),
        bytes.fromhex("3017020105a412a110300e3003020100020101020202003000"),
    ]
    for path in sorted(glob.glob(os.path.join(VECTORS, "*", "*.hex"))):
        with open(path, "r", encoding="ascii") as handle:
            seeds.extend(bytes.fromhex(line) for line in handle.read().split() if len(line) < 4000)
    return seeds


SEEDS = _seeds()


def _total(data: bytes) -> None:
    for decoder in DECODERS:
        try:
            decoder(data)
        except ProtocolError:
            pass


@st.composite
def mutated(draw, base=None):
    data = bytearray(draw(st.sampled_from(SEEDS)) if base is None else draw(base))
    for _round in range(draw(st.integers(1, 4))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "length", "duplicate")))
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
        elif action == "length" and len(data) > 1:
            data[1] = draw(st.integers(0, 255))
        else:
            data[where:where] = data[where:where + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    _total(data)


@FUZZ
@given(mutated())
def test_mutated_vectors(data):
    _total(data)


@FUZZ
@given(mutated(s.wires().map(encode_wire)))
def test_mutated_wires(data):
    _total(data)


@FUZZ
@given(mutated(s.commands.map(encode_cert_extension)))
def test_mutated_extensions(data):
    _total(data)


def test_huge_lengths_are_bounded():
    # A length claiming 2 GiB must fail fast, not allocate.
    for data in (b"\x30\x84\x7f\xff\xff\xff", b"\x30\x84\xff\xff\xff\xff\x00", b"\x30\x85\x01\x00\x00\x00\x00", b"\x04\x88" + b"\xff" * 8):
        _total(data)


def test_many_elements():
    # 50 000 tiny elements in a SET OF INTEGER: linear, no recursion.
    body = b"\x02\x01\x00" * 50000
    size = len(body).to_bytes(3, "big")
    data = b"\x31\x83" + size + body
    _total(data)
