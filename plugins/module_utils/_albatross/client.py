# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Albatross client: one method per remote command (PRIVATE to the collection).

Every call mints a leaf certificate carrying the command, signs it with the
operator's CA (``Signer``), opens one TLS session, uploads data if the command
needs it and reads the reply. Names given to methods are labels below the
client's path; names returned are full albatross names.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import zlib
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs, chunks, manifest, names, policy as policies, transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossTimeout,
    CommandFailed,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    Command,
    ConsoleLine,
    Data,
    Failure,
    Policy,
    SinceCount,
    Statistics,
    Success,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
    Volume,
    Wire,
)

#: Path-only commands carry this leaf CN (an empty CN is refused by the endpoint).
PATH_CN = "."

#: The console daemon keeps at most this many lines per unikernel.
CONSOLE_RING = 1024

#: History lines arrive in one burst; a pause this long ends it.
HISTORY_GAP = 0.3

#: The normal end of a console or stats stream.
STREAM_END = "exception while reading from fd"

_INFO_KINDS = ("unikernel_info", "old_unikernel_info5", "old_unikernel_info4")

#: Delegation CAs minted for the ``path`` option are valid this many days.
_DELEGATION_DAYS = 1


def _check_duplicates(arguments: UnikernelArguments) -> None:
    nets = [n.name for n in arguments.network_interfaces]
    if len(set(nets)) != len(nets):
        raise ValidationError("Bridge names must be a set")
    blocks = [b.name for b in arguments.block_devices]
    if len(set(blocks)) != len(blocks):
        raise ValidationError("Block devices must be a set")


def _materialize(image: Any) -> bytes:
    if image is None:
        return b""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    chunks.check_source(image)
    return b"".join(chunks.iter_source(image))


def _utc(when: datetime.datetime) -> datetime.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


