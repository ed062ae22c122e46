# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Block device commands of albatrossd; devices are sparse files ``<state>/block/<name>``."""

from __future__ import annotations

import os
import zlib
from typing import Iterator, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Image, Success, Volume

from . import names
from .resources import CommandError, Resources

CHUNK = 4096
COMPRESSED_PIECE = 65536
MAX_BYTES = 1 << 62


def bytes_of_mb(size: int) -> int:
    res = size << 20
    if not size < res < MAX_BYTES:
        raise CommandError("overflow while computing bytes")
    return res


class Blocks:
    def __init__(self, resources: Resources, directory: str) -> None:
        self.res = resources
        self.dir = directory

    def path(self, name: names.Name) -> str:
        return os.path.join(self.dir, names.to_string(name))

    def _create_empty(self, name: names.Name) -> None:
        if os.path.exists(self.path(name)):
            raise CommandError("file already exists")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)

    def _create(self, name: names.Name, size: int, data: bytes = b"") -> None:
        self._create_empty(name)
        with open(self.path(name), "r+b") as handle:
            handle.write(data)
        os.truncate(self.path(name), bytes_of_mb(size))

    def _destroy(self, name: names.Name) -> None:
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass

    def info(self, name: names.Name) -> Success:
        if name[1] is None:
            found = names.trie_fold(self.res.blocks, name[0])
        else:
            entry = self.res.blocks.get(name)
            found = [(name, entry)] if entry is not None else []
        return Success("block_devices", tuple(Volume(names.to_string(rel), e[0], e[1]) for rel, e in found))

    def add(self, name: names.Name, size: int, data: Optional[bytes] = None, compressed: bool = False, old: bool = False) -> str:
        if name in self.res.blocks:
            raise CommandError("block device with same name already exists")
        self.res.check_block(name, size)
        limit = bytes_of_mb(size) if old or data is not None else 0
        if data is not None:
            if compressed:
                data = _uncompress(data)
            if len(data) > limit:
                raise CommandError("data exceeds block size")
        self._create(name, size, data or b"")
        self.res.blocks[name] = [size, False]
        return "added block device"

    def remove(self, name: names.Name) -> str:
        entry = self.res.find_block(name)
        if entry is None:
            raise CommandError("remove block: not found")
        if entry[1]:
            raise CommandError("remove block: is in use")
        self._destroy(name)
        del self.res.blocks[name]
        return "removed block"

    def set_old(self, name: names.Name, compressed: bool, data: bytes) -> str:
        entry = self.res.find_block(name)
        if entry is None:
            raise CommandError("set block: not found")
        if entry[1]:
            raise CommandError("set block: is in use")
        limit = bytes_of_mb(entry[0])
        if compressed:
            data = _uncompress(data)
        if len(data) > limit:
            raise CommandError("data exceeds block size")
        self._destroy(name)
        self._create(name, entry[0], data)
        return "set block device"

    def set_begin(self, name: names.Name, compressed: bool) -> "BlockWriter":
        # vmmd answers "set block: not found" / "is in use" and closes its socket at once; the real
        # endpoint, still passing the upload on, mostly fails writing to it first and then answers
        # its own "writing block data" (seen with 4 bytes and 3 MB; 100 kB once got vmmd's text).
        entry = self.res.find_block(name)
        if entry is None or entry[1]:
            raise CommandError("writing block data")
        limit = bytes_of_mb(entry[0])
        self._destroy(name)
        self._create_empty(name)
        return BlockWriter(self.path(name), entry[0], limit, compressed)

    def _check_dump(self, name: names.Name) -> str:
        entry = self.res.find_block(name)
        if entry is None:
            raise CommandError("dump block: not found")
        if entry[1]:
            raise CommandError("dump block: is in use")
        if not os.path.exists(self.path(name)):
            raise CommandError("file does not exist")
        return self.path(name)

    def dump_old(self, name: names.Name, level: int) -> Success:
        with open(self._check_dump(name), "rb") as handle:
            data = handle.read()
        if level == 0:
            return Success("old_block_device_image", Image(False, data))
        if not 0 < level <= 9:
            raise ConnectionAbortedError("compression level out of range")
        return Success("old_block_device_image", Image(True, zlib.compress(data, level)))

    def dump(self, name: names.Name, level: int) -> Tuple[bool, Iterator[bytes]]:
        """The flag of ``S(block-device-image)`` and the chunks of the data messages."""
        path = self._check_dump(name)
        if level != 0 and not 0 < level <= 9:
            raise ConnectionAbortedError("compression level out of range")
        return level != 0, _dump_chunks(path, level)


def _dump_chunks(path: str, level: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(level) if level else None
    pending = b""
    with open(path, "rb") as handle:
        while True:
            piece = handle.read(CHUNK)
            if compressor is None:
                if piece:
                    yield piece
            else:
                pending += compressor.compress(piece) if piece else compressor.flush()
                while len(pending) >= COMPRESSED_PIECE or (not piece and pending):
                    yield pending[:COMPRESSED_PIECE]
                    pending = pending[COMPRESSED_PIECE:]
            if not piece:
                return


def _uncompress(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error as exc:
        raise CommandError(str(exc)) from None


class BlockWriter:
    """Receives a block set upload; failures are kept until the end of the upload.

    Like vmmd's ``stream_to_block``: ``set_begin`` deleted the file and created it again empty, the
    data is written as it arrives, and ``finish`` truncates the file to the volume size only when the
    stream ended without an error. A client that goes away mid-upload ends the stream too (vmmd reads
    the endpoint closing its socket like the end marker), so a plain upload cut short leaves the data
    received so far followed by zeros; a cut zlib stream is an error and leaves the shorter file.
    """

    def __init__(self, path: str, size: int, limit: int, compressed: bool) -> None:
        self.path = path
        self.size = size
        self.limit = limit
        self.written = 0
        self.error: Optional[str] = None
        self.inflate = zlib.decompressobj() if compressed else None
        self.handle = open(path, "r+b")  # pylint: disable=consider-using-with

    def _write(self, data: bytes) -> None:
        if len(data) > self.limit - self.written:
            self.error = "stream exceeds size"
            return
        self.handle.write(data)
        self.written += len(data)

    def feed(self, chunk: bytes) -> None:
        if self.error is not None:
            return
        if self.inflate is None:
            self._write(chunk)
            return
        if self.inflate.eof:
            return
        try:
            # bounded output per step so a zip bomb cannot exhaust memory
            data = self.inflate.decompress(chunk, CHUNK * 16)
            while data:
                self._write(data)
                if self.error is not None:
                    return
                data = self.inflate.decompress(self.inflate.unconsumed_tail, CHUNK * 16) if self.inflate.unconsumed_tail else b""
        except zlib.error:
            self.error = "error writing to file descriptor"

    def finish(self) -> str:
        try:
            if self.error is None and self.inflate is not None and not self.inflate.eof:
                self.error = "error writing to file descriptor"
            self.handle.close()
            if self.error is not None:
                raise CommandError(self.error)
            os.truncate(self.path, bytes_of_mb(self.size))
            return "set block device"
        finally:
            if not self.handle.closed:
                self.handle.close()
