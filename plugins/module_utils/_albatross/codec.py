# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scalar conversions between asn1crypto values and Python values (PRIVATE to the collection).

Decoders (``get_*``) raise ProtocolError; encoders raise ValidationError for values
albatross cannot carry (its INTEGER is an OCaml 63-bit int, Int64 is 8 bytes).
asn1crypto parses lazily and tolerates more than albatross does, so every decoder
re-checks what it reads: explicit wrappers must hold exactly one value, sequences
must not carry unknown fields.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import asn1
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError, ValidationError

INT_MIN = -(1 << 62)
INT_MAX = (1 << 62) - 1
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_TIME_RE = re.compile(rb"\A([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]+))?Z\Z")
_MAC_RE = re.compile(r"\A[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}\Z")

UTC = datetime.timezone.utc


# ---------------------------------------------------------------- decoding


def _header_length(header: bytes, pos: int) -> tuple[int, int]:
    """Return (length, position after the header) of the tag+length at ``pos``."""
    first = header[pos + 1]
    if first < 0x80:
        return first, pos + 2
    count = first & 0x7F
    return int.from_bytes(header[pos + 2:pos + 2 + count], "big"), pos + 2 + count


def _encoded_length(value) -> int:
    length = len(value._header or b"")  # pylint: disable=protected-access
    # A CHOICE keeps only its own explicit header; the chosen alternative holds the rest.
    while isinstance(value, asn1.core.Choice):
        value = value.chosen
        length += len(value._header or b"")  # pylint: disable=protected-access
    return length + len(value.contents or b"")


def check_wrapping(value) -> None:
    """Each explicit tag must hold exactly its one inner value (asn1crypto ignores the rest)."""
    header = bytes(value._header or b"")  # pylint: disable=protected-access
    total = _encoded_length(value)
    pos = 0
    while pos < len(header):
        if len(header) - pos < 2:
            raise ProtocolError("malformed header")
        length, pos = _header_length(header, pos)
        if length != total - pos:
            raise ProtocolError("trailing data inside an explicit tag")


def check_fields(seq, extension_above: int | None = None) -> None:
    """Refuse unknown trailing SEQUENCE elements.

    With ``extension_above`` (replies only), trailing context-tagged elements with a
    higher tag number than any known field are skipped: newer servers append those.
    """
    check_wrapping(seq)
    count = len(seq)
    known = len(seq._fields)  # pylint: disable=protected-access
    if count <= known:
        return
    if extension_above is None:
        raise ProtocolError("SEQUENCE: trailing elements in %s" % type(seq).__name__)
    last = extension_above
    for extra in seq.children[known:]:
        klass, tag = (extra[0], extra[2]) if isinstance(extra, tuple) else (extra.class_, extra.tag)
        if klass != 2 or tag <= last:
            raise ProtocolError("SEQUENCE: unknown trailing element in %s" % type(seq).__name__)
        last = tag


def opt(seq, name: str):
    """The field ``name`` of a parsed SEQUENCE, or None when it is absent."""
    value = seq[name]
    if isinstance(value, asn1.core.Void):
        return None
    return value


def choice(value) -> tuple[str, object]:
    """(alternative name, chosen value) of a parsed CHOICE."""
    check_wrapping(value)
    chosen = value.chosen
    check_wrapping(chosen)
    return value.name, chosen


def items(value) -> list:
    """The elements of a parsed SEQUENCE OF / SET OF."""
    check_wrapping(value)
    return [value[i] for i in range(len(value))]


def get_int(value) -> int:
    check_wrapping(value)
    number = value.native
    if not isinstance(number, int) or not INT_MIN <= number <= INT_MAX:
        raise ProtocolError("INTEGER out of range")
    return number


def get_int64(value) -> int:
    check_wrapping(value)
    data = bytes(value.contents or b"")
    # albatross reads the first 8 bytes and ignores the rest; shorter is an error.
    if len(data) < 8:
        raise ProtocolError("Int64 needs 8 bytes")
    return int.from_bytes(data[:8], "big", signed=True)


def get_bool(value) -> bool:
    check_wrapping(value)
    # albatross decodes any non-zero byte as TRUE.
    return bytes(value.contents or b"") != b"\x00"


def get_null(value) -> None:
    check_wrapping(value)
    if value.contents:
        raise ProtocolError("NULL with contents")


def get_bytes(value) -> bytes:
    check_wrapping(value)
    return bytes(value.contents or b"")


def get_text(value) -> str:
    """UTF8String as text; albatross does not validate UTF-8, so replace bad bytes."""
    return get_bytes(value).decode("utf-8", errors="replace")


def get_mac(value) -> str:
    data = get_bytes(value)
    if len(data) != 6:
        raise ProtocolError("MAC address needs 6 bytes")
    return ":".join("%02x" % b for b in data)


def parse_time(data: bytes) -> datetime.datetime:
    """GeneralizedTime the albatross way: up to 3 fraction digits read as milliseconds."""
    match = _TIME_RE.match(data)
    if not match:
        raise ProtocolError("invalid GeneralizedTime")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7)
    if fraction is not None and len(fraction) > 3:
        raise ProtocolError("GeneralizedTime: more than 3 fraction digits")
    millis = int(fraction) if fraction else 0
    try:
        return datetime.datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError as exc:
        raise ProtocolError("invalid GeneralizedTime: %s" % exc) from exc


def get_time(value) -> datetime.datetime:
    return parse_time(get_bytes(value))


# ---------------------------------------------------------------- encoding


def put_int(number: int, what: str = "integer") -> object:
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValidationError("%s must be an integer, got %r" % (what, number))
    if not INT_MIN <= number <= INT_MAX:
        raise ValidationError("%s out of range: %d" % (what, number))
    return asn1.core.Integer(number)


def put_int64(number: int) -> object:
    if isinstance(number, bool) or not isinstance(number, int) or not INT64_MIN <= number <= INT64_MAX:
        raise ValidationError("64-bit counter out of range: %r" % (number,))
    return asn1.Int64(number.to_bytes(8, "big", signed=True))


def put_text(text) -> object:
    if isinstance(text, str):
        return asn1.RawUTF8(text.encode("utf-8", errors="surrogateescape"))
    if isinstance(text, (bytes, bytearray)):
        return asn1.RawUTF8(bytes(text))
    raise ValidationError("expected a string, got %s" % type(text).__name__)


def put_bool(flag) -> object:
    return asn1.core.Boolean(bool(flag))


def put_bytes(data) -> object:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError("expected bytes, got %s" % type(data).__name__)
    return asn1.core.OctetString(bytes(data))


def mac_to_bytes(mac: str) -> bytes:
    if not isinstance(mac, str) or not _MAC_RE.match(mac):
        raise ValidationError("invalid MAC address %r (expected aa:bb:cc:dd:ee:ff)" % (mac,))
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def format_time(when: datetime.datetime) -> bytes:
    """GeneralizedTime contents: ``.fff`` (floor of the milliseconds, all 3 digits) when there are any."""
    if not isinstance(when, datetime.datetime):
        raise ValidationError("expected a datetime, got %s" % type(when).__name__)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    if not 0 <= when.year <= 9999:
        raise ValidationError("year out of range")
    text = "%04d%02d%02d%02d%02d%02d" % (when.year, when.month, when.day, when.hour, when.minute, when.second)
    if when.microsecond >= 1000:
        text += ".%03d" % (when.microsecond // 1000)
    return (text + "Z").encode("ascii")


def put_time(when: datetime.datetime) -> object:
    return asn1.GenTime(format_time(when))
