# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile input: every decoder of server (and certificate) data is total.

The frame reader, the public reply decoder, both reply decoders behind it (the direct
reader fast_wire and the asn1crypto reference), the block dump reader and the command,
certificate extension and policy decoders get random bytes and mutations of the real
vectors. Only the library's own errors may escape: IndexError, ValueError,
UnicodeDecodeError, RecursionError, MemoryError or an asn1crypto internal is a decoder bug.
Time is bounded by ``FUZZ`` (a fixed number of examples, a per-example deadline), memory
by the frame size limit, checked here with tracemalloc.
"""

from __future__ import annotations

import io
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import chunks, fast_wire, transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    CommandFailed,
    ProtocolError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    decode_cert_extension,
    decode_command,
    decode_policy,
    decode_wire,
    decode_wire_reference,
    encode_cert_extension,
    encode_wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Data, Header, Wire
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import albatross_strategies as s
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils.fuzz_inputs import FUZZ, SEEDS, mutated

# The decoders that take a whole message and must give a value or ProtocolError.
TOTAL = (decode_wire, decode_wire_reference, decode_cert_extension, decode_command, decode_policy)
# What may leave the stream readers: a protocol error, a broken stream, a failure reply.
STREAM_ERRORS = (ProtocolError, AlbatrossConnectionError, CommandFailed)
SERVER = "127.0.0.1:1025"
# The cheap inputs (most fail at the first headers) get more examples for the same time.
WIDE = settings(FUZZ, max_examples=FUZZ.max_examples * 4)


def _total(data: bytes) -> None:
    for decoder in TOTAL:
        try:
            decoder(data)
        except ProtocolError:
            pass
    try:
        fast = fast_wire.decode_wire(data)
    except (fast_wire.Unsupported, ProtocolError):
        # Refusals the public decoder falls back on; anything else is a bug it would let through.
        fast = None
    if fast is not None:
        assert decode_wire_reference(data) == fast
    chunk = chunks.block_chunk(data)
    assert chunk is None or isinstance(chunk, bytes)


@WIDE
@given(st.binary(max_size=300))
def test_random_bytes(data):
    _total(data)


@WIDE
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


def test_seeds_decode():
    # The unmutated seeds are valid: the decoders that accept their kind return a value.
    for data in SEEDS:
        _total(data)
    assert len(SEEDS) > 100


@pytest.mark.parametrize("data", [
    b"\x30\x84\x7f\xff\xff\xff",  # lengths of 2 GiB, 4 GiB and more than 4 bytes
    b"\x30\x84\xff\xff\xff\xff\x00",
    b"\x30\x85\x01\x00\x00\x00\x00",
    b"\x04\x88" + b"\xff" * 8,
    b"\x30\x80\x00\x00",  # indefinite length
    b"\x30\x03\x02\x81\x01",  # a value claiming more than its container
])
def test_huge_lengths_fail_fast(data):
    tracemalloc.start()
    try:
        _total(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_impossible_date_in_an_info_reply():
    # Digits in the usual form but no date: the direct reader hands it to the reference,
    # which refuses it (a ValueError of datetime used to escape the direct reader).
    data = golden.hex_lines("replies", "unikernel_info_net.reply.hex")[0]
    at = data.index(b"\x18\x13") + 2
    bad = data[:at + 4] + b"13" + data[at + 6:]
    with pytest.raises(fast_wire.Unsupported):
        fast_wire.decode_wire(bad)
    with pytest.raises(ProtocolError, match="GeneralizedTime"):
        decode_wire(bad)


def test_invalid_header_name_in_a_canonical_reply():
    # A name albatross would never send goes to the reference, which words the error.
    data = golden.hex_lines("replies", "unikernel_info_net.reply.hex")[0]
    bad = data.replace(b"\x0c\x04:net", b"\x0c\x04:n!t", 1)
    assert bad != data
    with pytest.raises(fast_wire.Unsupported):
        fast_wire.decode_wire(bad)
    with pytest.raises(ProtocolError, match="invalid name"):
        decode_wire(bad)


def test_deep_nesting_is_refused_without_recursion():
    data = b""
    for _level in range(5000):
        data = fast_wire._tlv(0x30, data)  # pylint: disable=protected-access
    with pytest.raises(ProtocolError, match="too deep"):
        decode_wire_reference(data)
    _total(data)


def test_many_elements():
    # 50 000 tiny elements in a SET OF INTEGER: linear, no recursion.
    body = b"\x02\x01\x00" * 50000
    _total(b"\x31\x83" + len(body).to_bytes(3, "big") + body)


# ---------------------------------------------------------------- the frame reader


class _Peer:
    """A socket whose peer sends ``data`` in pieces of ``sizes`` bytes, then closes."""

    def __init__(self, data: bytes, sizes=()) -> None:
        self.data = data
        self.sizes = list(sizes)
        self.pos = 0

    def settimeout(self, _timeout) -> None:
        pass

    def recv(self, size: int) -> bytes:
        if self.sizes:
            size = max(1, min(size, self.sizes.pop(0)))
        piece = self.data[self.pos:self.pos + size]
        self.pos += len(piece)
        return piece

    def sendall(self, _data) -> None:
        pass

    def close(self) -> None:
        pass


def _connection(data: bytes, sizes=(), max_frame: int = transport.DEFAULT_MAX_FRAME) -> transport.Connection:
    return transport.Connection(_Peer(data, sizes), SERVER, 5.0, max_frame=max_frame, what="stats subscribe")


def _frame(message: bytes) -> bytes:
    return len(message).to_bytes(4, "big") + message


@st.composite
def streams(draw):
    """Length-prefixed messages (real, mutated or random), some with a wrong length, cut anywhere."""
    parts = []
    for _index in range(draw(st.integers(0, 4))):
        message = draw(st.one_of(st.sampled_from(SEEDS), mutated(), st.binary(max_size=40)))
        prefix = draw(st.one_of(
            st.just(len(message)),
            st.sampled_from((0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, transport.DEFAULT_MAX_FRAME + 1)),
            st.integers(0, len(message) + 8),
        ))
        parts.append(prefix.to_bytes(4, "big") + message)
    data = b"".join(parts)
    cut = draw(st.integers(0, len(data)))
    return data[:cut] if draw(st.booleans()) else data


@WIDE
@given(streams(), st.lists(st.integers(1, 64), max_size=8))
def test_frame_reader(data, sizes):
    conn = _connection(data, sizes)
    for _message in range(8):
        try:
            wire = conn.read_message()
        except STREAM_ERRORS:
            return
        if wire is None:
            return
        assert isinstance(wire, Wire)


@st.composite
def dumps(draw):
    """A block dump: data chunks (some mutated), maybe a failure or the end marker."""
    real = golden.hex_lines("replies", "block_dump_storage.reply.hex")
    small = [encode_wire(Wire(Header(":storage"), Data("block", draw(st.binary(max_size=20)))))]
    frames = [draw(st.one_of(st.sampled_from(real[1:] + small), mutated(st.sampled_from(small)))) for _index in range(draw(st.integers(0, 3)))]
    frames.append(draw(st.sampled_from((encode_wire(Wire(Header(":storage"), Data("block", None))), real[0], b""))))
    return b"".join(_frame(frame) if frame else b"" for frame in frames)


@FUZZ
@given(dumps(), st.booleans())
def test_block_dump_reader(data, compressed):
    try:
        _connection(data).read_block_dump(io.BytesIO(), compressed)
    except STREAM_ERRORS:
        pass


def _peak(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("length", [0x7FFFFFFF, transport.DEFAULT_MAX_FRAME + 1, 0x10000000 + 12345678])
def test_frame_above_the_limit_allocates_nothing(length):
    conn = _connection(length.to_bytes(4, "big") + b"\x30" * 64)

    def read():
        with pytest.raises(ProtocolError, match="more than the limit of %d bytes" % transport.DEFAULT_MAX_FRAME):
            conn.read_frame()
    assert _peak(read) < 1 << 20


@pytest.mark.parametrize("header", [b"\xff\xff\xff\xff", b"\x80\x00\x00\x00", b"\x00\x00\x00\x00"])
def test_frame_of_4_gib_or_negative_ends_the_stream(header):
    # A length with the top bit set is end of stream (§3.1), as for albatross' reader.
    conn = _connection(header + b"\x30" * 64)
    found = []
    assert _peak(lambda: found.append(conn.read_frame())) < 1 << 20
    assert found == [None]


def test_frame_below_the_limit_is_buffered_as_it_arrives():
    # 200 MB announced, 10 bytes sent: the buffer holds what came, not what was announced.
    conn = _connection((200 << 20).to_bytes(4, "big") + b"\x30" * 10, sizes=(4, 5, 5))

    def read():
        with pytest.raises(AlbatrossConnectionError, match="in the middle of a message"):
            conn.read_frame()
    assert _peak(read) < 1 << 20


def test_frame_limit_is_configurable():
    message = golden.hex_lines("replies", "unikernel_info_net.reply.hex")[0]
    with pytest.raises(ProtocolError, match="limit of 100 bytes"):
        _connection(_frame(message), max_frame=100).read_frame()
    assert _connection(_frame(message), max_frame=len(message)).read_frame() == message
