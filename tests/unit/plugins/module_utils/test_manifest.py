# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Solo5 manifest reader: vectors, generated images, hostile input."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.manifest import (
    Manifest,
    check_devices,
    check_target,
    image_digest,
    read_manifest,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
VECTOR = golden.path("syn_storage_service.hvt")
VECTOR_SHA256 = "8d83745146761abdeb22fddc9c2f362769c2247983a81ae781d8bd4b4ca93a63"

_spec = importlib.util.spec_from_file_location("make_images", os.path.join(ROOT, "tests", "images", "make_images.py"))
make_images = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_images)
make_image = make_images.make_image

REFERENCE = make_image(blocks=("storage",), networks=("service",))
MFT_DESC_OFF = 0x84  # descriptor of the manifest note in the reference layout


def _error(data: bytes) -> str:
    with pytest.raises(ValidationError) as info:
        read_manifest(data)
    return str(info.value)


def test_generator_reproduces_reference_image():
    assert hashlib.sha256(REFERENCE).hexdigest() == VECTOR_SHA256
    with open(VECTOR, "rb") as handle:
        assert handle.read() == REFERENCE


def test_reference_image():
    manifest = read_manifest(REFERENCE)
    assert manifest == Manifest(("storage",), ("service",), "hvt", 2, (("block", "storage"), ("net", "service")))
    check_target(manifest)
    check_devices(manifest, ["storage"], ["service"])


@pytest.mark.parametrize("target", ["hvt", "spt", "virtio", "muen", "genode", "xen"])
def test_targets(target):
    manifest = read_manifest(make_image(networks=("a", "b"), blocks=("c",), target=target))
    assert manifest.abi_target == target
    assert manifest.networks == ("a", "b") and manifest.blocks == ("c",)
    if target in ("hvt", "spt"):
        check_target(manifest)
    else:
        with pytest.raises(ValidationError, match="^unsupported solo5 target %s$" % target):
            check_target(manifest)


def test_standard_images_and_behaviour(tmp_path):
    paths = make_images.write_images(str(tmp_path))
    assert sorted(paths) == sorted(["hello.hvt", "net.hvt", "blk.hvt", "web-v1.hvt", "web-v2.hvt", "web-bad.hvt", "crash.hvt",
                                    "solo5-hello.hvt", "solo5-net.hvt", "solo5-blk.hvt"])
    expected = {
        "hello.hvt": ((), ()), "net.hvt": ((), ("service",)), "blk.hvt": (("storage",), ()),
        "web-v1.hvt": ((), ("service",)), "web-bad.hvt": ((), ("service",)), "crash.hvt": ((), ()),
        # the devices of solo5's own test_hello, test_net and test_blk
        "solo5-hello.hvt": ((), ()), "solo5-net.hvt": ((), ("service0",)), "solo5-blk.hvt": (("storage",), ()),
    }
    for name, (blocks, nets) in expected.items():
        with open(paths[name], "rb") as handle:
            data = handle.read()
        manifest = read_manifest(data)
        assert (manifest.blocks, manifest.networks, manifest.abi_target) == (blocks, nets, "hvt")
    with open(paths["web-bad.hvt"], "rb") as handle:
        assert make_images.read_behaviour(handle.read()) == {"version": "bad", "http_status": 500}
    with open(paths["crash.hvt"], "rb") as handle:
        assert b"albatross-test: {\"exit_code\":2}\n" in handle.read()
    assert make_images.read_behaviour(REFERENCE) == {}
    # deterministic
    assert make_image(behaviour={"version": "v1"}, extra=b"x" * 10) == make_image(behaviour={"version": "v1"}, extra=b"x" * 10)


