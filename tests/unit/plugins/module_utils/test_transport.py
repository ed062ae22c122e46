# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transport: server addresses, framing, chunked uploads, timeouts, TLS setup (loopback only)."""

from __future__ import annotations

import io
import os
import socket
import ssl
import stat
import struct
import tempfile
import threading
import time
import zlib

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs, chunks, messages, transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossTimeout,
    AuthenticationError,
    CertificateError,
    CommandFailed,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Command, Data, Failure, Header, Success, Wire
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden


def frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def read_chunks(sock: socket.socket) -> list:
    """Chunks the peer sent, up to and including the zero-length end marker."""
    found = []
    buf = b""
    while True:
        while len(buf) < 4:
            buf += sock.recv(65536)
        (length,) = struct.unpack(">I", buf[:4])
        while len(buf) < 4 + length:
            buf += sock.recv(65536)
        found.append(buf[4:4 + length])
        buf = buf[4 + length:]
        if length == 0:
            return found


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    conn = transport.Connection(ours, "test", timeout=2.0, max_frame=1024, what="unikernel info", cn="web")
    yield conn, theirs
    conn.close()
    theirs.close()


@pytest.mark.parametrize("text,expected", [
    ("alb1", ("alb1", 1025)),
    ("alb1.example:2000", ("alb1.example", 2000)),
    ("127.0.0.1:1025", ("127.0.0.1", 1025)),
    ("[::1]:1026", ("::1", 1026)),
    ("[::1]", ("::1", 1025)),
    ("::1", ("::1", 1025)),
    (" localhost ", ("localhost", 1025)),
])
def test_parse_server(text, expected):
    assert transport.parse_server(text) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:70000", "host:x", "[::1", "[::1]x", ":1025", "[]:1"])
def test_parse_server_rejects(text):
    with pytest.raises(ValidationError):
        transport.parse_server(text)


def test_frames_split_across_reads(pair):
    conn, peer = pair
    data = frame(b"hello") + frame(b"x" * 1000)
    for byte in range(0, len(data), 7):
        peer.sendall(data[byte:byte + 7])
    assert conn.read_frame() == b"hello"
    assert conn.read_frame() == b"x" * 1000
    peer.shutdown(socket.SHUT_WR)
    assert conn.read_frame() is None
    assert conn.read_frame() is None


@pytest.mark.parametrize("head", [b"\x00\x00\x00\x00", b"\x80\x00\x00\x05", b"\xff\xff\xff\xff"])
def test_zero_and_negative_lengths_end_the_stream(pair, head):
    conn, peer = pair
    peer.sendall(head)
    assert conn.read_frame() is None


def test_oversized_frame_is_refused_without_reading(pair):
    conn, peer = pair
    peer.sendall(struct.pack(">I", 1025))
    with pytest.raises(ProtocolError, match="1025 bytes, more than the limit of 1024"):
        conn.read_frame()


def test_eof_inside_a_frame(pair):
    conn, peer = pair
    peer.sendall(struct.pack(">I", 10) + b"abc")
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(AlbatrossConnectionError, match="middle of a message"):
        conn.read_frame()


def test_eof_inside_the_length(pair):
    conn, peer = pair
    peer.sendall(b"\x00\x00")
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(AlbatrossConnectionError):
        conn.read_frame()


def test_read_timeout_keeps_partial_frame(pair):
    conn, peer = pair
    peer.sendall(struct.pack(">I", 6) + b"abc")
    started = time.monotonic()
    with pytest.raises(AlbatrossTimeout):
        conn.read_frame(timeout=0.1)
    assert time.monotonic() - started < 1.5
    peer.sendall(b"def")
    assert conn.read_frame() == b"abcdef"


def test_silent_close_before_reply(pair):
    conn, peer = pair
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(AuthenticationError) as info:
        conn.reply()
    text = str(info.value)
    assert "closed the session without a reply" in text
    assert "unikernel info" in text and "'web'" in text
    assert "signed by the server's CA" in text and "fewer than 10" in text


def test_upload_plain_chunks(pair):
    conn, peer = pair
    data = os.urandom(chunks.CHUNK_SIZE * 2 + 100)
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault("chunks", read_chunks(peer)))
    reader.start()
    assert conn.upload(data) == len(data)
    reader.join(5)
    sent = result["chunks"]
    assert [len(c) for c in sent] == [chunks.CHUNK_SIZE, chunks.CHUNK_SIZE, 100, 0]
    assert b"".join(sent) == data


