# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""X.509 certificates of albatross (PRIVATE to the collection).

Albatross carries the command in a short-lived leaf certificate and resource policies
in intermediate CA certificates, both in a private extension. This module builds the
leaf, delegation (policy) CA, root CA and server certificates with the profiles the
real ``albatross-client`` produces, and loads the operator's signing credentials.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import messages, names
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossError,
    CertificateError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Command, Policy

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:  # pragma: no cover - exercised by ansible-test import sanity
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR: Optional[ImportError] = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

KEY_TYPES = ("ed25519", "p256", "p384", "p521", "rsa2048", "rsa4096")

#: OID of the albatross certificate extension (never critical).
ALBATROSS_OID = "1.3.6.1.4.1.49836.42"

#: Leaf certificates are valid from 10 s before to 300 s after their creation.
LEAF_BACKDATE = datetime.timedelta(seconds=10)
LEAF_LIFETIME = datetime.timedelta(seconds=300)


def _require_cryptography() -> None:
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise AlbatrossError("the Python library 'cryptography' is required: %s" % CRYPTOGRAPHY_IMPORT_ERROR)


def generate_key(key_type: str = "ed25519") -> Any:
    """A fresh private key of one of ``KEY_TYPES``."""
    _require_cryptography()
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}
    if key_type in curves:
        return ec.generate_private_key(curves[key_type]())
    sizes = {"rsa2048": 2048, "rsa4096": 4096}
    if key_type in sizes:
        return rsa.generate_private_key(public_exponent=65537, key_size=sizes[key_type])
    raise ValidationError("unknown key type %r (expected one of %s)" % (key_type, ", ".join(KEY_TYPES)))


def _hash_for(key: Any) -> Any:
    # EdDSA signs the message itself; everything else uses SHA-256 like albatross-client.
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def _serial() -> int:
    # Ten random bytes, as albatross-client uses; zero is not a valid serial.
    while True:
        value = int.from_bytes(os.urandom(10), "big")
        if value:
            return value


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _name(cn: str) -> Any:
    try:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    except ValueError as exc:
        raise ValidationError("invalid common name %r: %s" % (cn, exc)) from exc


def _albatross_extension(command: Command) -> Any:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(ALBATROSS_OID), messages.encode_cert_extension(command))


def _authority_key_id(issuer_cert: Any, issuer_key: Any) -> Any:
    # ocaml-x509 insists that AKI.keyid equals the issuer's SKI when both exist.
    if issuer_cert is not None:
        try:
            ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            ski = None
        if ski is not None:
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def _ca_key_usage() -> Any:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )


def _end_entity_key_usage() -> Any:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )


def _builder(subject_cn: str, issuer: Any, public_key: Any, not_before: datetime.datetime,
             not_after: datetime.datetime) -> Any:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _sign(builder: Any, key: Any) -> Any:
    try:
        return builder.sign(key, _hash_for(key))
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError("cannot sign with this key: %s" % exc) from exc


def _validity(days: int) -> Tuple[datetime.datetime, datetime.datetime]:
    if days < 1:
        raise ValidationError("validity must be at least one day, got %d" % days)
    now = _now()
    return now - LEAF_BACKDATE, now + datetime.timedelta(days=days)


def key_matches(cert: Any, key: Any) -> bool:
    """Whether ``key`` is the private key of ``cert``."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key().public_bytes(serialization.Encoding.DER, fmt)
    return mine == cert.public_key().public_bytes(serialization.Encoding.DER, fmt)


def read_extension(cert: Any) -> Optional[Command]:
    """The command in the albatross extension of ``cert``, None without one."""
    _require_cryptography()
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(ALBATROSS_OID))
    except x509.ExtensionNotFound:
        return None
    return messages.decode_cert_extension(ext.value.value)


def read_policy(cert: Any) -> Optional[Policy]:
    """The policy a delegation CA carries (``policy add`` extension), else None."""
    command = read_extension(cert)
    if command is not None and command.kind == "policy_add":
        return command.arg
    return None


def common_name(cert: Any) -> Optional[str]:
    """The subject CN of ``cert`` (None when absent)."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def is_self_signed(cert: Any) -> bool:
    return cert.subject == cert.issuer


