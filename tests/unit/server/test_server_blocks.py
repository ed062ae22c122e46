# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Block devices on the test server: sizes, uploads, dumps, in-use rules and policy limits."""

from __future__ import annotations

import zlib

from albatross_sim import elf

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
    assert single(raw.call("absent", Command("block_set", False), upload=[DATA])) == Failure("set block: not found")
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
    assert single(raw.call("storage", Command("block_set", False), upload=[DATA])) == Failure("set block: is in use")
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