@pytest.mark.parametrize("kind", ["bytes", "file", "iterable", "bytearray"])
def test_upload_sources_compressed(pair, kind):
    conn, peer = pair
    data = (b"albatross " * 20000) + os.urandom(3000)
    source = {
        "bytes": data,
        "bytearray": bytearray(data),
        "file": io.BytesIO(data),
        "iterable": iter([data[:5], data[5:70000], data[70000:]]),
    }[kind]
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault("chunks", read_chunks(peer)))
    reader.start()
    assert conn.upload(source, compression=6) == len(data)
    reader.join(5)
    sent = result["chunks"]
    assert sent[-1] == b"" and all(0 < len(c) <= chunks.CHUNK_SIZE for c in sent[:-1])
    assert zlib.decompress(b"".join(sent)) == data


def test_upload_empty_sends_only_the_end_marker(pair):
    conn, peer = pair
    conn.upload(b"")
    assert peer.recv(100) == b"\x00\x00\x00\x00"


def test_upload_to_closed_peer_is_kept_for_the_reply(pair):
    conn, peer = pair
    peer.close()
    conn.upload(os.urandom(chunks.CHUNK_SIZE * 4))
    assert conn.upload_error is not None
    with pytest.raises(AuthenticationError, match="upload was cut off"):
        conn.reply()


@pytest.mark.parametrize("source", ["text", 42, [b"ok", "text"]])
def test_bad_sources(source):
    with pytest.raises(ValidationError):
        chunks.check_source(source)
        list(chunks.iter_source(source))


@pytest.mark.parametrize("level", [-1, 10, True, "1"])
def test_bad_levels(level):
    with pytest.raises(ValidationError):
        chunks.check_level(level)


def test_connection_refused():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(AlbatrossConnectionError, match="cannot connect"):
        transport.connect("127.0.0.1:%d" % port, context, timeout=2.0)


def test_handshake_timeout_on_a_silent_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        started = time.monotonic()
        with pytest.raises(AlbatrossTimeout, match="timed out"):
            transport.connect("127.0.0.1:%d" % listener.getsockname()[1], context, timeout=0.3)
        assert time.monotonic() - started < 3
    finally:
        listener.close()


# -- TLS against a tiny local server -----------------------------------------------------


class Pki:
    def __init__(self, tmp: str) -> None:
        self.ca, self.ca_key = certs.make_root_ca("test-ca")
        self.signer = certs.Signer.from_objects(self.ca, self.ca_key)
        server, server_key = certs.make_server_cert(self.ca, self.ca_key)
        self.server_files = (os.path.join(tmp, "server.pem"), os.path.join(tmp, "server.key"))
        with open(self.server_files[0], "wb") as handle:
            handle.write(certs.cert_to_pem(server))
        with open(self.server_files[1], "wb") as handle:
            handle.write(certs.key_to_pem(server_key))
        self.ca_pem = certs.cert_to_pem(self.ca)

    def client_context(self, server_name=None, signer=None, ca_pem=None):
        signer = signer or self.signer
        leaf, key = certs.make_leaf(signer, Command("unikernel_info"), ".")
        return transport.make_context(ca_pem or self.ca_pem, certs.cert_to_pem(leaf) + signer.chain_pem, certs.key_to_pem(key), server_name)


class TinyServer(threading.Thread):
    """Accepts one TLS client, sends ``reply`` chunks, then closes."""

    def __init__(self, pki: Pki, client_ca_pem: bytes, reply: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        self.context.load_verify_locations(cadata=client_ca_pem.decode())
        self.context.load_cert_chain(*pki.server_files)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(5)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.reply = reply
        self.peer_cn = None
        self.error = None
        self.start()

    def run(self) -> None:
        try:
            raw, _addr = self.listener.accept()
            raw.settimeout(5)
            with self.context.wrap_socket(raw, server_side=True) as tls:
                self.peer_cn = dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]
                tls.sendall(self.reply)
        except (OSError, ssl.SSLError) as exc:
            self.error = exc
        finally:
            self.listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


def test_tls_roundtrip(pki):
    server = TinyServer(pki, pki.ca_pem, reply=frame(b"payload"))
    with transport.connect(server.address, pki.client_context(), timeout=5) as conn:
        assert conn.read_frame() == b"payload"
        assert conn.read_frame() is None
    server.join(5)
    assert server.error is None and server.peer_cn == "."


def test_tls_server_name_checked_only_when_given(pki):
    server = TinyServer(pki, pki.ca_pem, reply=frame(b"ok"))
    with transport.connect(server.address, pki.client_context("server"), timeout=5, server_name="server") as conn:
        assert conn.read_frame() == b"ok"
    server.join(5)
    server = TinyServer(pki, pki.ca_pem)
    with pytest.raises(AuthenticationError, match="failed verification"):
        transport.connect(server.address, pki.client_context("alb1.example"), timeout=5, server_name="alb1.example")
    server.join(5)