# ---------------------------------------------------------------------------------
# PEM helpers


def cert_to_pem(cert: Any) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key: Any, passphrase: Optional[bytes] = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted when a passphrase is given."""
    _require_cryptography()
    if passphrase:
        encryption = serialization.BestAvailableEncryption(passphrase)
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_certificates(pem: bytes) -> List[Any]:
    """Every certificate of a PEM bundle, in file order."""
    _require_cryptography()
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError("cannot read certificate PEM: %s" % exc) from exc
    if not certs:
        raise CertificateError("no certificate found in PEM data")
    return list(certs)


def load_private_key(pem: bytes, passphrase: Optional[bytes] = None) -> Any:
    """A private key from PEM; the passphrase is ignored for unencrypted keys."""
    _require_cryptography()
    try:
        return serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError as exc:
        if passphrase:
            # "Password was given but private key is not encrypted": use it as it is.
            try:
                return serialization.load_pem_private_key(pem, password=None)
            except (TypeError, ValueError, UnsupportedAlgorithm):
                pass
            raise CertificateError("cannot read private key: %s" % exc) from exc
        raise CertificateError("the private key is encrypted: a passphrase is needed") from exc
    except ValueError as exc:
        if passphrase:
            raise CertificateError("cannot read private key (wrong passphrase or not a PEM private key)") from exc
        raise CertificateError("cannot read private key: not a PEM private key") from exc
    except UnsupportedAlgorithm as exc:
        raise CertificateError("unsupported private key type: %s" % exc) from exc


def _when(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _not_before(cert: Any) -> datetime.datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def _not_after(cert: Any) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _ordinal(index: int) -> str:
    return {0: "the first", 1: "the second", 2: "the third"}.get(index, "certificate number %d" % (index + 1))


def signing_problem(chain: Sequence[Any], key: Any, now: Optional[datetime.datetime] = None) -> Optional[str]:
    """Why ``chain`` (the signing certificate, then its issuers) and ``key`` cannot sign commands now, or None.

    Albatross checks the same when a command arrives, but then only closes the session, so
    an expired delegation looks like any other rejection. The text names the certificate and
    its dates; ``now`` defaults to the current time.
    """
    _require_cryptography()
    now = now or _now()
    cert = chain[0]
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    for index, item in enumerate(chain):
        which = "the certificate %s" % subject if index == 0 else "%s certificate of its chain (%s)" % (
            _ordinal(index), item.subject.rfc4514_string())
        start, end = _not_before(item), _not_after(item)
        if now > end:
            return "%s expired on %s (valid from %s to %s); renew it or use a valid one" % (which, _when(end), _when(start), _when(end))
        if now < start:
            return ("%s is not yet valid: valid from %s to %s, and it is %s now; wait, or check the clock of the controller"
                    % (which, _when(start), _when(end), _when(now)))
    if not key_matches(cert, key):
        return "client_key does not match the certificate %s; give the private key of the first certificate of client_cert" % subject
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        return ("%s is not a CA (basicConstraints CA:TRUE is missing), so it cannot sign the per-command certificates; "
                "give the root CA or a delegation CA" % subject)
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        return "the key usage of %s does not allow signing certificates (keyCertSign); give the root CA or a delegation CA" % subject
    return None


# ---------------------------------------------------------------------------------
# Signing credentials


@dataclass(frozen=True)
class Signer:
    """A CA certificate and key that sign per-command certificates.

    ``chain`` holds the certificates that follow ``cert`` in the PEM (its issuers,
    maybe up to the root); they are sent along with every leaf. ``path`` is the
    albatross path of the chain: the CNs of the CAs carrying ``policy add``,
    top-down. ``policy`` is the policy of ``cert`` itself, if it carries one.
    """

    cert: Any
    key: Any = field(repr=False)
    chain: Tuple[Any, ...] = ()
    path: Tuple[str, ...] = ()
    policy: Optional[Policy] = None

    @classmethod
    def load(cls, cert_pem: bytes, key_pem: bytes, passphrase: Optional[bytes] = None) -> "Signer":
        certs = load_certificates(cert_pem)
        key = load_private_key(key_pem, passphrase)
        return cls.from_objects(certs[0], key, certs[1:])

    @classmethod
    def from_objects(cls, cert: Any, key: Any, chain: Sequence[Any] = ()) -> "Signer":
        _require_cryptography()
        if not key_matches(cert, key):
            raise CertificateError(
                "the client key does not match the client certificate (subject %s): "
                "client_key must be the private key of the first certificate in client_cert" % cert.subject.rfc4514_string()
            )
        all_certs = [cert] + list(chain)
        path: List[str] = []
        for ca in reversed(all_certs):
            try:
                policy = read_policy(ca)
            except AlbatrossError as exc:
                raise CertificateError("cannot read the albatross extension of %s: %s" % (ca.subject.rfc4514_string(), exc)) from exc
            if policy is None:
                continue
            cn = common_name(ca)
            if not cn:
                raise CertificateError("policy certificate %s has no common name" % ca.subject.rfc4514_string())
            try:
                path.append(names.validate_label(cn))
            except ValidationError as exc:
                raise CertificateError("policy certificate CN %r is not a valid albatross label: %s" % (cn, exc)) from exc
        return cls(cert=cert, key=key, chain=tuple(chain), path=tuple(path), policy=read_policy(cert))

    @property
    def chain_pem(self) -> bytes:
        """The signing certificate followed by its chain, as sent after a leaf."""
        return b"".join(cert_to_pem(c) for c in (self.cert,) + self.chain)


# ---------------------------------------------------------------------------------
# Certificate profiles


def make_leaf(signer: Signer, command: Command, cn: str, key_type: str = "ed25519") -> Tuple[Any, Any]:
    """A per-command client certificate carrying ``command`` (profile of albatross-client)."""
    _require_cryptography()
    key = generate_key(key_type)
    now = _now()
    builder = (
        _builder(cn, signer.cert.subject, key.public_key(), now - LEAF_BACKDATE, now + LEAF_LIFETIME)
        .add_extension(_albatross_extension(command), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_end_entity_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_authority_key_id(signer.cert, signer.key), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
    )
    return _sign(builder, signer.key), key


def make_delegation(signer: Signer, cn: str, policy: Policy, days: int = 365, key: Any = None) -> Tuple[Any, Any]:
    """An intermediate CA for path label ``cn`` carrying ``policy add policy``."""
    _require_cryptography()
    label = names.validate_label(cn)
    if key is None:
        key = generate_key("ed25519")
    not_before, not_after = _validity(days)
    builder = (
        _builder(label, signer.cert.subject, key.public_key(), not_before, not_after)
        .add_extension(_albatross_extension(Command("policy_add", policy.normalized())), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(signer.cert, signer.key), critical=False)
    )
    return _sign(builder, signer.key), key


def make_root_ca(cn: str, key: Any = None, days: int = 3650) -> Tuple[Any, Any]:
    """A self-signed root CA (the trust anchor of albatross-tls-endpoint).

    Unlike ``albatross-client generate`` it carries a subject key identifier, which
    strict X.509 verifiers (OpenSSL's X509_STRICT) expect on CAs.
    """
    _require_cryptography()
    if not cn:
        raise ValidationError("the CA common name must not be empty")
    if key is None:
        key = generate_key("ed25519")
    not_before, not_after = _validity(days)
    builder = (
        _builder(cn, _name(cn), key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _sign(builder, key), key


def make_server_cert(ca_cert: Any, ca_key: Any, cn: str = "server", days: int = 365, key: Any = None,
                     alt_names: Sequence[str] = ()) -> Tuple[Any, Any]:
    """The TLS server certificate of albatross-tls-endpoint, issued by ``ca_cert``.

    ``alt_names`` (DNS names or IP addresses) are optional; albatross' own server
    certificates carry none, and its clients do not check the name.
    """
    _require_cryptography()
    if not cn:
        raise ValidationError("the server common name must not be empty")
    if key is None:
        key = generate_key("ed25519")
    not_before, not_after = _validity(days)
    builder = (
        _builder(cn, ca_cert.subject, key.public_key(), not_before, not_after)
        .add_extension(_end_entity_key_usage(), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(ca_cert, ca_key), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in alt_names]), critical=False)
    return _sign(builder, ca_key), key


def _general_name(value: str) -> Any:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)
