# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Block devices on the test server: sizes, uploads, dumps, in-use rules and policy limits."""

from __future__ import annotations

import os
import time
import zlib

from albatross_sim import elf, rawclient

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice, Command, Data, Failure, Policy, Success, UnikernelConfig, Volume,
)

DATA = b"BLOCKDATA-0123456789\n"
MB = 1 << 20


def single(result):
    assert result.eof and len(result.wires) == 1, result
    return result.wires[0].payload


def add(raw, name, size, **kw):
    return single(raw.call(name, Command("block_add", size), **kw))


def dump(raw, name, level):
    return raw.call(name, Command("block_dump", level))


def test_add_info_set_dump_remove(raw) -> None:
    assert add(raw, "disk", 1) == Success("string", "added block device")
    assert add(raw, "disk", 1) == Failure("block device with same name already exists")
    assert single(raw.call("disk", Command("block_info"))) == Success("block_devices", (Volume(":disk", 1, False),))
    assert Volume(":disk", 1, False) in single(raw.call(".", Command("block_info"))).value
    assert single(raw.call("disk", Command("block_set", False), upload=[DATA[:5], DATA[5:]])) == Success(
        "string", "set block device")
    plain = dump(raw, "disk", 0)
    assert plain.eof
    first, *chunks, last = plain.wires
    assert first.payload == Success("block_device_image", False)
    assert last.header.sequence == 0  # the endpoint's own final message
    assert last.payload == Data("block", None)
    assert all(len(c.payload.value) <= 4096 for c in chunks)
    content = b"".join(c.payload.value for c in chunks)
    assert content == DATA + b"\x00" * (MB - len(DATA))
    packed = dump(raw, "disk", 6)
    assert packed.wires[0].payload == Success("block_device_image", True)
    # streamed messages keep the backend header: the endpoint's increasing command counter
    assert packed.wires[0].header.sequence > first.header.sequence
    stream = b"".join(w.payload.value for w in packed.wires[1:-1])
    assert zlib.decompress(stream) == content
    assert single(raw.call("disk", Command("block_set", True), upload=[zlib.compress(b"X" * 100, 9)])) == Success(
        "string", "set block device")
    assert b"".join(c.payload.value for c in dump(raw, "disk", 0).wires[1:-1])[:101] == b"X" * 100 + b"\x00"
    assert single(raw.call("disk", Command("block_remove"))) == Success("string", "removed block")
    assert single(raw.call("disk", Command("block_remove"))) == Failure("remove block: not found")
    assert single(raw.call("disk", Command("block_info"))) == Success("block_devices", ())


def test_upload_failures(raw) -> None:
    add(raw, "small", 1)
    too_big = raw.call("small", Command("block_set", False), upload=[b"\x01" * MB, b"\x02"])
    assert single(too_big) == Failure("stream exceeds size")
    bomb = zlib.compress(b"\x00" * (2 * MB))
    assert single(raw.call("small", Command("block_set", True), upload=[bomb])) == Failure("stream exceeds size")
    garbage = raw.call("small", Command("block_set", True), upload=[b"not zlib at all"])
    assert single(garbage) == Failure("error writing to file descriptor")
    truncated = raw.call("small", Command("block_set", True), upload=[zlib.compress(DATA)[:-2]])
    assert single(truncated) == Failure("error writing to file descriptor")
    # the real endpoint's own answer, see Blocks.set_begin
    assert single(raw.call("absent", Command("block_set", False), upload=[DATA])) == Failure("writing block data")
    missing = dump(raw, "absent", 0)
    assert missing.eof and missing.payloads == [Failure("dump block: not found"),
                                                Failure("exception while reading from fd")]
    assert add(raw, "zero", 0) == Failure("overflow while computing bytes")


def test_in_use_rules(raw) -> None:
    add(raw, "storage", 2)
    image = elf.build_image(blocks=["storage"])
    cfg = UnikernelConfig(cpuids=(0,), memory=32, image=image, block_devices=(BlockDevice("storage"),))
    assert single(raw.call("user", Command("unikernel_create", cfg))) == Success("string", "created unikernel")
    [found] = single(raw.call("user", Command("unikernel_info"))).value
    assert (found.block_devices[0].name, found.block_devices[0].host_device, found.block_devices[0].size) == (
        "storage", "storage", 2)
    assert single(raw.call("storage", Command("block_info"))).value == (Volume(":storage", 2, True),)
    assert single(raw.call("other", Command("unikernel_create", cfg))) == Failure("block device :storage already in use")
    assert single(raw.call("storage", Command("block_remove"))) == Failure("remove block: is in use")
    assert single(raw.call("storage", Command("block_set", False), upload=[DATA])) == Failure("writing block data")
    assert dump(raw, "storage", 0).payloads == [Failure("dump block: is in use"), Failure("exception while reading from fd")]
    single(raw.call("user", Command("unikernel_destroy")))
    assert single(raw.call("storage", Command("block_info"))).value == (Volume(":storage", 2, False),)
    assert single(raw.call("storage", Command("block_remove"))) == Success("string", "removed block")