def test_tls_unknown_server_ca(pki, tmp_path):
    other_ca, _key = certs.make_root_ca("other")
    server = TinyServer(pki, pki.ca_pem)
    context = pki.client_context(ca_pem=certs.cert_to_pem(other_ca))
    with pytest.raises(AuthenticationError, match="failed verification against server_ca"):
        transport.connect(server.address, context, timeout=5)
    server.join(5)


def test_tls_client_rejected_by_server(pki):
    other_ca, other_key = certs.make_root_ca("intruder")
    server = TinyServer(pki, pki.ca_pem)
    context = pki.client_context(signer=certs.Signer.from_objects(other_ca, other_key))
    with pytest.raises(AuthenticationError) as info:
        with transport.connect(server.address, context, timeout=5) as conn:
            conn.reply()
    assert "refused the TLS session (TLSV1_ALERT_UNKNOWN_CA)" in str(info.value)
    server.join(5)


def test_context_settings_and_private_files(pki, monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp
    real_write = transport._write_private
    modes = []

    def spy_mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    def spy_write(directory, name, data):
        path = real_write(directory, name, data)
        modes.append((stat.S_IMODE(os.stat(directory).st_mode), stat.S_IMODE(os.stat(path).st_mode)))
        return path

    monkeypatch.setattr(transport.tempfile, "mkdtemp", spy_mkdtemp)
    monkeypatch.setattr(transport, "_write_private", spy_write)
    context = pki.client_context()
    assert made and not os.path.exists(made[0])
    assert modes == [(0o700, 0o600), (0o700, 0o600)]
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3 == context.maximum_version
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is False
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT
    assert len(context.get_ca_certs()) == 1
    assert pki.client_context("server").check_hostname is True


def test_context_bad_inputs(pki):
    with pytest.raises(CertificateError, match="server_ca"):
        transport.make_context(b"not a pem", b"", b"")
    with pytest.raises(CertificateError, match="client certificate chain"):
        transport.make_context(pki.ca_pem, b"garbage", b"garbage")


def test_ipv6_address_with_brackets():
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    listener.listen(1)
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        with pytest.raises(AlbatrossTimeout):
            transport.connect("[::1]:%d" % listener.getsockname()[1], context, timeout=0.2)
    finally:
        listener.close()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 4096, 70000])
def test_block_chunk_fast_path_matches_the_codec(size):
    data = os.urandom(size)
    for name in (":", ":storage", "a:b:" + "x" * 60):
        wire = Wire(Header(name=name, sequence=7), Data("block", data))
        assert chunks.block_chunk(messages.encode_wire(wire)) == data


@pytest.mark.parametrize("payload", [Data("block", None), Failure("dump block: not found"), Success("string", "x")])
def test_block_chunk_leaves_other_messages_to_the_codec(payload):
    assert chunks.block_chunk(messages.encode_wire(Wire(Header(name=":v"), payload))) is None


def test_block_chunk_on_real_dump_and_junk():
    with open(golden.path("replies", "block_dump_storage.reply.hex")) as handle:
        frames = [bytes.fromhex(line.strip()) for line in handle if line.strip()]
    for frame in frames:
        decoded = messages.decode_wire(frame).payload
        expected = decoded.value if isinstance(decoded, Data) and decoded.value is not None else None
        assert chunks.block_chunk(frame) == expected
    good = messages.encode_wire(Wire(Header(name=":v"), Data("block", b"abc")))
    for junk in (b"", b"\x30", good[:-1], good + b"\x00", b"\x30\x81\x05" + good[2:], good.replace(b"\x02\x01\x05", b"\x02\x01\x04", 1)):
        assert chunks.block_chunk(junk) is None


def test_block_dump_reader(pair):
    conn, peer = pair
    conn.max_frame = 1 << 20
    body = b"block data " * 3000
    packed = zlib.compress(body, 6)
    for start in range(0, len(packed), 1000):
        peer.sendall(frame(messages.encode_wire(Wire(Header(name=":v"), Data("block", packed[start:start + 1000])))))
    peer.sendall(frame(messages.encode_wire(Wire(Header(name=":v"), Data("block", None)))))
    out = io.BytesIO()
    assert conn.read_block_dump(out, compressed=True) == len(body)
    assert out.getvalue() == body


def test_block_dump_reader_raises_first_failure(pair):
    conn, peer = pair
    for text in ("dump block: not found", "exception while reading from fd"):
        peer.sendall(frame(messages.encode_wire(Wire(Header(name=":v"), Failure(text)))))
    with pytest.raises(CommandFailed, match="dump block: not found"):
        conn.read_block_dump(io.BytesIO(), compressed=False)


def test_block_dump_reader_needs_the_end_marker(pair):
    conn, peer = pair
    peer.sendall(frame(messages.encode_wire(Wire(Header(name=":v"), Data("block", b"x")))))
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(AlbatrossConnectionError, match="before its end marker"):
        conn.read_block_dump(io.BytesIO(), compressed=False)