def test_check_devices_messages():
    manifest = read_manifest(REFERENCE)
    devs = 'Devices present in manifest: block "storage", net "service"'
    with pytest.raises(ValidationError) as info:
        check_devices(manifest, [], ["service"])
    assert str(info.value) == "specified block device(s) does not match with manifest. " + devs
    with pytest.raises(ValidationError) as info:
        check_devices(manifest, ["storage"], ["service", "other"])
    assert str(info.value) == "specified bridge(s) does not match with the manifest. " + devs
    with pytest.raises(ValidationError, match="^Bridge names must be a set$"):
        check_devices(manifest, ["storage"], ["service", "service"])
    with pytest.raises(ValidationError, match="^Block devices must be a set$"):
        check_devices(manifest, ["storage", "storage"], ["service"])
    # order does not matter
    manifest = read_manifest(make_image(networks=("a", "b")))
    check_devices(manifest, [], ["b", "a"])


def test_device_names_printed_like_ocaml():
    manifest = read_manifest(make_image(networks=('q"\\\n\x01', "\u00fc")))
    with pytest.raises(ValidationError) as info:
        check_devices(manifest, [], [])
    assert str(info.value).endswith('Devices present in manifest: net "q\\"\\\\\\n\\001", net "\\195\\188"')
    check_devices(manifest, [], ['q"\\\n\x01', "\u00fc"])
    # a manifest without devices prints nothing after the colon
    with pytest.raises(ValidationError) as info:
        check_devices(read_manifest(make_image()), ["x"], [])
    assert str(info.value) == "specified block device(s) does not match with manifest. Devices present in manifest: "


def _patch(data: bytes, off: int, fmt: str, *values) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, off, *values)
    return bytes(buf)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"", "error during ELF parsing"),
        (lambda d: b"\x7fELF", "error during ELF parsing"),
        (lambda d: b"MZ" + d[2:], "error during ELF parsing"),
        (lambda d: _patch(d, 4, "<B", 1), "error during ELF parsing"),  # ELFCLASS32: not read by albatross
        (lambda d: _patch(d, 5, "<B", 3), "error during ELF parsing"),
        (lambda d: _patch(d, 12, "<B", 1), "error during ELF parsing"),
        (lambda d: _patch(d, 0x28, "<I", 0x10000), "error during ELF parsing"),  # section headers beyond end
        (lambda d: _patch(d, 0x3E, "<H", 9), "error during ELF parsing"),  # shstrndx out of range
        (lambda d: d[:0x200], "error during ELF parsing"),
        (lambda d: d.replace(b".note.solo5.manifest", b".note.solo5.manifesX"), "manifest not found"),
        (lambda d: _patch(d, 0x78, "<I", 0x12345678), "manifest not found"),  # note type
        (lambda d: _patch(d, 0x7C, "<B", ord("s")), "manifest not found"),  # owner
        (lambda d: _patch(d, 0x70, "<I", 5), "manifest not found"),  # owner size
        (lambda d: _patch(d, MFT_DESC_OFF + 4, "<I", 2), "unsupported manifest version"),
        (lambda d: _patch(d, MFT_DESC_OFF + 8, "<I", 0), "zero manifest entries"),
        (lambda d: _patch(d, MFT_DESC_OFF + 8, "<I", 65), "too many manifest entries"),
        (lambda d: _patch(d, MFT_DESC_OFF + 8, "<I", 0xFFFFFFFF), "too many manifest entries"),
        (lambda d: _patch(d, MFT_DESC_OFF + 8, "<I", 2), "unexpected note size"),
        (lambda d: _patch(d, 0x74, "<I", 100), "manifest too small"),
        (lambda d: _patch(d, 0x74, "<I", 0x10000), "error during ELF parsing"),  # descriptor beyond end
        (lambda d: _patch(d, MFT_DESC_OFF + 12 + 68, "<I", 1), "expected RESERVED_FIRST"),
        (lambda d: _patch(d, MFT_DESC_OFF + 12, "<B", 65), "expected RESERVED_FIRST"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 68, "<I", 7), "unknown manifest entry type: 7"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 68, "<i", -1), "unknown manifest entry type: -1"),
        (lambda d: _patch(_patch(d, MFT_DESC_OFF + 116, "68s", b""), MFT_DESC_OFF + 116 + 68, "<I", 1 << 30), "found RESERVED_FIRST not as first entry"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 68, "<I", 1 << 30), "non-zero RESERVED_FIRST"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116, "68s", b"x" * 68), "unterminated device name"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 80, "<B", 1), "non-zero mft_entry.u"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 90, "<B", 1), "non-zero mft_entry.b"),
        (lambda d: _patch(d, MFT_DESC_OFF + 116 + 96, "<B", 1), "non-zero mft_entry.attached"),
        (lambda d: _patch(d, 0x1DC, "<I", 9), "unknown abi target: 9"),
        (lambda d: _patch(d, 0x1DC + 8, "<I", 1), "non-zero reserved0"),
        (lambda d: _patch(d, 0x1DC + 12, "<I", 1), "non-zero reserved1"),
        (lambda d: _patch(d, 0x1CC, "<I", 12), "abi manifest size mismatch"),
    ],
)
def test_rejections(mutate, message):
    assert _error(mutate(REFERENCE)) == message


