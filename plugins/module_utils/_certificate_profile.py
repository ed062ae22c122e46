# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and checking albatross certificates for the certificate module (PRIVATE to the collection).

The profiles are those of albatross-client (protocol spec §2.3, §2.4): a self-signed
root CA, a server certificate (serverAuth), and a delegation CA carrying a
``policy add`` extension. Building the certificates is left to ``_albatross.certs``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossError, CertificateError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError as exc:
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR: Optional[ImportError] = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

KEY_TYPES = certs.KEY_TYPES
_CURVES = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}


@dataclass
class Issuer:
    """The signing CA: first certificate of issuer_cert, its key, and the whole file as chain."""

    cert: Any
    key: Any
    chain: list
    signer: Any
    self_signed: bool
    subject: str
    policy: Optional[Policy]


def rfc3339(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_certificates(pem: bytes) -> list:
    try:
        return certs.load_certificates(pem)
    except CertificateError:
        return []


def load_private_key(pem: bytes):
    """The key, or None when ``pem`` is not an unencrypted PEM private key."""
    try:
        return certs.load_private_key(pem)
    except CertificateError:
        return None


def key_type_of(key) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVES.get(key.curve.name, key.curve.name)
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa%d" % key.key_size
    return type(key).__name__


def _issued_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extension(cert, oid_class):
    try:
        return cert.extensions.get_extension_for_class(oid_class)
    except x509.ExtensionNotFound:
        return None


def load_issuer(cert_path: str, key_path: str, passphrase: Optional[str], error_cls) -> Issuer:
    try:
        with open(cert_path, "rb") as handle:
            cert_pem = handle.read()
        with open(key_path, "rb") as handle:
            key_pem = handle.read()
    except OSError as exc:
        raise error_cls("cannot read issuer file %s: %s" % (exc.filename, exc.strerror or exc)) from exc
    try:
        signer = certs.Signer.load(cert_pem, key_pem, passphrase.encode("utf-8") if passphrase is not None else None)
    except AlbatrossError as exc:
        raise error_cls("cannot use issuer_cert %s with issuer_key %s: %s" % (cert_path, key_path, exc)) from exc
    cert = signer.cert
    basic = _extension(cert, x509.BasicConstraints)
    if basic is None or not basic.value.ca:
        raise error_cls("issuer_cert %s is not a CA certificate; sign with the root CA or a delegation" % cert_path)
    return Issuer(
        cert=cert,
        key=signer.key,
        chain=[cert] + list(signer.chain),
        signer=signer,
        self_signed=certs.is_self_signed(cert) and _issued_by(cert, cert),
        subject=cert.subject.rfc4514_string(),
        policy=signer.policy,
    )


def _policy_of(cert) -> tuple[Optional[Policy], Optional[str]]:
    """(policy, problem) of the albatross extension of ``cert``."""
    try:
        command = certs.read_extension(cert)
    except AlbatrossError as exc:
        return None, "its albatross extension cannot be decoded (%s)" % exc
    if command is None:
        return None, None
    if command.kind != "policy_add":
        return None, "its albatross extension carries %s, not a policy" % command.kind
    return command.arg.normalized(), None


def _profile_flags(cert) -> tuple[bool, bool, bool, bool]:
    """(is CA, can sign certificates, digitalSignature, serverAuth)."""
    basic = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    is_ca = basic is not None and basic.value.ca
    cert_sign = usage is not None and usage.value.key_cert_sign
    digital = usage is None or usage.value.digital_signature
    server_auth = eku is not None and ExtendedKeyUsageOID.SERVER_AUTH in eku.value
    return is_ca, cert_sign, digital, server_auth


def profile_problems(kind: str, cert, key, common_name: Optional[str], policy: Optional[Policy], issuer: Optional[Issuer], now) -> list[str]:
    """Why ``cert`` (with ``key``) is not what the options ask for; empty when it is."""
    problems = []
    if cert.not_valid_after_utc <= now:
        problems.append("it expired on %s" % rfc3339(cert.not_valid_after_utc))
    if key is not None and not certs.key_matches(cert, key):
        problems.append("it does not match the key in key_path")
    have_cn = certs.common_name(cert)
    if common_name is not None and have_cn != common_name:
        problems.append("its common name is %r, not %r" % (have_cn, common_name))
    is_ca, cert_sign, digital, server_auth = _profile_flags(cert)
    have_policy, policy_problem = _policy_of(cert)
    if policy_problem:
        problems.append(policy_problem)
    if kind == "root_ca":
        if not (cert.subject == cert.issuer and _issued_by(cert, cert)):
            problems.append("it is not self-signed")
    elif not _issued_by(cert, issuer.cert):
        problems.append("it was not signed by issuer_cert (%s)" % issuer.subject)
    if kind == "server":
        if is_ca or not server_auth or not digital:
            problems.append("it does not have the server profile (no CA, serverAuth, digitalSignature)")
    elif not (is_ca and cert_sign):
        problems.append("it is not a CA certificate that may sign certificates")
    if kind == "delegation" and not policy_problem and have_policy != policy:
        problems.append("its policy is %s, not %s" % (_policy_text(have_policy), _policy_text(policy)))
    if kind != "delegation" and have_policy is not None:
        problems.append("it carries a policy, which a %s certificate must not" % kind)
    return problems


def _policy_text(policy: Optional[Policy]) -> str:
    if policy is None:
        return "none"
    return "unikernels=%d memory=%d block=%s cpuids=%s bridges=%s" % (
        policy.unikernels, policy.memory, policy.block, list(policy.cpuids), list(policy.bridges))


def describe(cert, key) -> dict:
    """The certificate as the module returns it (and shows in diffs)."""
    policy, dummy = _policy_of(cert)
    return dict(
        common_name=certs.common_name(cert),
        issuer=cert.issuer.rfc4514_string(),
        serial="%x" % cert.serial_number,
        not_before=rfc3339(cert.not_valid_before_utc),
        not_after=rfc3339(cert.not_valid_after_utc),
        policy=None if policy is None else policy_dict(policy),
        key_type=key_type_of(key) if key is not None else None,
    )


def policy_dict(policy: Policy) -> dict:
    policy = policy.normalized()
    return dict(unikernels=policy.unikernels, memory=policy.memory, block=policy.block,
                cpuids=list(policy.cpuids), bridges=list(policy.bridges))


def make_key(key_type: str):
    return certs.generate_key(key_type)


def make_certificate(kind: str, key, common_name: Optional[str], policy: Optional[Policy], days: int, issuer: Optional[Issuer]):
    if kind == "root_ca":
        cert, dummy = certs.make_root_ca(common_name, key, days=days)
        return cert
    if kind == "server":
        cert, dummy = certs.make_server_cert(issuer.cert, issuer.key, cn=common_name or "server", days=days, key=key)
        return cert
    cert, dummy = certs.make_delegation(issuer.signer, common_name, policy, days=days, key=key)
    return cert


def _der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def same_certificates(have: list, want: list) -> bool:
    return [_der(c) for c in have] == [_der(c) for c in want]


def pem_of_certificates(chain: list) -> bytes:
    return b"".join(certs.cert_to_pem(c) for c in chain)


def pem_of_key(key) -> bytes:
    return certs.key_to_pem(key)
