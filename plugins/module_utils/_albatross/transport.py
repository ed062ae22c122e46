# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS 1.3 connection to albatross-tls-endpoint (PRIVATE to the collection).

One connection carries one command: the command travels in the client certificate,
the client only uploads raw data chunks (images, block data) and reads replies.
Every unit on the stream is a chunk: a 4-byte big-endian length and that many bytes.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import struct
import tempfile
import zlib
from typing import Any, BinaryIO, Optional, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import messages
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.chunks import Source, block_chunk, chunks, counted, iter_source
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossTimeout,
    AuthenticationError,
    CertificateError,
    CommandFailed,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Data, Failure, Wire

DEFAULT_PORT = 1025

#: Largest reply accepted by default. Replies are read incrementally, so the limit
#: only guards against absurd lengths; ``get`` returns a whole image in one message.
DEFAULT_MAX_FRAME = 256 * 1024 * 1024

_RECV_SIZE = 256 * 1024
_LENGTH = struct.Struct(">I")


def parse_server(server: str) -> Tuple[str, int]:
    """``host[:port]``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    text = (server or "").strip()
    if not text:
        raise ValidationError("the albatross server address is empty")
    port_text = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValidationError("invalid server address %r: missing ']'" % server)
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValidationError("invalid server address %r" % server)
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    if not host:
        raise ValidationError("invalid server address %r: no host" % server)
    if not port_text:
        return host, DEFAULT_PORT
    try:
        port = int(port_text, 10)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ValidationError("invalid port in server address %r" % server)
    return host, port


def _write_private(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def make_context(server_ca_pem: bytes, cert_chain_pem: bytes, key_pem: bytes, server_name: Optional[str] = None) -> ssl.SSLContext:
    """A TLS 1.3-only client context trusting ``server_ca_pem`` alone.

    ``cert_chain_pem`` is the leaf followed by its issuers, ``key_pem`` the leaf's
    unencrypted key. Python loads client credentials only from files, so both are
    written to a private directory that is removed right after loading.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = bool(server_name)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if server_name:
        # Albatross server certificates name the server in the CN only.
        ctx.hostname_checks_common_name = True
    # Albatross CAs carry no subject key identifier, which strict mode refuses.
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    try:
        ctx.load_verify_locations(cadata=server_ca_pem.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise CertificateError("cannot use server_ca as trust anchor: %s" % exc) from exc
    directory = tempfile.mkdtemp(prefix="albatross-tls-")
    try:
        os.chmod(directory, 0o700)
        cert_file = _write_private(directory, "chain.pem", cert_chain_pem)
        key_file = _write_private(directory, "key.pem", key_pem)
        ctx.load_cert_chain(certfile=cert_file, keyfile=key_file)
    except ssl.SSLError as exc:
        raise CertificateError("cannot load the client certificate chain: %s" % exc) from exc
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return ctx


class _SendFailed(Exception):
    """Sending failed because the peer went away (kept apart from local read errors)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


#: OpenSSL's reasons for a first answer that is not a TLS record (HTTP, SSH, any plain protocol).
_NOT_TLS_REASONS = frozenset(("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "PACKET_LENGTH_TOO_LONG",
                              "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL", "RECORD_LENGTH_MISMATCH"))


def not_tls_message(server: str) -> str:
    return ("albatross at %s did not speak TLS (the port answered with another protocol, such as plain HTTP): "
            "set server to host:port of albatross-tls-endpoint (default port %d)" % (server, DEFAULT_PORT))


def _tls_reason(exc: ssl.SSLError) -> str:
    return getattr(exc, "reason", None) or str(exc)


def _read_error(exc: BaseException, server: str) -> Exception:
    """Map an exception raised while reading to a library error."""
    if isinstance(exc, TimeoutError):
        return AlbatrossTimeout("no reply from albatross at %s in time" % server)
    if isinstance(exc, ssl.SSLError):
        reason = _tls_reason(exc)
        if "ALERT" in reason.upper():
            return AuthenticationError(
                "albatross at %s refused the TLS session (%s): check that client_cert is signed by the "
                "server's CA, that it and its chain are valid now, and that the chain has fewer than 10 certificates" % (server, reason)
            )
        return AuthenticationError("TLS error with albatross at %s: %s" % (server, reason))
    return AlbatrossConnectionError("connection to albatross at %s broke: %s" % (server, exc))


class Connection:
    """A TLS session with albatross carrying exactly one command."""

    def __init__(self, sock: Any, server: str, timeout: float, max_frame: int = DEFAULT_MAX_FRAME, what: str = "", cn: str = "") -> None:
        self._sock = sock
        self.server = server
        self.timeout = timeout
        self.max_frame = max_frame
        self.what = what
        self.cn = cn
        self.upload_error: Optional[BaseException] = None
        self._buffer = bytearray()
        self._eof = False

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    # -- writing -------------------------------------------------------------------

    def send_chunk(self, data: bytes) -> None:
        """Send one chunk; an empty ``data`` is the end-of-stream marker."""
        if len(data) >= 1 << 31:
            raise ValidationError("chunk too large")
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(_LENGTH.pack(len(data)) + bytes(data))
        except TimeoutError as exc:
            raise AlbatrossTimeout("albatross at %s stopped accepting data" % self.server) from exc
        except OSError as exc:
            raise _SendFailed(exc) from exc

    def upload(self, source: Source, compression: int = 0) -> int:
        """Stream ``source`` in chunks, zlib-compressed at ``compression`` (1-9) if > 0,
        then the zero-length end marker. Returns the number of uncompressed bytes.

        When the server closes early, the send error is kept in ``upload_error`` and
        the caller reads the reply, which usually says why.
        """
        counter = [0]
        try:
            for piece in chunks(counted(iter_source(source), counter), compression):
                self.send_chunk(piece)
            self.send_chunk(b"")
        except _SendFailed as exc:
            self.upload_error = exc.error
        return counter[0]

    # -- reading -------------------------------------------------------------------

    def _fill(self, size: int) -> bool:
        """Buffer at least ``size`` bytes; False at EOF. A timeout keeps what was read,
        so a later read continues the same message."""
        while len(self._buffer) < size:
            if self._eof:
                return False
            try:
                data = self._sock.recv(_RECV_SIZE)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                data = b""
            except OSError as exc:
                raise _read_error(exc, self.server) from exc
            if not data:
                self._eof = True
                return False
            self._buffer += data
        return True

    def read_frame(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next chunk, or None at the end of the stream (EOF, zero or negative length)."""
        if self._sock is None:
            return None
        self._sock.settimeout(self.timeout if timeout is None else max(timeout, 0.001))
        if not self._fill(4):
            if self._buffer:
                raise AlbatrossConnectionError("albatross at %s closed the connection in the middle of a message" % self.server)
            return None
        (length,) = _LENGTH.unpack(self._buffer[:4])
        if length == 0 or length >= 1 << 31:
            del self._buffer[:4]
            self._eof = True
            return None
        if length > self.max_frame:
            raise ProtocolError(
                "albatross at %s announced a message of %d bytes, more than the limit of %d bytes" % (self.server, length, self.max_frame)
            )
        if not self._fill(4 + length):
            raise AlbatrossConnectionError("albatross at %s closed the connection in the middle of a message" % self.server)
        with memoryview(self._buffer) as view:
            frame = bytes(view[4:4 + length])
        del self._buffer[:4 + length]
        return frame

    def read_message(self, timeout: Optional[float] = None) -> Optional[Wire]:
        """The next reply message, or None at the end of the stream."""
        frame = self.read_frame(timeout)
        if frame is None:
            return None
        # The command names the request in the error about a reply from a newer albatross.
        return messages.decode_wire(frame, self.what)

    def read_block_dump(self, out: BinaryIO, compressed: bool) -> int:
        """Write the data messages of a block dump to ``out`` (inflated when ``compressed``)
        until the end marker; returns the bytes written. A failure raises CommandFailed."""
        inflater = zlib.decompressobj() if compressed else None
        written = 0
        while True:
            frame = self.read_frame()
            if frame is None:
                raise AlbatrossConnectionError("albatross at %s ended the block dump before its end marker" % self.server)
            chunk = block_chunk(frame)
            if chunk is None:
                wire = messages.decode_wire(frame, self.what)
                payload = wire.payload
                if isinstance(payload, Failure):
                    raise CommandFailed(payload.message, wire.header.name)
                if not isinstance(payload, Data) or payload.kind != "block":
                    raise ProtocolError("unexpected message in a block dump: %r" % (payload,))
                if payload.value is None:
                    break
                chunk = payload.value
            if inflater is not None:
                try:
                    chunk = inflater.decompress(chunk)
                except zlib.error as exc:
                    raise ProtocolError("the block data albatross sent does not decompress: %s" % exc) from exc
            out.write(chunk)
            written += len(chunk)
        if inflater is not None:
            tail = inflater.flush()
            out.write(tail)
            written += len(tail)
            if not inflater.eof:
                raise ProtocolError("the compressed block dump albatross sent is truncated")
        return written

    def reply(self, timeout: Optional[float] = None) -> Wire:
        """The first reply; a session closed without one means albatross rejected us."""
        try:
            wire = self.read_message(timeout)
        except AlbatrossConnectionError as exc:
            # A reset right after the handshake is albatross dropping the session
            # while our upload was still in flight.
            if isinstance(exc.__cause__, (ConnectionResetError, BrokenPipeError)):
                raise AuthenticationError(self.silent_close_message() + " (connection reset)") from exc
            raise
        if wire is None:
            raise AuthenticationError(self.silent_close_message())
        return wire

    def silent_close_message(self) -> str:
        if self.cn and self.cn != ".":
            text = (
                "albatross at %s closed the session without a reply: the client certificate chain, the command "
                "(%s) or the name %r was rejected. Check that client_cert is signed by the server's CA (the CA of "
                "server_ca for a root CA), that its chain is valid by the server's clock and has fewer than 10 "
                "certificates, and that the name is a valid albatross label" % (self.server, self.what or "unknown", self.cn)
            )
        else:
            # Path-only commands carry no name of the user's: do not blame one.
            text = (
                "albatross at %s closed the session without a reply: the client certificate chain or the command "
                "(%s) was rejected. Check that client_cert is signed by the server's CA (the CA of server_ca for a "
                "root CA), that its chain is valid by the server's clock and has fewer than 10 certificates"
                % (self.server, self.what or "unknown")
            )
        if self.upload_error is not None:
            text += " (the upload was cut off: %s)" % self.upload_error
        return text


def connect(server: str, context: ssl.SSLContext, timeout: float, server_name: Optional[str] = None,
            max_frame: int = DEFAULT_MAX_FRAME, what: str = "", cn: str = "") -> Connection:
    """Open TCP and complete the TLS 1.3 handshake with albatross at ``server``."""
    host, port = parse_server(server)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as exc:
        raise AlbatrossTimeout("connecting to albatross at %s timed out after %ss" % (server, timeout)) from exc
    except socket.gaierror as exc:
        raise AlbatrossConnectionError("cannot resolve albatross host %s: %s" % (host, exc)) from exc
    except OSError as exc:
        raise AlbatrossConnectionError("cannot connect to albatross at %s: %s" % (server, exc.strerror or exc)) from exc
    raw.settimeout(timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=server_name or None)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise AuthenticationError(
            "the certificate of albatross at %s failed verification against server_ca: %s"
            % (server, getattr(exc, "verify_message", None) or exc)
        ) from exc
    except TimeoutError as exc:
        raw.close()
        raise AlbatrossTimeout("TLS handshake with %s timed out after %ss (is it an albatross TLS endpoint?)" % (server, timeout)) from exc
    except ssl.SSLError as exc:
        raw.close()
        reason = _tls_reason(exc)
        if reason.upper() in _NOT_TLS_REASONS:
            raise AlbatrossConnectionError(not_tls_message(server)) from exc
        raise AuthenticationError("TLS handshake with albatross at %s failed: %s" % (server, reason)) from exc
    except (ConnectionResetError, BrokenPipeError) as exc:
        raw.close()
        raise AlbatrossConnectionError(
            "albatross at %s closed the connection during the TLS handshake: check that server names the port of "
            "albatross-tls-endpoint (default %d)" % (server, DEFAULT_PORT)
        ) from exc
    except OSError as exc:
        raw.close()
        raise AlbatrossConnectionError("TLS handshake with albatross at %s failed: %s" % (server, exc.strerror or exc)) from exc
    return Connection(sock, server, timeout, max_frame=max_frame, what=what, cn=cn)