def test_missing_abi_note():
    data = REFERENCE.replace(b".note.solo5.abi", b".note.solo5.abX")
    manifest = read_manifest(data)
    assert manifest.abi_target is None and manifest.abi_version is None
    with pytest.raises(ValidationError, match="^manifest not found$"):
        check_target(manifest)


def test_big_endian_image():
    # elftool reads big-endian files; our generator writes little-endian, so build a BE copy by hand.
    data = bytearray(REFERENCE)
    data[5] = 2
    # ELF header fields read: e_shoff (32-bit read at 0x28, i.e. the high half of the BE u64), shentsize, shnum, shstrndx
    struct.pack_into(">I", data, 0x28, 0x1F0)
    struct.pack_into(">HHH", data, 0x3A, 0x40, 4, 1)
    for i in range(4):
        off = 0x1F0 + i * 0x40
        name, _typ, _f, _a, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        struct.pack_into(">I", data, off, name)
        struct.pack_into(">QQ", data, off + 24, offset, size)
    for note in (0x70, 0x1C8):
        values = struct.unpack_from("<III", data, note)
        struct.pack_into(">III", data, note, *values)
    manifest = read_manifest(bytes(data))
    assert manifest.blocks == ("storage",) and manifest.abi_target == "hvt"


def test_hostile_section_table_is_cheap():
    # 65535 section headers whose names all start at distinct offsets of a long NUL-free region.
    count = 0xFFFF
    region = b"A" * (1 << 20)
    header = bytearray(REFERENCE[:0x40])
    shoff = 0x40 + len(region) + 1
    struct.pack_into("<I", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 0x40, count, 0)
    shdrs = b"".join(struct.pack("<IIQQQQIIQQ", i, 3, 0, 0, 0x40, len(region) + 1, 0, 0, 1, 0) for i in range(count))
    data = bytes(header) + region + b"\x00" + shdrs
    started = time.monotonic()
    assert _error(data) == "manifest not found"
    assert time.monotonic() - started < 10


def test_image_digest():
    assert image_digest(REFERENCE).hex() == VECTOR_SHA256
    assert image_digest(REFERENCE, False).hex() == VECTOR_SHA256
    big = make_image(extra=os.urandom(200000))
    assert image_digest(zlib.compress(big, 9), True) == hashlib.sha256(big).digest()
    with pytest.raises(ValidationError, match="^failed to uncompress"):
        image_digest(b"not zlib", True)
    with pytest.raises(ValidationError, match="^failed to uncompress"):
        image_digest(zlib.compress(big)[:-10], True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data):
    try:
        read_manifest(data)
    except ValidationError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(REFERENCE) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(REFERENCE)))
def test_fuzz_mutations(changes, cut):
    data = bytearray(REFERENCE)
    for pos, value in changes:
        data[pos] = value
    for candidate in (bytes(data), bytes(data[:cut])):
        try:
            manifest = read_manifest(candidate)
        except ValidationError:
            continue
        assert isinstance(manifest.blocks, tuple) and isinstance(manifest.networks, tuple)
        try:
            check_devices(manifest, ["storage"], ["service"])
            check_target(manifest)
        except ValidationError:
            pass
