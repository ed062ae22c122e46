# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Solo5 ELF notes: the reader of ocaml-solo5-elftool 0.4 (messages kept) and a tiny image writer.

The writer produces the smallest ELF64 file that carries a manifest note, an ABI note and an
optional ``albatross-test: {json}`` line that steers the simulated unikernel.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

MANIFEST_SECTION = ".note.solo5.manifest"
ABI_SECTION = ".note.solo5.abi"
TYP_MFT1 = 0x3154464D
TYP_ABI1 = 0x31494241
BLOCK_BASIC = 1
NET_BASIC = 2
RESERVED_FIRST = 1 << 30
ENTRY_SIZE = 104
MAX_ENTRIES = 64
TARGETS = {1: "hvt", 2: "spt", 3: "virtio", 4: "muen", 5: "genode", 6: "xen"}


class ElfError(ValueError):
    """Parse failure; the text is the one albatross reports."""


@dataclass(frozen=True)
class Abi:
    target: str
    version: int


def _u(fmt: str, data: bytes, off: int) -> int:
    if off < 0 or off + struct.calcsize(fmt) > len(data):
        raise ElfError("error during ELF parsing")
    return struct.unpack_from(fmt, data, off)[0]


def _find_note(image: bytes, section_name: str, note_type: int) -> Optional[bytes]:
    if image[:4] != b"\x7fELF" or len(image) < 64:
        raise ElfError("error during ELF parsing")
    if any(image[9:16]) or image[4] != 2:
        raise ElfError("error during ELF parsing")
    if image[5] == 1:
        en = "<"
    elif image[5] == 2:
        en = ">"
    else:
        raise ElfError("error during ELF parsing")
    # elftool reads e_shoff as 32 bits; kept so that both accept the same files
    shoff = _u(en + "I", image, 0x28)
    shentsize = _u(en + "H", image, 0x3A)
    shnum = _u(en + "H", image, 0x3C)
    shstrndx = _u(en + "H", image, 0x3E)
    sections: List[Tuple[int, int, int]] = []
    for i in range(shnum):
        off = shoff + i * shentsize
        sections.append((_u(en + "I", image, off), _u(en + "Q", image, off + 24), _u(en + "Q", image, off + 32)))
    if shstrndx >= len(sections):
        raise ElfError("error during ELF parsing")
    _name, str_off, str_size = sections[shstrndx]
    found = None
    for name_off, offset, size in sections:
        start = str_off + name_off
        maxlen = str_size - name_off
        end = image.find(b"\x00", start)
        if start >= len(image) or end < 0 or end - start >= maxlen:
            raise ElfError("error during ELF parsing")
        if image[start:end] == section_name.encode() and found is None:
            found = (offset, size)
    if found is None:
        return None
    offset, size = found
    if size < 12:
        raise ElfError("error during ELF parsing")
    namesz = _u(en + "I", image, offset)
    descsz = _u(en + "I", image, offset + 4)
    typ = _u(en + "I", image, offset + 8)
    if typ != note_type or namesz != 6 or image[offset + 12:offset + 18] != b"Solo5\x00":
        return None
    off = offset + 12 + namesz
    off += (4 - (off & 3)) & 3
    if off + descsz > len(image):
        raise ElfError("error during ELF parsing")
    return image[off:off + descsz]


def read_abi(image: bytes) -> Abi:
    desc = _find_note(image, ABI_SECTION, TYP_ABI1)
    if desc is None:
        raise ElfError("manifest not found")
    if len(desc) != 16:
        raise ElfError("abi manifest size mismatch")
    target, version, res0, res1 = struct.unpack("<IIII", desc)
    if target not in TARGETS:
        raise ElfError("unknown abi target: %d" % struct.unpack("<i", desc[:4])[0])
    if res0:
        raise ElfError("non-zero reserved0")
    if res1:
        raise ElfError("non-zero reserved1")
    return Abi(TARGETS[target], version)


def _entry(raw: bytes) -> Tuple[str, str]:
    name_raw = raw[:68]
    typ = struct.unpack_from("<i", raw, 68)[0]
    nul = name_raw.find(b"\x00")
    if nul < 0:
        raise ElfError("unterminated device name")
    if any(raw[72:88]):
        raise ElfError("non-zero mft_entry.u")
    if any(raw[88:96]):
        raise ElfError("non-zero mft_entry.b")
    if raw[96]:
        raise ElfError("non-zero mft_entry.attached")
    name = name_raw[:nul].decode("latin-1")
    if typ == BLOCK_BASIC:
        return "block", name
    if typ == NET_BASIC:
        return "net", name
    if typ == RESERVED_FIRST:
        if any(name_raw):
            raise ElfError("non-zero RESERVED_FIRST")
        return "reserved", ""
    raise ElfError("unknown manifest entry type: %d" % typ)