def test_policy_limits(raw) -> None:
    none, none_key = raw.sub("noblock", Policy(unikernels=1, cpuids=(0,), memory=64, block=None, bridges=()))
    assert add(raw, "d", 1, chain=[none], signer=(none, none_key)) == Failure("no block devices are allowed by policy")
    some, some_key = raw.sub("someblock", Policy(unikernels=1, cpuids=(0,), memory=64, block=5, bridges=()))
    kw = dict(chain=[some], signer=(some, some_key))
    assert add(raw, "a", 3, **kw) == Success("string", "added block device")
    assert add(raw, "b", 3, **kw) == Failure(
        "block device policy limit of 5 MB (used 3 MB) would be exceeded by the request (3 MB)")
    assert single(raw.call(".", Command("block_info"), **kw)) == Success("block_devices", (Volume(":a", 3, False),))
    assert single(raw.call("a", Command("block_info"), **kw)) == Success("block_devices", (Volume("someblock:a", 3, False),))


def _cut_upload(raw, name, chunks, compressed=False) -> None:
    """A block set whose client goes away after ``chunks``: no zero chunk, the connection just closes."""
    cert, key = rawclient.leaf(raw.ca, raw.ca_key, name, Command("block_set", compressed))
    with rawclient.connect(raw.address, raw.info.server_ca, [cert], key) as sock:
        for chunk in chunks:
            sock.sendall(rawclient.frame(chunk))


def _settled(path, done, timeout=10.0) -> bytes:
    """The block file once ``done(content)`` holds (the server handles the cut upload after the client left)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as handle:
            content = handle.read()
        if done(content) or time.monotonic() > deadline:
            return content
        time.sleep(0.1)


def test_interrupted_set_keeps_partial_data(raw) -> None:
    # Like albatross: vmmd deletes and recreates the file, writes what arrives, and reads the endpoint
    # closing its socket (the client went away) as the end of the stream, so a plain upload is
    # truncated to the volume size: partial data, then zeros. The old content is gone.
    add(raw, "cut", 1)
    assert single(raw.call("cut", Command("block_set", False), upload=[b"\xff" * MB])) == Success("string", "set block device")
    path = os.path.join(raw.info.state_dir, "block", ":cut")
    _cut_upload(raw, "cut", [b"\x01" * 3000, b"\x02" * 1000])
    content = _settled(path, lambda c: len(c) == MB and c[:1] != b"\xff")
    # How much of the upload arrives depends on timing (a client closing with unread TLS records
    # resets the connection, and the kernel then drops what the server had not read yet): some
    # prefix of what was sent, then zeros, never the old content.
    sent = b"\x01" * 3000 + b"\x02" * 1000
    arrived = len(content.rstrip(b"\x00"))
    assert len(content) == MB and arrived <= len(sent)
    assert content == sent[:arrived] + bytes(MB - arrived)
    assert single(raw.call("cut", Command("block_info"))) == Success("block_devices", (Volume(":cut", 1, False),))
    dumped = b"".join(w.payload.value for w in dump(raw, "cut", 0).wires[1:-1])
    assert dumped == content


def test_interrupted_compressed_set_is_not_truncated(raw) -> None:
    # A cut zlib stream is an error for vmmd ("error writing to file descriptor"): the recreated file
    # keeps what was inflated so far and is not extended to the volume size, so a dump is shorter.
    add(raw, "cutz", 1)
    original = bytes(range(256)) * 2048  # 512 KiB
    packed = zlib.compress(original, 1)
    path = os.path.join(raw.info.state_dir, "block", ":cutz")
    _cut_upload(raw, "cutz", [packed[:len(packed) // 2]], compressed=True)
    time.sleep(0.5)  # nothing signals the end of a cut upload; the file must not grow to the volume size meanwhile
    content = _settled(path, lambda c: len(c) > 0)
    assert 0 < len(content) < len(original) and original.startswith(content)
    dumped = b"".join(w.payload.value for w in dump(raw, "cutz", 0).wires[1:-1])
    assert dumped == content
    assert single(raw.call("cutz", Command("block_info"))) == Success("block_devices", (Volume(":cutz", 1, False),))
