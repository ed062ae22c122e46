# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Minimal solo5 test images: ELF64 files carrying only a manifest note and an ABI note.

The layout is the one of tests' reference image ``syn_storage_service.hvt`` (ELF header,
section name table, ``.note.solo5.manifest``, ``.note.solo5.abi``, section headers);
``make_image(blocks=("storage",), networks=("service",))`` reproduces it byte for byte.
Anything else (``behaviour``, ``extra``) is appended after the section headers, where ELF
readers do not look. ``behaviour`` becomes one line ``albatross-test: {json}\\n`` that the
test server reads to decide how the simulated unikernel behaves (keys ``exit_code``,
``exit_delay``, ``accept_args``, ``usage_exit``, ``http_status``, ``version``; see
tests/server/README.md).

``solo5-hello.hvt``, ``solo5-net.hvt`` and ``solo5-blk.hvt`` behave like solo5's test_hello,
test_net and test_blk under a real albatross: test_hello and test_blk print their lines and exit 0,
test_net keeps running unless it gets an argument it does not know (albatross's ``--name=<label>``
among them), then it exits 1. Tests that must pass against both servers pick these.

Usage: ``python tests/images/make_images.py OUTDIR`` writes the standard test images.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Dict, Iterable, Optional

TARGETS = {"hvt": 1, "spt": 2, "virtio": 3, "muen": 4, "genode": 5, "xen": 6}
ABI_VERSION = 2
TYPE_MFT1 = 0x3154464D
TYPE_ABI1 = 0x31494241
MFT_BLOCK_BASIC = 1
MFT_NET_BASIC = 2
MFT_RESERVED_FIRST = 1 << 30
BEHAVIOUR_PREFIX = b"albatross-test: "

SHSTRTAB = b"\x00.shstrtab\x00.note.solo5.manifest\x00.note.solo5.abi\x00"


def _pad(data: bytes, align: int) -> bytes:
    return data + b"\x00" * (-len(data) % align)


def _note(note_type: int, desc: bytes) -> bytes:
    owner = b"Solo5\x00"
    return struct.pack("<III", len(owner), len(desc), note_type) + _pad(owner, 4) + _pad(desc, 4)


def _entry(name: bytes, typ: int) -> bytes:
    if len(name) > 67:
        raise ValueError("device name too long: %r" % name)
    return name.ljust(68, b"\x00") + struct.pack("<I", typ) + b"\x00" * 32


def manifest_desc(blocks: Iterable[str] = (), networks: Iterable[str] = ()) -> bytes:
    """The MFT1 descriptor: 4 bytes padding, version 1, entry count, RESERVED_FIRST, devices."""
    entries = [_entry(b"", MFT_RESERVED_FIRST)]
    entries += [_entry(name.encode(), MFT_BLOCK_BASIC) for name in blocks]
    entries += [_entry(name.encode(), MFT_NET_BASIC) for name in networks]
    return struct.pack("<III", 0, 1, len(entries)) + b"".join(entries)


def behaviour_line(behaviour: Dict[str, object]) -> bytes:
    return BEHAVIOUR_PREFIX + json.dumps(behaviour, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def make_image(
    blocks: Iterable[str] = (),
    networks: Iterable[str] = (),
    target: str = "hvt",
    extra: bytes = b"",
    behaviour: Optional[Dict[str, object]] = None,
    abi_version: int = ABI_VERSION,
) -> bytes:
    """A deterministic solo5 ELF64 image with the given devices and ABI target."""
    mft_note = _note(TYPE_MFT1, manifest_desc(blocks, networks))
    abi_note = _note(TYPE_ABI1, struct.pack("<IIII", TARGETS[target], abi_version, 0, 0))
    strtab_off = 0x40
    mft_off = strtab_off + len(SHSTRTAB)
    abi_off = mft_off + len(mft_note)
    body = _pad(SHSTRTAB + mft_note + abi_note, 8)
    shoff = strtab_off + len(body)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0, 0, shoff, 0, 0x40, 0, 0, 0x40, 4, 1)

    def shdr(name: int, typ: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, typ, 0, 0, offset, size, 0, 0, 1, 0)

    sections = b"\x00" * 0x40
    sections += shdr(SHSTRTAB.index(b".shstrtab"), 3, strtab_off, len(SHSTRTAB))
    sections += shdr(SHSTRTAB.index(b".note.solo5.manifest"), 7, mft_off, len(mft_note))
    sections += shdr(SHSTRTAB.index(b".note.solo5.abi"), 7, abi_off, len(abi_note))
    image = ehdr + body + sections
    if behaviour is not None:
        image += behaviour_line(behaviour)
    return image + extra


def read_behaviour(image: bytes) -> Dict[str, object]:
    """The behaviour dict embedded by ``make_image`` (empty if there is none)."""
    pos = image.find(BEHAVIOUR_PREFIX)
    if pos < 0:
        return {}
    end = image.find(b"\n", pos)
    line = image[pos + len(BEHAVIOUR_PREFIX):end if end >= 0 else len(image)]
    try:
        value = json.loads(line.decode("utf-8"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


STANDARD_IMAGES = {
    "hello.hvt": {},
    "net.hvt": {"networks": ("service",)},
    "blk.hvt": {"blocks": ("storage",)},
    "web-v1.hvt": {"networks": ("service",), "behaviour": {"version": "v1"}},
    "web-v2.hvt": {"networks": ("service",), "behaviour": {"version": "v2"}},
    "web-bad.hvt": {"networks": ("service",), "behaviour": {"version": "bad", "http_status": 500}},
    "crash.hvt": {"behaviour": {"exit_code": 2}},
    # Equivalents of the solo5 test unikernels (manifests as in solo5 0.9.3's tests).
    "solo5-hello.hvt": {"behaviour": {"exit_code": 0}},
    "solo5-net.hvt": {"networks": ("service0",), "behaviour": {"accept_args": ["v", "l"], "usage_exit": 1}},
    # test_blk took 2.4 s on a 2 MB volume under the real albatross; the volume is in use meanwhile.
    "solo5-blk.hvt": {"blocks": ("storage",), "behaviour": {"exit_code": 0, "exit_delay": 2.0}},
}


def write_images(outdir: str) -> Dict[str, str]:
    """Write the standard images into ``outdir``; returns file name -> path."""
    os.makedirs(outdir, exist_ok=True)
    paths = {}
    for name, kwargs in STANDARD_IMAGES.items():
        path = os.path.join(outdir, name)
        with open(path, "wb") as handle:
            handle.write(make_image(**kwargs))
        paths[name] = path
    return paths


def main(argv: list) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: make_images.py OUTDIR\n")
        return 2
    for path in write_images(argv[1]).values():
        sys.stdout.write(path + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
