# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Root CA and server certificate of the test server (profile of ``albatross-client generate``)."""

from __future__ import annotations

import datetime
import os
import ssl
from typing import Tuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_root(cn: str, days: int = 3650) -> Tuple[x509.Certificate, ed25519.Ed25519PrivateKey]:
    """Self-signed root: BC critical cA, KU critical, no SKI/AKI, no albatross extension."""
    key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=10))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, None)
    )
    return cert, key


def make_server(ca_cert: x509.Certificate, ca_key, cn: str = "server", days: int = 365):
    """Server certificate: KU/BC/EKU serverAuth critical, SKI and AKI, no subjectAltName."""
    key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=10))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(
            key_identifier=x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()).digest,
            authority_cert_issuer=None, authority_cert_serial_number=None), critical=False)
        .sign(ca_key, None)
    )
    return cert, key


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure_credentials(state_dir: str, ca_cn: str = "albatross-test-ca") -> Tuple[str, str, str, str]:
    """Paths of ca.pem, ca.key, server.pem, server.key in ``state_dir``, created when missing."""
    paths = tuple(os.path.join(state_dir, n) for n in ("ca.pem", "ca.key", "server.pem", "server.key"))
    ca_pem, ca_key_path, srv_pem, srv_key = paths
    if not (os.path.exists(ca_pem) and os.path.exists(ca_key_path)):
        cert, key = make_root(ca_cn)
        _write(ca_key_path, key_pem(key))
        _write(ca_pem, cert_pem(cert))
        for stale in (srv_pem, srv_key):
            if os.path.exists(stale):
                os.unlink(stale)
    if not (os.path.exists(srv_pem) and os.path.exists(srv_key)):
        with open(ca_pem, "rb") as handle:
            ca_cert = x509.load_pem_x509_certificate(handle.read())
        with open(ca_key_path, "rb") as handle:
            ca_key = serialization.load_pem_private_key(handle.read(), None)
        cert, key = make_server(ca_cert, ca_key)
        _write(srv_key, key_pem(key))
        _write(srv_pem, cert_pem(cert))
    return paths  # type: ignore[return-value]


def server_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """TLS 1.3 only, client certificate required, the single root as trust anchor."""
    with open(ca_file, "rb") as handle:
        if handle.read().count(b"-----BEGIN CERTIFICATE-----") != 1:
            raise ValueError("expect single ca as cacert")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    # albatross roots carry no SKI; the strict profile checks are done by auth.py instead
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    ctx.load_verify_locations(cafile=ca_file)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