def read_manifest(image: bytes) -> List[Tuple[str, str]]:
    """The device entries (kind, name) in manifest order, RESERVED_FIRST removed."""
    desc = _find_note(image, MANIFEST_SECTION, TYP_MFT1)
    if desc is None:
        raise ElfError("manifest not found")
    if len(desc) < 12 + ENTRY_SIZE:
        raise ElfError("manifest too small")
    version, count = struct.unpack_from("<II", desc, 4)
    if version != 1:
        raise ElfError("unsupported manifest version")
    if count == 0:
        raise ElfError("zero manifest entries")
    if count > MAX_ENTRIES:
        raise ElfError("too many manifest entries")
    if len(desc) != 12 + count * ENTRY_SIZE:
        raise ElfError("unexpected note size")
    try:
        first = _entry(desc[12:12 + ENTRY_SIZE])
    except ElfError:
        first = ("error", "")
    if first[0] != "reserved":
        raise ElfError("expected RESERVED_FIRST")
    entries = []
    for i in range(1, count):
        kind, name = _entry(desc[12 + i * ENTRY_SIZE:12 + (i + 1) * ENTRY_SIZE])
        if kind == "reserved":
            raise ElfError("found RESERVED_FIRST not as first entry")
        entries.append((kind, name))
    return entries


def _quote(name: str) -> str:
    # OCaml %S escaping for the printable names albatross tests use
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def devices_match(entries: Sequence[Tuple[str, str]], blocks: Sequence[str], nets: Sequence[str]) -> None:
    """Vmm_unix.devices_match: set equality of block names, then of netif names."""
    listing = ", ".join("%s %s" % (kind, _quote(name)) for kind, name in entries)
    if {n for k, n in entries if k == "block"} != set(blocks):
        raise ElfError("specified block device(s) does not match with manifest. Devices present in manifest: " + listing)
    if {n for k, n in entries if k == "net"} != set(nets):
        raise ElfError("specified bridge(s) does not match with the manifest. Devices present in manifest: " + listing)


def _note(owner: bytes, typ: int, desc: bytes) -> bytes:
    name = owner + b"\x00"
    name += b"\x00" * ((4 - len(name) % 4) % 4)
    desc_padded = desc + b"\x00" * ((4 - len(desc) % 4) % 4)
    return struct.pack("<III", len(owner) + 1, len(desc), typ) + name + desc_padded


def build_image(blocks: Sequence[str] = (), nets: Sequence[str] = (), target: int = 1, abi_version: int = 2,
                behaviour: Optional[str] = None, padding: int = 0) -> bytes:
    """A minimal ELF64 image with solo5 notes; ``behaviour`` is the JSON after ``albatross-test:``."""
    entries = [struct.pack("<68sI32x", b"", RESERVED_FIRST)]
    entries += [struct.pack("<68sI32x", n.encode(), BLOCK_BASIC) for n in blocks]
    entries += [struct.pack("<68sI32x", n.encode(), NET_BASIC) for n in nets]
    mft = _note(b"Solo5", TYP_MFT1, struct.pack("<III", 0, 1, len(entries)) + b"".join(entries))
    abi = _note(b"Solo5", TYP_ABI1, struct.pack("<IIII", target, abi_version, 0, 0))
    text = b"" if behaviour is None else b"albatross-test: " + behaviour.encode() + b"\n"
    text += b"\x00" * padding
    shstr = b"\x00" + MANIFEST_SECTION.encode() + b"\x00" + ABI_SECTION.encode() + b"\x00.rodata\x00.shstrtab\x00"
    body = [mft, abi, text, shstr]
    offsets = []
    pos = 64
    for part in body:
        pos += (8 - pos % 8) % 8
        offsets.append(pos)
        pos += len(part)
    pos += (8 - pos % 8) % 8
    shoff = pos
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 5, 4)
    names = [0, 1, 1 + len(MANIFEST_SECTION) + 1, 1 + len(MANIFEST_SECTION) + 1 + len(ABI_SECTION) + 1]
    names.append(names[3] + len(".rodata") + 1)
    types = [7, 7, 1, 3]
    shdrs = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    for i, part in enumerate(body):
        shdrs += struct.pack("<IIQQQQIIQQ", names[i + 1], types[i], 2 if i < 3 else 0, 0, offsets[i], len(part), 0, 0, 4 if i < 2 else 1, 0)
    out = bytearray(header)
    for off, part in zip(offsets, body):
        out += b"\x00" * (off - len(out))
        out += part
    out += b"\x00" * (shoff - len(out))
    return bytes(out + shdrs)
