# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Albatross messages: model dataclasses <-> DER (PRIVATE to the collection).

``encode_wire``/``decode_wire`` handle a whole ``Wire`` message (without the 4-byte
length prefix of the stream), ``encode_cert_extension``/``decode_cert_extension``
the value of the albatross certificate extension ``SEQUENCE { 5, command }``.

Every decoder is total: any input gives a model value or ProtocolError. Encoders
raise ValidationError for values the wire cannot carry.
"""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import asn1, asn1_replies as r
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec as c
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec_stats, codec_unikernel as u, fast_wire
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError, ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    WIRE_VERSION,
    Command,
    ConsoleLine,
    Data,
    Failure,
    Header,
    Image,
    Policy,
    SinceCount,
    StatsAdd,
    Success,
    Volume,
    Wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import normalize_name

# Exceptions asn1crypto (lazy parsing) or value conversion may raise on hostile input.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, UnicodeError, RecursionError, LookupError)
# Whatever stops the direct path (fast_wire) hands the message to the asn1crypto codec, so
# that the public decoder stays total even if the direct reader has a bug. The direct
# reader itself refuses only with Unsupported or ProtocolError: the unit tests call it
# directly and hold it to that, and check that no real reply it handles falls back.
_FAST_FALLBACK = (fast_wire.Unsupported, ProtocolError, ValidationError) + _DECODE_ERRORS

#: The albatross releases whose replies this collection reads.
SUPPORTED_SERVERS = "albatross 2.5 to 2.7, wire version %d" % WIRE_VERSION
# Tag numbers of the payload CHOICE (§3.3), of success replies (§3.7) and of data (§3.8)
# that albatross 2.5 to 2.7 send; data [2] (log) gets its own refusal below.
_PAYLOAD_TAGS = frozenset((0, 1, 2, 3))
_SUCCESS_TAGS = frozenset((0, 1, 2, 4, 6, 7, 9, 10, 11, 12, 13))
_DATA_TAGS = frozenset((1, 2, 3, 4))


class UnknownLayout(ProtocolError):
    """A reply from a newer albatross: known framing, but a layout this collection cannot read.

    Albatross 2.8 changed the statistics reply and added event subscriptions; an
    unreadable reply of that kind says so instead of "malformed message".
    """

    def __init__(self, what: str, command: str = "") -> None:
        self.what = what
        self.command = command
        to = " to %s" % command if command else ""
        super().__init__(
            "the %s of this albatross server%s has a layout this collection does not know (supported: %s); "
            "the server probably runs a newer albatross release" % (what, to, SUPPORTED_SERVERS)
        )

    def __reduce__(self):
        # Rebuilt from its parts, not from the finished message (copy, pickle).
        return type(self), (self.what, self.command)


_NULL_KINDS = frozenset((
    "unikernel_info", "unikernel_info_old4", "unikernel_info_old5", "unikernel_destroy",
    "block_info", "block_remove", "policy_info", "policy_remove", "console_list_inactive",
    "stats_subscribe", "stats_remove", "stats_initial",
))
_INT_KINDS = frozenset(("unikernel_get", "block_add", "block_dump", "block_dump_old", "console_add"))
_CONFIG_LAYOUTS = {
    "unikernel_create": "current", "unikernel_force_create": "current",
    "unikernel_create_old2": "v4", "unikernel_force_create_old2": "v4",
    "unikernel_create_old": "v3", "unikernel_force_create_old": "v3",
}
_GROUPS = {"unikernel": "UnikernelCmd", "block": "BlockCmd", "policy": "PolicyCmd", "console": "ConsoleCmd", "stats": "StatsCmd"}
_RESTART_LAYOUTS = {"v0": "v0", "v1": "v1", "current": "current"}
_INFO_LAYOUTS = {"unikernel_info": "current", "old_unikernel_info5": "v5", "old_unikernel_info4": "v4"}
_INFO_SCHEMAS = {"unikernel_info": ("NamedInfos", "NamedInfo"), "old_unikernel_info5": ("NamedInfosV5", "NamedInfoV5"),
                 "old_unikernel_info4": ("NamedInfosV4", "NamedInfoV4")}


def _decoding(func, data, *args):
    """Run ``func`` on strict-DER-checked bytes; anything but a model value is ProtocolError."""
    asn1.require()
    asn1.check_der(data)
    try:
        return func(bytes(data), *args)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as exc:
        reason = str(exc).split("\n", 1)[0].replace(__name__.rsplit(".", 1)[0] + ".", "")
        raise ProtocolError("malformed albatross message: %s" % reason[:200]) from exc


def _encoding(func, value):
    asn1.require()
    try:
        return func(value).dump(force=True)
    except ValidationError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # Never echo the value: it may hold a whole image.
        raise ValidationError("cannot encode %s: %s" % (type(value).__name__, str(exc)[:200])) from exc


# ---------------------------------------------------------------- commands


def _command_arg(kind: str, arg):
    """The ASN.1 value inside the group CHOICE for ``kind``."""
    if kind in _NULL_KINDS:
        return asn1.core.Null()
    if kind in _INT_KINDS:
        return c.put_int(arg, kind)
    if kind in _CONFIG_LAYOUTS:
        return u.encode_config(arg, _CONFIG_LAYOUTS[kind])
    if kind == "unikernel_restart":
        if arg is None:
            return asn1.RestartArgs(name="none", value=asn1.core.Null())
        return asn1.RestartArgs(name="current", value=u.encode_arguments(arg))
    if kind == "block_set":
        if not isinstance(arg, bool):
            raise ValidationError("block_set takes a bool (compressed)")
        return c.put_bool(arg)
    if kind == "block_add_old":
        size, compressed, data = arg
        fields = {"size": c.put_int(size, "size"), "compressed": c.put_bool(compressed)}
        if data is not None:
            fields["data"] = c.put_bytes(data)
        return asn1.BlockAddOld(fields)
    if kind == "block_set_old":
        compressed, data = arg
        return asn1.BlockSetOld({"compressed": c.put_bool(compressed), "data": c.put_bytes(data)})
    if kind == "policy_add":
        return u.encode_policy(arg)
    if kind == "console_subscribe":
        if not isinstance(arg, SinceCount) or (arg.since is None) == (arg.count is None):
            raise ValidationError("console_subscribe takes a SinceCount with exactly one of since or count")
        if arg.since is not None:
            return asn1.SinceCount(name="since", value=c.put_time(arg.since))
        return asn1.SinceCount(name="count", value=c.put_int(arg.count, "count"))
    if kind == "stats_add":
        if not isinstance(arg, StatsAdd):
            raise ValidationError("stats_add takes a StatsAdd")
        taps = asn1.Taps([asn1.Tap({"bridge": c.put_text(b), "tap": c.put_text(t)}) for b, t in arg.taps])
        return asn1.StatsAdd({"vmmdev": c.put_text(arg.vmmdev), "pid": c.put_int(arg.pid, "pid"), "network": taps})
    raise ValidationError("unknown command kind %r" % (kind,))


def command_value(command: Command):
    """The asn1crypto ``Command`` CHOICE for a model Command."""
    if not isinstance(command, Command):
        raise ValidationError("expected a Command, got %s" % type(command).__name__)
    group = command.kind.split("_", 1)[0]
    if group not in _GROUPS:
        raise ValidationError("unknown command kind %r" % (command.kind,))
    inner = getattr(asn1, _GROUPS[group])(name=command.kind, value=_command_arg(command.kind, command.arg))
    return asn1.Command(name=group, value=inner)


def _decode_command_value(value) -> Command:
    group, chosen = c.choice(value)
    if group == "log":
        raise ProtocolError("support for log dropped")
    kind, arg = c.choice(chosen)
    if kind in _NULL_KINDS:
        c.get_null(arg)
        return Command(kind)
    if kind in _INT_KINDS:
        return Command(kind, c.get_int(arg))
    if kind in _CONFIG_LAYOUTS:
        return Command(kind, u.decode_config(arg, _CONFIG_LAYOUTS[kind]))
    if kind == "unikernel_restart":
        which, args = c.choice(arg)
        if which == "none":
            c.get_null(args)
            return Command(kind, None)
        return Command(kind, u.decode_arguments(args, _RESTART_LAYOUTS[which]))
    if kind == "block_set":
        return Command(kind, c.get_bool(arg))
    if kind == "block_add_old":
        c.check_fields(arg)
        data = c.opt(arg, "data")
        return Command(kind, (c.get_int(arg["size"]), c.get_bool(arg["compressed"]), None if data is None else c.get_bytes(data)))
    if kind == "block_set_old":
        c.check_fields(arg)
        return Command(kind, (c.get_bool(arg["compressed"]), c.get_bytes(arg["data"])))
    if kind == "policy_add":
        return Command(kind, u.decode_policy(arg))
    if kind == "console_subscribe":
        which, since_count = c.choice(arg)
        if which == "since":
            return Command(kind, SinceCount(since=c.get_time(since_count)))
        return Command(kind, SinceCount(count=c.get_int(since_count)))
    if kind == "stats_add":
        c.check_fields(arg)
        taps = []
        for tap in c.items(arg["network"]):
            c.check_fields(tap)
            taps.append((c.get_text(tap["bridge"]), c.get_text(tap["tap"])))
        return Command(kind, StatsAdd(c.get_text(arg["vmmdev"]), c.get_int(arg["pid"]), tuple(taps)))
    raise ProtocolError("unsupported command %s" % kind)


def encode_command(command: Command) -> bytes:
    """DER of the Command CHOICE alone."""
    return _encoding(command_value, command)


def decode_command(data: bytes) -> Command:
    return _decoding(lambda raw: _decode_command_value(asn1.Command.load(raw, strict=True)), data)


def encode_cert_extension(command: Command) -> bytes:
    """Value of the albatross certificate extension: DER of SEQUENCE { 5, command }."""
    return _encoding(lambda cmd: asn1.CertExtension({"version": WIRE_VERSION, "command": command_value(cmd)}), command)


def _decode_cert_extension(raw: bytes) -> Command:
    value = asn1.CertExtension.load(raw, strict=True)
    c.check_fields(value)
    version = c.get_int(value["version"])
    if version != WIRE_VERSION:
        raise ProtocolError("unknown version number 0x%X" % version)
    return _decode_command_value(value["command"])


def decode_cert_extension(data: bytes) -> Command:
    return _decoding(_decode_cert_extension, data)


def encode_policy(policy: Policy) -> bytes:
    return _encoding(u.encode_policy, policy)


def decode_policy(data: bytes) -> Policy:
    return _decoding(lambda raw: u.decode_policy(asn1.Policy.load(raw, strict=True)), data)


# ---------------------------------------------------------------- replies


def _name(value) -> str:
    return normalize_name(c.get_text(value))


def _success_value(success: Success):
    kind, value = success.kind, success.value
    if kind == "empty":
        inner = asn1.core.Null()
    elif kind == "string":
        inner = c.put_text(value)
    elif kind == "policies":
        inner = r.NamedPolicies([r.NamedPolicy({"name": c.put_text(n), "policy": u.encode_policy(p)}) for n, p in value])
    elif kind == "block_devices":
        inner = r.BlockDevices([r.BlockDevice({
            "name": c.put_text(v.name), "size": c.put_int(v.size, "size"), "active": c.put_bool(v.active),
        }) for v in value])
    elif kind in ("unikernel_image", "old_block_device_image"):
        if not isinstance(value, Image):
            raise ValidationError("%s takes an Image" % kind)
        inner = r.Image({"compressed": c.put_bool(value.compressed), "image": c.put_bytes(value.data)})
    elif kind in _INFO_LAYOUTS:
        many, one = (getattr(r, s) for s in _INFO_SCHEMAS[kind])
        inner = many([one({"name": c.put_text(i.name), "info": u.encode_info(i, _INFO_LAYOUTS[kind])}) for i in value])
    elif kind == "block_device_image":
        inner = c.put_bool(value)
    elif kind == "consoles":
        inner = asn1.StrSeq([c.put_text(n) for n in value])
    else:
        raise ValidationError("unknown success kind %r" % (kind,))
    return r.Success(name=kind, value=inner)


def _decode_success(value) -> Success:
    kind, inner = c.choice(value)
    if kind == "empty":
        c.get_null(inner)
        return Success(kind)
    if kind == "string":
        return Success(kind, c.get_text(inner))
    if kind == "block_device_image":
        return Success(kind, c.get_bool(inner))
    if kind in ("unikernel_image", "old_block_device_image"):
        c.check_fields(inner)
        return Success(kind, Image(c.get_bool(inner["compressed"]), c.get_bytes(inner["image"])))
    if kind == "consoles":
        return Success(kind, tuple(_name(n) for n in c.items(inner)))
    result = []
    for entry in c.items(inner):
        c.check_fields(entry)
        if kind == "policies":
            result.append((_name(entry["name"]), u.decode_policy(entry["policy"])))
        elif kind == "block_devices":
            result.append(Volume(_name(entry["name"]), c.get_int(entry["size"]), c.get_bool(entry["active"])))
        else:
            result.append(u.decode_info(_name(entry["name"]), entry["info"], _INFO_LAYOUTS[kind]))
    return Success(kind, tuple(result))


def _data_value(data: Data):
    kind, value = data.kind, data.value
    if kind == "statistics":
        inner = codec_stats.encode_statistics(value)
    elif kind == "console":
        if not isinstance(value, ConsoleLine):
            raise ValidationError("console data takes a ConsoleLine")
        inner = r.ConsoleData({"timestamp": c.put_time(value.timestamp), "data": c.put_text(value.data)})
    elif kind == "block":
        if value is None:
            inner = r.BlockData(name="none", value=asn1.core.Null())
        else:
            inner = r.BlockData(name="some", value=c.put_bytes(value))
    else:
        raise ValidationError("unknown data kind %r" % (kind,))
    return r.Data(name=kind, value=inner)


def _decode_data(value, name: str, command: str = "") -> Data:
    kind, inner = c.choice(value)
    if kind == "log":
        raise ProtocolError("support for log dropped")
    if kind == "statistics":
        try:
            return Data(kind, codec_stats.decode_statistics(inner, name))
        except (ProtocolError,) + _DECODE_ERRORS as exc:
            # The strict DER check passed, so the bytes are sound: albatross 2.8 changed this
            # payload (reportedly to rusage, kinfo_mem, ifdata), and a server may mix both.
            raise UnknownLayout("statistics reply", command) from exc
    if kind == "console":
        c.check_fields(inner)
        return Data(kind, ConsoleLine(c.get_time(inner["timestamp"]), c.get_bytes(inner["data"]), name))
    which, chunk = c.choice(inner)
    if which == "none":
        c.get_null(chunk)
        return Data(kind, None)
    return Data(kind, c.get_bytes(chunk))


def _wire_value(wire: Wire):
    if not isinstance(wire, Wire) or not isinstance(wire.header, Header):
        raise ValidationError("expected a Wire with a Header")
    header = wire.header
    payload = wire.payload
    if isinstance(payload, Command):
        choice = r.Payload(name="command", value=command_value(payload))
    elif isinstance(payload, Success):
        choice = r.Payload(name="success", value=_success_value(payload))
    elif isinstance(payload, Failure):
        choice = r.Payload(name="failure", value=c.put_text(payload.message))
    elif isinstance(payload, Data):
        choice = r.Payload(name="data", value=_data_value(payload))
    else:
        raise ValidationError("unknown payload type %s" % type(payload).__name__)
    return r.Wire({
        "header": r.Header({
            "version": c.put_int(header.version, "version"),
            "sequence": c.put_int64(header.sequence),
            "name": c.put_text(normalize_name(header.name)),
        }),
        "payload": choice,
    })


def encode_wire(wire: Wire) -> bytes:
    """DER of a Wire message (no length prefix)."""
    asn1.require()
    try:
        return fast_wire.encode_wire(wire)
    except _FAST_FALLBACK:
        # Not a payload the direct writer handles, or invalid: the reference encodes or words the error.
        pass
    return _encoding(_wire_value, wire)


def _check_layout(raw: bytes, command: str) -> None:
    """Refuse a payload, success or data tag albatross 2.5 to 2.7 never send (``raw`` is strict DER)."""
    _tag, pos, stop = asn1.read_header(raw, 0, len(raw))
    elements = []
    while pos < stop and len(elements) < 2:
        element = asn1.read_header(raw, pos, stop)
        elements.append(element)
        pos = element[2]
    if len(elements) < 2 or elements[1][0] & 0xE0 != 0xA0:
        # Not a context-tagged payload after the header: the schema refuses it.
        return
    payload, start, end = elements[1]
    number = payload & 0x1F
    if number not in _PAYLOAD_TAGS:
        raise UnknownLayout("reply with payload tag [%d]" % number, command)
    if number not in (1, 3) or start >= end or raw[start] & 0xE0 != 0xA0:
        return
    inner = raw[start] & 0x1F
    if number == 1 and inner not in _SUCCESS_TAGS:
        raise UnknownLayout("success reply with tag [%d]" % inner, command)
    if number == 3 and inner not in _DATA_TAGS:
        raise UnknownLayout("data reply with tag [%d]" % inner, command)


def _decode_wire(raw: bytes, command: str = "") -> Wire:
    value = r.Wire.load(raw, strict=True)
    c.check_fields(value)
    head = value["header"]
    c.check_fields(head)
    version = c.get_int(head["version"])
    if version != WIRE_VERSION:
        raise UnknownLayout("message with wire version %d" % version, command)
    _check_layout(raw, command)
    header = Header(name=_name(head["name"]), sequence=c.get_int64(head["sequence"]), version=version)
    kind, inner = c.choice(value["payload"])
    if kind == "command":
        payload = _decode_command_value(inner)
    elif kind == "success":
        payload = _decode_success(inner)
    elif kind == "failure":
        payload = Failure(c.get_text(inner))
    else:
        payload = _decode_data(inner, header.name, command)
    return Wire(header, payload)


def decode_wire(data: bytes, command: str = "") -> Wire:
    """Decode one Wire message (no length prefix); ProtocolError on anything else.

    ``command`` (e.g. "stats subscribe") names the request in the error about a reply
    layout from a newer albatross (UnknownLayout).
    """
    asn1.require()
    if isinstance(data, bytes) and data:
        try:
            return fast_wire.decode_wire(data)
        except _FAST_FALLBACK:
            # Not in the canonical subset the direct reader handles: the reference decides.
            pass
    return _decoding(_decode_wire, data, command)


def decode_wire_reference(data: bytes, command: str = "") -> Wire:
    """``decode_wire`` through asn1crypto alone (the reference the direct reader is tested against)."""
    return _decoding(_decode_wire, data, command)


def encode_wire_reference(wire: Wire) -> bytes:
    """``encode_wire`` through asn1crypto alone."""
    return _encoding(_wire_value, wire)
