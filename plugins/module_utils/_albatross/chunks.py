# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Upload chunks and block dump messages of albatross streams (PRIVATE to the collection).

Images and block data go to albatross as raw chunks of at most 64 KiB, optionally
as one zlib stream (RFC 1950) cut at arbitrary points; block dumps come back as many
small ``data block`` messages.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Iterable, Iterator, List, Optional, Tuple, Union

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import MAX_COMPRESSION_LEVEL

#: Upload chunk size; albatross recommends chunks of at most 64 KiB.
CHUNK_SIZE = 64 * 1024

Source = Union[bytes, bytearray, memoryview, BinaryIO, Iterable[bytes]]


def _tlv(buf: bytes, pos: int, end: int) -> Tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``; ValueError if malformed."""
    if pos + 2 > end:
        raise ValueError("short")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    length = first
    if first >= 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or pos + count > end or buf[pos] == 0:
            raise ValueError("bad length")
        length = int.from_bytes(buf[pos:pos + count], "big")
        pos += count
        if length < 0x80:
            raise ValueError("non-minimal length")
    if pos + length > end:
        raise ValueError("overrun")
    return tag, pos, pos + length


def block_chunk(frame: bytes) -> Optional[bytes]:
    """The bytes of a ``data block some-data`` message, None for any other message.

    Block dumps arrive as thousands of 4 KiB messages; reading this one fixed shape
    directly is much cheaper than the general decoder, which handles everything else.
    """
    try:
        tag, start, end = _tlv(frame, 0, len(frame))
        if tag != 0x30 or end != len(frame):
            return None
        tag, header_start, pos = _tlv(frame, start, end)
        if tag != 0x30 or frame[header_start:header_start + 3] != b"\x02\x01\x05":
            return None
        # data [3] { block [4] { some-data [0] { OCTET STRING } } }, each filling its parent.
        for expected in (0xA3, 0xA4, 0xA0, 0x04):
            tag, pos, inner_end = _tlv(frame, pos, end)
            if tag != expected or inner_end != end:
                return None
        return frame[pos:end]
    except ValueError:
        return None


def counted(pieces: Iterator[bytes], counter: List[int]) -> Iterator[bytes]:
    for piece in pieces:
        counter[0] += len(piece)
        yield piece


def iter_source(source: Source) -> Iterator[bytes]:
    """Raw pieces (at most ``CHUNK_SIZE`` bytes) of bytes, a binary file or an iterable of bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start:start + CHUNK_SIZE])
        return
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            piece = read(CHUNK_SIZE)
            if not piece:
                return
            yield bytes(piece)
    if isinstance(source, str):
        raise ValidationError("upload data must be bytes, a binary file or an iterable of bytes, not text")
    for piece in source:
        if isinstance(piece, str):
            raise ValidationError("upload data must be bytes, not text")
        view = memoryview(piece).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start:start + CHUNK_SIZE])


def check_source(source: Source) -> None:
    """Refuse upload data that ``iter_source`` cannot stream, before connecting."""
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
        return
    if isinstance(source, str) or not hasattr(source, "__iter__"):
        raise ValidationError("upload data must be bytes, a binary file or an iterable of bytes, not %s" % type(source).__name__)


def check_level(level: int) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= MAX_COMPRESSION_LEVEL:
        raise ValidationError("compression level must be an integer from 0 (none) to 9, got %r" % (level,))
    return level


def chunks(pieces: Iterator[bytes], level: int) -> Iterator[bytes]:
    """Chunks to send: the raw pieces, or one zlib stream cut into ``CHUNK_SIZE`` pieces."""
    check_level(level)
    if level == 0:
        for piece in pieces:
            if piece:
                yield piece
        return
    compressor = zlib.compressobj(level)
    pending = bytearray()
    for piece in pieces:
        pending += compressor.compress(piece)
        while len(pending) >= CHUNK_SIZE:
            yield bytes(pending[:CHUNK_SIZE])
            del pending[:CHUNK_SIZE]
    pending += compressor.flush()
    for start in range(0, len(pending), CHUNK_SIZE):
        yield bytes(pending[start:start + CHUNK_SIZE])