class Client:
    """A connection profile for one albatross server; every method is one TLS session."""

    def __init__(self, server: str, server_ca_pem: bytes, signer: certs.Signer, key_type: str = "ed25519",
                 timeout: float = 30.0, server_name: Optional[str] = None, path: Optional[str] = None,
                 max_frame: int = transport.DEFAULT_MAX_FRAME) -> None:
        transport.parse_server(server)
        if key_type not in certs.KEY_TYPES:
            raise ValidationError("unknown key type %r (expected one of %s)" % (key_type, ", ".join(certs.KEY_TYPES)))
        if not timeout or timeout <= 0:
            raise ValidationError("timeout must be a positive number of seconds")
        self.server = server
        self.server_ca_pem = server_ca_pem.encode("ascii") if isinstance(server_ca_pem, str) else server_ca_pem
        self.signer = signer
        self.key_type = key_type
        self.timeout = float(timeout)
        self.server_name = server_name or None
        self.max_frame = max_frame
        self.sub_path = names.parse_path(path) if path else ()
        self._path_signer: Optional[certs.Signer] = None

    # -- plumbing --------------------------------------------------------------------

    @property
    def path(self) -> Tuple[str, ...]:
        """The albatross path the client acts under (client_cert's path plus ``path``)."""
        return self.signer.path + self.sub_path

    def _full(self, relative: str, base: Sequence[str]) -> str:
        path, label = names.parse_name(relative)
        return names.name_to_string(tuple(base) + path, label)

    def _effective_signer(self) -> certs.Signer:
        if not self.sub_path:
            return self.signer
        if self._path_signer is None:
            levels = self._current_policies(self.sub_path)
            self._path_signer = self._delegate(levels)
        return self._path_signer

    def _current_policies(self, sub_path: Tuple[str, ...]) -> List[Tuple[str, Policy]]:
        """(label, current policy) for each level of ``sub_path`` below the signer."""
        held = {}
        for name, pol in self._policies_via(self.signer):
            held[names.parse_name(name)[0]] = pol
        levels = []
        for depth in range(1, len(sub_path) + 1):
            found = held.get(sub_path[:depth])
            if found is None:
                shown = names.path_to_string(self.signer.path + sub_path[:depth])
                raise ValidationError("no policy for path %s: install one with the policy module first" % shown)
            levels.append((sub_path[depth - 1], found))
        return levels

    def _delegate(self, levels: Sequence[Tuple[str, Policy]]) -> certs.Signer:
        signer = self.signer
        for label, pol in levels:
            cert, key = certs.make_delegation(signer, label, pol, days=_DELEGATION_DAYS)
            signer = certs.Signer(cert=cert, key=key, chain=(signer.cert,) + signer.chain, path=signer.path + (label,), policy=pol)
        return signer

    def _open(self, command: Command, cn: str, signer: Optional[certs.Signer] = None) -> transport.Connection:
        signer = signer or self._effective_signer()
        leaf, key = certs.make_leaf(signer, command, cn, self.key_type)
        context = transport.make_context(self.server_ca_pem, certs.cert_to_pem(leaf) + signer.chain_pem, certs.key_to_pem(key), self.server_name)
        what = command.kind.replace("_", " ")
        return transport.connect(self.server, context, self.timeout, self.server_name, self.max_frame, what=what, cn=cn)

    @staticmethod
    def _success(wire: Wire, kinds: Sequence[str]) -> Success:
        payload = wire.payload
        if isinstance(payload, Failure):
            raise CommandFailed(payload.message, wire.header.name)
        if not isinstance(payload, Success) or payload.kind not in kinds:
            raise ProtocolError("unexpected reply from albatross: %r (expected %s)" % (payload, " or ".join(kinds)))
        return payload

    def _call(self, command: Command, cn: str, kinds: Sequence[str], upload: Any = None, compression: int = 0,
              signer: Optional[certs.Signer] = None) -> Success:
        with self._open(command, cn, signer) as conn:
            if upload is not None:
                conn.upload(upload, compression)
            return self._success(conn.reply(), kinds)

    def _string(self, command: Command, name: str, upload: Any = None, compression: int = 0) -> str:
        return self._call(command, names.validate_label(name), ("string",), upload, compression).value

    def _policies_via(self, signer: certs.Signer) -> Tuple[Tuple[str, Policy], ...]:
        return self._call(Command("policy_info"), PATH_CN, ("policies",), signer=signer).value

    # -- unikernels ----------------------------------------------------------------------

    def unikernel_info(self, name: Optional[str] = None) -> List[UnikernelInfo]:
        label = names.validate_label(name) if name is not None else None
        reply = self._call(Command("unikernel_info"), label or PATH_CN, _INFO_KINDS)
        if label is not None or not self.path:
            # Decoded names are normalised already, so at the root they are the full names.
            return list(reply.value)
        return [dataclasses.replace(info, name=self._full(info.name, self.path)) for info in reply.value]

    def _check_arguments(self, arguments: UnikernelArguments) -> None:
        _check_duplicates(arguments)
        signer = self._effective_signer()
        if signer.policy is not None:
            policies.check_fine_with_policy(signer.policy, arguments)

    def unikernel_create(self, name: str, config: UnikernelConfig, image: Any, force: bool = False, compression: int = 0) -> str:
        """Create (or with ``force`` replace) a unikernel; ``image`` is streamed uncompressed
        or zlib-compressed at ``compression`` after the handshake."""
        names.validate_label(name)
        chunks.check_level(compression)
        if config.typ == "solo5":
            image = _materialize(image)
            found = manifest.read_manifest(image)
            # Same order as vmmd: the ABI target first, then the devices.
            manifest.check_target(found)
            manifest.check_devices(found, [b.name for b in config.block_devices], [n.name for n in config.network_interfaces])
        elif image is None:
            image = b""
        else:
            chunks.check_source(image)
        self._check_arguments(config)
        # The endpoint streams whenever the image in the certificate is empty (bhyve too).
        sent = dataclasses.replace(config, image=b"", compressed=compression > 0)
        kind = "unikernel_force_create" if force else "unikernel_create"
        return self._string(Command(kind, sent), name, upload=image, compression=compression)

    def unikernel_destroy(self, name: str) -> str:
        return self._string(Command("unikernel_destroy"), name)

    def unikernel_restart(self, name: str, arguments: Optional[UnikernelArguments] = None) -> str:
        names.validate_label(name)
        if arguments is not None:
            if isinstance(arguments, UnikernelConfig):
                arguments = arguments.arguments()
            self._check_arguments(arguments)
        return self._string(Command("unikernel_restart", arguments), name)

    def unikernel_get(self, name: str, compression: int = 0) -> bytes:
        """The image of a running unikernel, always uncompressed."""
        chunks.check_level(compression)
        image = self._call(Command("unikernel_get", compression), names.validate_label(name), ("unikernel_image",)).value
        if not image.compressed:
            return image.data
        try:
            return zlib.decompress(image.data)
        except zlib.error as exc:
            raise ProtocolError("the image albatross sent does not decompress: %s" % exc) from exc

    # -- block devices -----------------------------------------------------------------

    def block_info(self, name: Optional[str] = None) -> List[Volume]:
        label = names.validate_label(name) if name is not None else None
        reply = self._call(Command("block_info"), label or PATH_CN, ("block_devices",))
        if label is not None:
            return list(reply.value)
        return [dataclasses.replace(vol, name=self._full(vol.name, self.path)) for vol in reply.value]

    def block_add(self, name: str, size_mb: int) -> str:
        if not isinstance(size_mb, int) or isinstance(size_mb, bool) or size_mb <= 0:
            raise ValidationError("block device size must be a positive number of MB, got %r" % (size_mb,))
        return self._string(Command("block_add", size_mb), name)

    def block_remove(self, name: str) -> str:
        return self._string(Command("block_remove"), name)

    def block_set(self, name: str, data: Any, compression: int = 0) -> str:
        """Replace a volume's content with ``data`` (bytes, binary file or iterable of bytes)."""
        names.validate_label(name)
        chunks.check_level(compression)
        chunks.check_source(data)
        return self._string(Command("block_set", compression > 0), name, upload=data, compression=compression)

    def block_dump(self, name: str, out: BinaryIO, compression: int = 0) -> int:
        """Write a volume's content to ``out`` (uncompressed); returns the bytes written."""
        chunks.check_level(compression)
        with self._open(Command("block_dump", compression), names.validate_label(name)) as conn:
            compressed = self._success(conn.reply(), ("block_device_image",)).value
            return conn.read_block_dump(out, compressed)

    # -- policies ---------------------------------------------------------------------

    def policy_info(self, path: Optional[str] = None) -> List[Tuple[str, Policy]]:
        """Policies at and below ``path`` (relative to the client's path), with full path names."""
        wanted = self.path + (names.parse_path(path) if path else ())
        found = []
        for name, pol in self._policies_via(self._effective_signer()):
            full_path = self.path + names.parse_name(name)[0]
            if full_path[:len(wanted)] == wanted:
                found.append((names.name_to_string(full_path), pol))
        return found

    def install_policy(self, path: str, policy: Policy) -> List[Tuple[str, Policy]]:
        """Install ``policy`` for ``path`` (relative to the client's path) through a delegation CA.

        Albatross installs policies only from CA certificates in the client chain, so a
        chain signer -> CA(path, policy) -> leaf carries a harmless ``policy info``.
        """
        target = self.sub_path + names.parse_path(path or "")
        if not target:
            raise ValidationError("cannot install a policy for the path of client_cert itself")
        policies.check_usable(policy)
        levels = self._current_policies(target[:-1]) if len(target) > 1 else []
        parent = levels[-1][1] if levels else self.signer.policy
        if parent is not None:
            policies.check_is_smaller(parent, policy)
        signer = self._delegate(levels + [(target[-1], policy.normalized())])
        reply = self._policies_via(signer)
        return [(self._full(name, signer.path), pol) for name, pol in reply]

    # -- console and statistics -----------------------------------------------------------

    def console(self, name: str, count: Optional[int] = None, since: Optional[datetime.datetime] = None,
                wait: float = 0.0) -> List[ConsoleLine]:
        """Console history (last ``count`` lines, or lines since ``since``; default 20 lines),
        then the lines printed during the next ``wait`` seconds."""
        label = names.validate_label(name)
        if count is not None and since is not None:
            raise ValidationError("give either a line count or a start time, not both")
        if since is None and count is None:
            count = 20
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ValidationError("console line count must be an integer >= 0, got %r" % (count,))
        if wait is None or wait < 0:
            raise ValidationError("wait must be >= 0 seconds")
        selector = SinceCount(since=_utc(since)) if since is not None else SinceCount(count=count)
        lines: List[ConsoleLine] = []
        with self._open(Command("console_subscribe", selector), label) as conn:
            first = self._success(conn.reply(), ("string",))
            more: Optional[bool] = True
            if first.value != "waiting for VM":
                expected = min(count, CONSOLE_RING) if count is not None else CONSOLE_RING
                history_end = time.monotonic() + self.timeout
                while more and len(lines) < expected:
                    more = self._collect(conn, lines, min(HISTORY_GAP, self.timeout), history_end)
            deadline = time.monotonic() + wait
            more = more is not None
            while more:
                more = self._collect(conn, lines, None, deadline)
        return lines

    def _collect(self, conn: transport.Connection, lines: List[ConsoleLine], gap: Optional[float], deadline: float) -> Optional[bool]:
        """Read one console message into ``lines``: True if one came, False when ``gap`` or
        ``deadline`` passed first, None when the stream ended."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            wire = conn.read_message(min(gap, remaining) if gap is not None else remaining)
        except AlbatrossTimeout:
            return False
        if wire is None:
            return None
        payload = wire.payload
        if isinstance(payload, Failure):
            if payload.message == STREAM_END:
                return None
            raise CommandFailed(payload.message, wire.header.name)
        if isinstance(payload, Data) and payload.kind == "console":
            line = payload.value
            lines.append(line if line.name else dataclasses.replace(line, name=wire.header.name))
        return True

    def console_list_inactive(self) -> List[str]:
        reply = self._call(Command("console_list_inactive"), PATH_CN, ("consoles",))
        return [self._full(name, self.path) for name in reply.value]

    def stats(self, name: Optional[str] = None, samples: int = 1) -> List[Statistics]:
        """``samples`` statistics samples of the unikernel ``name``, or of each running
        unikernel under the client's path; stops early when the timeout passes."""
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ValidationError("samples must be a positive integer")
        label = names.validate_label(name) if name is not None else None
        # Only running unikernels report; asking first avoids waiting for nothing.
        wanted = {info.name: samples for info in self.unikernel_info(label)}
        if not wanted:
            return []
        found: List[Statistics] = []
        seen: Dict[str, int] = {}
        deadline = time.monotonic() + self.timeout * samples
        with self._open(Command("stats_subscribe"), label or PATH_CN) as conn:
            self._success(conn.reply(), ("string",))
            while any(seen.get(n, 0) < want for n, want in wanted.items()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    wire = conn.read_message(remaining)
                except AlbatrossTimeout:
                    break
                if wire is None:
                    break
                payload = wire.payload
                if isinstance(payload, Failure):
                    if payload.message == STREAM_END:
                        break
                    raise CommandFailed(payload.message, wire.header.name)
                if not isinstance(payload, Data) or payload.kind != "statistics":
                    continue
                full = next(iter(wanted)) if label is not None else self._full(wire.header.name, self.path)
                if seen.get(full, 0) >= samples:
                    continue
                seen[full] = seen.get(full, 0) + 1
                found.append(dataclasses.replace(payload.value, name=full))
        return found
