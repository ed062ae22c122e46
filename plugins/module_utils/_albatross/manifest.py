# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Solo5 manifest reader and device check (PRIVATE to the collection).

Albatross reads the ``.note.solo5.manifest`` and ``.note.solo5.abi`` ELF notes of every
solo5 image with ocaml-solo5-elftool and refuses images whose devices differ from the
configured block devices and network interfaces. This module does the same reading, with
the same acceptance rules and messages, so a wrong image or config is reported before
anything is uploaded.

The reader follows ocaml-solo5-elftool closely, quirks included (only ELFCLASS64, the
section header offset read as 32 bits, every section name must be readable), because an
image the server would reject must be rejected here too. It never raises anything but
``ValidationError`` and its work is linear in the image size.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError

SECTION_MANIFEST = b".note.solo5.manifest"
SECTION_ABI = b".note.solo5.abi"
NOTE_OWNER = b"Solo5\x00"
TYPE_MFT1 = 0x3154464D
TYPE_ABI1 = 0x31494241

MFT_ENTRY_SIZE = 104
MFT_MAX_ENTRIES = 64
MFT_BLOCK_BASIC = 1
MFT_NET_BASIC = 2
MFT_RESERVED_FIRST = 1 << 30

ABI_TARGETS = {1: "hvt", 2: "spt", 3: "virtio", 4: "muen", 5: "genode", 6: "xen"}
#: Targets albatross can run.
SUPPORTED_TARGETS = ("hvt", "spt")

ELF_ERROR = "error during ELF parsing"
_MAX_OCAML_INT = (1 << 62) - 1
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Manifest:
    """Devices of a solo5 image and its ABI.

    ``blocks`` and ``networks`` keep manifest order; ``devices`` is the whole manifest as
    ``(kind, name)`` pairs (kind ``"block"`` or ``"net"``) in manifest order, as albatross
    prints it. ``abi_target``/``abi_version`` are None when the image has no ABI note.
    """

    blocks: Tuple[str, ...]
    networks: Tuple[str, ...]
    abi_target: Optional[str] = None
    abi_version: Optional[int] = None
    devices: Tuple[Tuple[str, str], ...] = ()


class _ElfError(Exception):
    """Internal: the image is not an ELF file ocaml-solo5-elftool can read."""


class _Reader:
    def __init__(self, data: bytes, little: bool) -> None:
        self.data = data
        self.prefix = "<" if little else ">"

    def _unpack(self, fmt: str, off: int, size: int) -> int:
        if off < 0 or off + size > len(self.data):
            raise _ElfError()
        return struct.unpack_from(self.prefix + fmt, self.data, off)[0]

    def u16(self, off: int) -> int:
        return self._unpack("H", off, 2)

    def u32(self, off: int) -> int:
        return self._unpack("I", off, 4)

    def u64(self, off: int) -> int:
        value = self._unpack("Q", off, 8)
        if value > _MAX_OCAML_INT:
            raise _ElfError()
        return value

    def slice(self, off: int, length: int) -> bytes:
        if off < 0 or length < 0 or off + length > len(self.data):
            raise _ElfError()
        return self.data[off:off + length]


def _open(data: bytes) -> _Reader:
    if len(data) < 16 or data[0:4] != b"\x7fELF":
        raise _ElfError()
    if any(data[9:16]):
        raise _ElfError()
    if data[4] != 2:
        raise _ElfError()
    if data[5] not in (1, 2):
        raise _ElfError()
    return _Reader(data, data[5] == 1)


