# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bare albatross TLS client for server tests: hand-built certificates, raw ssl, raw frames.

Independent of the collection's client so that server tests can also build chains the
client would never produce (expired, too long, missing extension, bad names).
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import messages
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Command, Policy

OID = x509.ObjectIdentifier("1.3.6.1.4.1.49836.42")
UTC = datetime.timezone.utc


def new_key(kind: str = "ed25519"):
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    raise ValueError(kind)


def _hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _subject(cn: Optional[str]) -> x509.Name:
    # no length check: tests need the empty and over-long names albatross must refuse
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)] if cn is not None else [])


def _usage(**flags) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def sub_ca(issuer: x509.Certificate, issuer_key, cn: Optional[str], policy: Optional[Policy] = None,
           extension: Optional[bytes] = None, key=None, days: float = 365, valid_from: Optional[datetime.datetime] = None):
    """Policy CA as ``albatross-client sign`` makes it (extension ``policy add`` unless given raw)."""
    key = key or new_key()
    now = valid_from or datetime.datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_subject(cn)).issuer_name(issuer.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(seconds=10)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(_usage(digital_signature=True, content_commitment=True, key_cert_sign=True, crl_sign=True),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier(
                   key_identifier=x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key()).digest,
                   authority_cert_issuer=None, authority_cert_serial_number=None), critical=False))
    if extension is None and policy is not None:
        extension = messages.encode_cert_extension(Command("policy_add", policy))
    if extension is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(OID, extension), critical=False)
    return builder.sign(issuer_key, _hash(issuer_key)), key


def leaf(issuer: x509.Certificate, issuer_key, cn: Optional[str], command: Optional[Command] = None,
         extension: Optional[bytes] = None, key=None, not_before: Optional[datetime.datetime] = None,
         not_after: Optional[datetime.datetime] = None, ca: bool = False, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)):
    """Command certificate of §2.2 (extension from ``command`` unless ``extension`` is given raw)."""
    key = key or new_key()
    now = datetime.datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_subject(cn)).issuer_name(issuer.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - datetime.timedelta(seconds=10))
               .not_valid_after(not_after or now + datetime.timedelta(seconds=300))
               .add_extension(_usage(digital_signature=True, key_encipherment=True), critical=True)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier(
                   key_identifier=x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key()).digest,
                   authority_cert_issuer=None, authority_cert_serial_number=None), critical=False))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=True)
    if extension is None and command is not None:
        extension = messages.encode_cert_extension(command)
    if extension is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(OID, extension), critical=False)
    return builder.sign(issuer_key, _hash(issuer_key)), key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def load(cert_path: str, key_path: str):
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    return cert, key


@dataclass
class Result:
    """Decoded reply messages and how the session ended."""

    wires: list = field(default_factory=list)
    eof: bool = False          # clean close after the messages
    tls_error: Optional[str] = None
    timed_out: bool = False
    raw: List[bytes] = field(default_factory=list)

    @property
    def payloads(self) -> list:
        return [w.payload for w in self.wires]


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def connect(address: Tuple[str, int], ca_file: str, chain: Sequence[x509.Certificate], key,
            timeout: float = 10.0) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=ca_file)
    tmp = tempfile.mkdtemp()
    try:
        cert_path = os.path.join(tmp, "chain.pem")
        key_path = os.path.join(tmp, "key.pem")
        for path, data in ((cert_path, b"".join(pem(c) for c in chain)), (key_path, key_pem(key))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        ctx.load_cert_chain(cert_path, key_path)
    finally:
        shutil.rmtree(tmp)
    sock = socket.create_connection(address, timeout=timeout)
    return ctx.wrap_socket(sock)


def _recv_exact(sock: ssl.SSLSocket, n: int) -> Optional[bytes]:
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            return None if not buf else buf
        buf += part
    return buf


def read_messages(sock: ssl.SSLSocket, result: Result, limit: Optional[int] = None,
                  deadline: Optional[float] = None) -> None:
    """Read reply frames until EOF, ``limit`` messages, or the monotonic ``deadline`` (then timed_out)."""
    while limit is None or len(result.wires) < limit:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                result.timed_out = True
                return
            sock.settimeout(left)
        head = _recv_exact(sock, 4)
        if head is None:
            result.eof = True
            return
        body = _recv_exact(sock, int.from_bytes(head, "big"))
        result.raw.append(body)
        result.wires.append(messages.decode_wire(body))


def call(address: Tuple[str, int], ca_file: str, chain: Sequence[x509.Certificate], key,
         upload: Optional[Iterable[bytes]] = None, limit: Optional[int] = None, timeout: float = 10.0,
         duration: Optional[float] = None) -> Result:
    """One session: handshake, optional upload chunks (a zero chunk is appended), read replies.

    ``duration`` bounds the whole read (for endless console/stats streams).
    """
    result = Result()
    try:
        with connect(address, ca_file, chain, key, timeout) as sock:
            if upload is not None:
                for chunk in upload:
                    sock.sendall(frame(chunk))
                sock.sendall(b"\x00\x00\x00\x00")
            read_messages(sock, result, limit, time.monotonic() + duration if duration is not None else None)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        result.tls_error = str(exc)
    except (socket.timeout, TimeoutError):
        result.timed_out = True
    return result