def _section_names(reader: _Reader) -> List[Tuple[int, int, int, int]]:
    """(name start, name end, offset, size) of every section; fails if any name is unreadable, as elftool does.

    Names stay positions into the image: a hostile table could make every name megabytes long.
    """
    # elftool reads e_shoff with a 32-bit read.
    shoff = reader.u32(0x28)
    shentsize = reader.u16(0x3A)
    shnum = reader.u16(0x3C)
    shstrndx = reader.u16(0x3E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        sections.append((reader.u32(off), reader.u64(off + 24), reader.u64(off + 32)))
    if shstrndx >= len(sections):
        raise _ElfError()
    str_offset, str_size = sections[shstrndx][1:]
    data = reader.data
    # Each name is a NUL-terminated string; remember the next NUL for every start offset so
    # a hostile table of 65535 names costs one pass over the image, not one pass per name.
    nul_after: Dict[int, int] = {}
    next_nul = -1
    for start in sorted(set(str_offset + section[0] for section in sections)):
        if next_nul < start:
            found = data.find(b"\x00", start)
            next_nul = len(data) if found < 0 else found
        nul_after[start] = next_nul
    result = []
    for name_off, offset, size in sections:
        start = str_offset + name_off
        end = nul_after[start]
        if start >= len(data) or end >= len(data) or end - start >= str_size - name_off:
            raise _ElfError()
        result.append((start, end, offset, size))
    return result


def _note_desc(reader: _Reader, sections: List[Tuple[int, int, int, int]], name: bytes, note_type: int) -> Optional[bytes]:
    data = reader.data
    section = next((s for s in sections if s[1] - s[0] == len(name) and data[s[0]:s[1]] == name), None)
    if section is None:
        return None
    off, size = section[2:]
    if size < 12:
        raise _ElfError()
    namesz = reader.u32(off)
    descsz = reader.u32(off + 4)
    typ = reader.u32(off + 8)
    if typ != note_type or namesz != len(NOTE_OWNER) or reader.slice(off + 12, namesz) != NOTE_OWNER:
        return None
    desc_off = off + 12 + namesz
    desc_off += (4 - (desc_off & 3)) & 3
    return reader.slice(desc_off, descsz)


def _find_note(data: bytes, name: bytes, note_type: int) -> Optional[bytes]:
    try:
        reader = _open(data)
        return _note_desc(reader, _section_names(reader), name, note_type)
    except (_ElfError, struct.error, IndexError):
        raise ValidationError(ELF_ERROR) from None


def _decode_name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_entry(entry: bytes) -> Tuple[int, str]:
    name_raw = entry[0:68]
    end = name_raw.find(b"\x00")
    if end < 0:
        raise ValidationError("unterminated device name")
    if any(entry[72:88]):
        raise ValidationError("non-zero mft_entry.u")
    if any(entry[88:96]):
        raise ValidationError("non-zero mft_entry.b")
    if entry[96] != 0:
        raise ValidationError("non-zero mft_entry.attached")
    typ = struct.unpack_from("<i", entry, 68)[0]
    if typ == MFT_RESERVED_FIRST:
        if any(name_raw):
            raise ValidationError("non-zero RESERVED_FIRST")
    elif typ not in (MFT_BLOCK_BASIC, MFT_NET_BASIC):
        raise ValidationError("unknown manifest entry type: %d" % typ)
    return typ, _decode_name(name_raw[:end])


def _parse_manifest(desc: bytes) -> Tuple[Tuple[str, str], ...]:
    if len(desc) < 12 + MFT_ENTRY_SIZE:
        raise ValidationError("manifest too small")
    version, count = struct.unpack_from("<iI", desc, 4)
    if version != 1:
        raise ValidationError("unsupported manifest version")
    if count == 0:
        raise ValidationError("zero manifest entries")
    if count > MFT_MAX_ENTRIES:
        raise ValidationError("too many manifest entries")
    if len(desc) != 12 + count * MFT_ENTRY_SIZE:
        raise ValidationError("unexpected note size")
    entries = [desc[12 + i * MFT_ENTRY_SIZE:12 + (i + 1) * MFT_ENTRY_SIZE] for i in range(count)]
    try:
        first = _parse_entry(entries[0])[0]
    except ValidationError:
        first = None
    if first != MFT_RESERVED_FIRST:
        raise ValidationError("expected RESERVED_FIRST")
    devices = []
    for entry in entries[1:]:
        typ, name = _parse_entry(entry)
        if typ == MFT_RESERVED_FIRST:
            raise ValidationError("found RESERVED_FIRST not as first entry")
        devices.append(("block" if typ == MFT_BLOCK_BASIC else "net", name))
    return tuple(devices)


def _parse_abi(desc: bytes) -> Tuple[str, int]:
    if len(desc) != 16:
        raise ValidationError("abi manifest size mismatch")
    target, version, reserved0, reserved1 = struct.unpack("<iIii", desc)
    if target not in ABI_TARGETS:
        raise ValidationError("unknown abi target: %d" % target)
    if reserved0 != 0:
        raise ValidationError("non-zero reserved0")
    if reserved1 != 0:
        raise ValidationError("non-zero reserved1")
    return ABI_TARGETS[target], version


def read_manifest(image: bytes) -> Manifest:
    """Devices and ABI of an uncompressed solo5 ELF image.

    Raises ValidationError with albatross' texts: "error during ELF parsing", "manifest not
    found" (no manifest note), or the manifest parser's messages. A missing ABI note gives
    ``abi_target=None`` (see ``check_target``); a malformed one raises.
    """
    data = bytes(image)
    desc = _find_note(data, SECTION_MANIFEST, TYPE_MFT1)
    if desc is None:
        raise ValidationError("manifest not found")
    devices = _parse_manifest(desc)
    abi_desc = _find_note(data, SECTION_ABI, TYPE_ABI1)
    target: Optional[str] = None
    version: Optional[int] = None
    if abi_desc is not None:
        target, version = _parse_abi(abi_desc)
    return Manifest(
        blocks=tuple(name for kind, name in devices if kind == "block"),
        networks=tuple(name for kind, name in devices if kind == "net"),
        abi_target=target,
        abi_version=version,
        devices=devices,
    )


def check_target(manifest: Manifest) -> None:
    """Albatross only runs hvt and spt images (``Vmm_unix.solo5_image_target``)."""
    if manifest.abi_target is None:
        raise ValidationError("manifest not found")
    if manifest.abi_target not in SUPPORTED_TARGETS:
        raise ValidationError("unsupported solo5 target %s" % manifest.abi_target)


def _ocaml_quote(name: str) -> str:
    """OCaml's ``%S``: the name in double quotes with ``String.escaped`` escapes."""
    escapes = {0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r", 0x08: "\\b"}
    out = []
    for byte in name.encode("utf-8", "surrogateescape"):
        if byte in escapes:
            out.append(escapes[byte])
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append("\\%03d" % byte)
    return '"' + "".join(out) + '"'


def _devices_text(manifest: Manifest) -> str:
    devices = manifest.devices or tuple(("block", n) for n in manifest.blocks) + tuple(("net", n) for n in manifest.networks)
    return ", ".join("%s %s" % (kind, _ocaml_quote(name)) for kind, name in devices)


def check_devices(manifest: Manifest, block_names: Iterable[str], network_names: Iterable[str]) -> None:
    """The configured device names must equal the manifest's, as sets (``Vmm_unix.devices_match``).

    ``block_names`` are the unikernel-side block device names, ``network_names`` the
    unikernel-side interface names (not the host bridges). Duplicates are refused first with
    the stock client's messages.
    """
    blocks = list(block_names)
    networks = list(network_names)
    if len(set(networks)) != len(networks):
        raise ValidationError("Bridge names must be a set")
    if len(set(blocks)) != len(blocks):
        raise ValidationError("Block devices must be a set")
    if set(blocks) != set(manifest.blocks):
        raise ValidationError(
            "specified block device(s) does not match with manifest. Devices present in manifest: %s" % _devices_text(manifest)
        )
    if set(networks) != set(manifest.networks):
        raise ValidationError(
            "specified bridge(s) does not match with the manifest. Devices present in manifest: %s" % _devices_text(manifest)
        )


def image_digest(data: bytes, compressed: bool = False) -> bytes:
    """SHA-256 of the uncompressed image, as albatross stores it in unikernel info."""
    digest = hashlib.sha256()
    if not compressed:
        digest.update(data)
        return digest.digest()
    inflater = zlib.decompressobj()
    view = memoryview(data)
    try:
        for pos in range(0, len(view), _CHUNK):
            digest.update(inflater.decompress(view[pos:pos + _CHUNK]))
        digest.update(inflater.flush())
    except zlib.error as exc:
        raise ValidationError("failed to uncompress: %s" % exc) from None
    if not inflater.eof:
        raise ValidationError("failed to uncompress: unexpected end of input")
    return digest.digest()


def _names_text(kind: str, names: Iterable[str]) -> str:
    found = sorted(names)
    if not found:
        return "no %s" % kind
    return "%s %s" % (kind, ", ".join(_ocaml_quote(n) for n in found))


def check_image(image: bytes, block_names: Iterable[str], network_names: Iterable[str], source: str) -> Manifest:
    """``read_manifest``, ``check_target`` and ``check_devices`` with messages for the task's author.

    ``source`` says where the image came from as the task gave it (``image /srv/web.hvt``,
    ``image_url https://…``, ``builder-web job web …``, ``the running image``). Albatross' own
    texts name neither the image nor what the task gave; these say both sides and the fix.
    """
    try:
        found = read_manifest(image)
        check_target(found)
    except ValidationError as exc:
        detail = str(exc)
        if detail in (ELF_ERROR, "manifest not found"):
            what = "not an ELF file" if detail == ELF_ERROR else "an ELF file without a solo5 manifest"
            raise ValidationError(
                "%s is not a solo5 unikernel (%s); give a unikernel built for the solo5 hvt or spt target" % (source, what)
            ) from None
        if detail.startswith("unsupported solo5 target"):
            raise ValidationError(
                "%s is a solo5 unikernel for the %s target, which albatross cannot run; give one built for hvt or spt"
                % (source, found.abi_target)
            ) from None
        raise ValidationError("%s has a solo5 manifest albatross refuses (%s); rebuild the unikernel" % (source, detail)) from None
    blocks = list(block_names)
    networks = list(network_names)
    problems = []
    if len(set(blocks)) != len(blocks):
        problems.append("block_devices names a device more than once")
    elif set(blocks) != set(found.blocks):
        problems.append("block_devices does not match with the manifest of %s, which declares %s while the task gives %s"
                        % (source, _names_text("block devices", found.blocks), _names_text("block devices", blocks)))
    if len(set(networks)) != len(networks):
        problems.append("network_interfaces names an interface more than once")
    elif set(networks) != set(found.networks):
        problems.append("network_interfaces does not match with the manifest of %s, which declares %s while the task gives %s"
                        % (source, _names_text("network interfaces", found.networks), _names_text("network interfaces", networks)))
    if problems:
        raise ValidationError("%s; give exactly the device names the image declares" % "; ".join(problems))
    return found
