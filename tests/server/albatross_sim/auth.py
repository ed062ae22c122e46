# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client chain checks of the albatross TLS endpoint (ocaml-x509 profile, then Vmm_tls.handle).

OpenSSL has already verified signatures and the path to the single trust anchor during the
handshake; this module adds the rules OpenSSL does not know and derives name, policies and
command exactly as ``tls/vmm_tls.ml`` does. Any failure raises :class:`Rejected`; the endpoint
then closes the session without a reply.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from . import names

ALBATROSS_OID = x509.ObjectIdentifier("1.3.6.1.4.1.49836.42")
ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
ANY_POLICY = x509.ObjectIdentifier("2.5.29.32.0")
MAX_CHAIN = 10
SHA2 = (hashes.SHA256, hashes.SHA384, hashes.SHA512)

# Leaf commands the endpoint forwards (Vmm_tls.handle); everything else is "unexpected command".
ALLOWED_PREFIXES = ("unikernel_", "block_")
ALLOWED_KINDS = ("console_subscribe", "console_list_inactive", "stats_subscribe", "policy_info")
EMPTY_NAME_REFUSED = {
    "policy_add": "policy add may not have an empty name",
    "policy_remove": "policy remove may not have an empty name",
    "block_add": "block add may not have an empty name",
    "block_add_old": "old block add may not have an empty name",
    "block_remove": "block remove may not have an empty name",
    "block_set": "block set may not have an empty name",
    "block_set_old": "old block set may not have an empty name",
    "block_dump": "block dump may not have an empty name",
    "block_dump_old": "block dump may not have an empty name",
}


class Rejected(Exception):
    """The endpoint refuses the chain or the command; message for the server log only."""


@dataclass(frozen=True)
class Authorized:
    name: names.Name
    policies: Tuple[Tuple[names.Path, Any], ...]
    command: Any


Decoder = Callable[[bytes], object]


def _ext_value(cert: x509.Certificate, oid) -> Optional[object]:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _common_name(cert: x509.Certificate) -> Optional[str]:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _valid_time(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_before_utc < now < cert.not_valid_after_utc


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _check_leaf(cert: x509.Certificate, now: datetime.datetime) -> None:
    if not _valid_time(cert, now):
        raise Rejected("leaf certificate expired or not yet valid")
    for ext in cert.extensions:
        oid = ext.oid
        if oid == ExtensionOID.BASIC_CONSTRAINTS:
            if ext.value.ca and not _self_signed(cert):
                raise Rejected("leaf certificate is a CA")
        elif oid in (ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME):
            continue
        elif oid == ExtensionOID.CERTIFICATE_POLICIES:
            if ext.critical and not any(p.policy_identifier == ANY_POLICY for p in ext.value):
                raise Rejected("leaf certificate policies critical without anyPolicy")
        elif oid == ExtensionOID.NAME_CONSTRAINTS or ext.critical:
            raise Rejected("leaf certificate has invalid extensions")
    usage = _ext_value(cert, ExtensionOID.KEY_USAGE)
    if usage is not None and not usage.value.digital_signature:
        raise Rejected("leaf key usage lacks digitalSignature")
    eku = _ext_value(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is not None and not (ExtendedKeyUsageOID.CLIENT_AUTH in eku.value or ANY_EKU in eku.value):
        raise Rejected("leaf extended key usage lacks clientAuth")


def _check_ca(cert: x509.Certificate, now: datetime.datetime) -> None:
    if not _valid_time(cert, now):
        raise Rejected("intermediate certificate expired or not yet valid")
    bc = _ext_value(cert, ExtensionOID.BASIC_CONSTRAINTS)
    if bc is None or not bc.value.ca:
        raise Rejected("intermediate certificate is not a CA")
    usage = _ext_value(cert, ExtensionOID.KEY_USAGE)
    if usage is None or not usage.value.key_cert_sign:
        raise Rejected("intermediate certificate lacks keyCertSign")
    eku = _ext_value(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is not None and not (ExtendedKeyUsageOID.SERVER_AUTH in eku.value or ANY_EKU in eku.value):
        raise Rejected("intermediate extended key usage lacks serverAuth/any")
    allowed = (ExtensionOID.KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.NAME_CONSTRAINTS)
    if any(ext.critical and ext.oid not in allowed for ext in cert.extensions):
        raise Rejected("intermediate certificate has invalid critical extensions")


def _check_link(child: x509.Certificate, issuer: x509.Certificate) -> None:
    algo = child.signature_hash_algorithm
    if algo is not None and not isinstance(algo, SHA2):
        raise Rejected("signature hash not SHA-2")
    aki = _ext_value(child, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    ski = _ext_value(issuer, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    if aki is not None and ski is not None and aki.value.key_identifier is not None:
        if aki.value.key_identifier != ski.value.digest:
            raise Rejected("authority key id does not match subject key id")


def validated_path(verified: Sequence[bytes], presented: Sequence[bytes]) -> List[x509.Certificate]:
    """The chain as ocaml-tls reports it: leaf up to the last certificate the client sent.

    OpenSSL's verified chain always ends with the trust anchor; ocaml-x509 counts the anchor
    only when the client sent it.
    """
    if not verified:
        raise Rejected("no client certificate")
    ders = list(verified)
    if len(ders) > 1 and ders[-1] not in set(presented):
        ders = ders[:-1]
    return [x509.load_der_x509_certificate(d) for d in ders]


def check_profile(path: List[x509.Certificate], anchor: x509.Certificate, presented: Sequence[bytes],
                  now: Optional[datetime.datetime] = None) -> None:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    _check_leaf(path[0], now)
    for cert in path[1:]:
        _check_ca(cert, now)
    for child, issuer in zip(path, path[1:] + [anchor]):
        _check_link(child, issuer)
    for der in presented:
        key = x509.load_der_x509_certificate(der).public_key()
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 1024:
            raise Rejected("key too small")


def _command(cert: x509.Certificate, decode: Decoder) -> Optional[object]:
    ext = _ext_value(cert, ALBATROSS_OID)
    if ext is None:
        return None
    try:
        return decode(ext.value.value)
    except Exception as exc:  # the codec raises ProtocolError; anything else is hostile input too
        raise Rejected("couldn't parse albatross extension: %s" % exc) from None


def _cert_name(cert: x509.Certificate, decode: Decoder) -> Optional[str]:
    """Vmm_tls.cert_name: the CN, or None when the command may address a path."""
    if _ext_value(cert, ALBATROSS_OID) is None:
        return None
    cn = _common_name(cert)
    if cn is not None:
        return cn
    command = _command(cert, decode)
    kind = getattr(command, "kind", "")
    if kind in EMPTY_NAME_REFUSED:
        raise Rejected(EMPTY_NAME_REFUSED[kind])
    return None


def handle(path: List[x509.Certificate], decode: Decoder) -> Authorized:
    """Vmm_tls.handle over the validated path (leaf first)."""
    if len(path) >= MAX_CHAIN:
        raise Rejected("certificate chain too long")
    leaf, rest = path[0], list(reversed(path[1:]))
    prefix: names.Path = ()
    policies = []
    for cert in rest:
        command = _command(cert, decode)
        if command is None:
            continue
        if getattr(command, "kind", None) != "policy_add":
            raise Rejected("unexpected wire %s" % getattr(command, "kind", command))
        cn = _cert_name(cert, decode)
        if cn is not None:
            try:
                prefix = prefix + (names.label(cn),)
            except names.NameError_ as exc:
                raise Rejected(str(exc)) from None
        policies.append((prefix, command.arg))
    cn = _cert_name(leaf, decode)
    if cn is None or cn in (".", ":"):
        name: names.Name = (prefix, None)
    else:
        try:
            name = (prefix, names.label(cn))
        except names.NameError_ as exc:
            raise Rejected(str(exc)) from None
    command = _command(leaf, decode)
    if command is None:
        raise Rejected("leaf certificate does not contain an albatross extension")
    kind = getattr(command, "kind", "")
    if not (kind in ALLOWED_KINDS or kind.startswith(ALLOWED_PREFIXES)):
        raise Rejected("unexpected command")
    return Authorized(name, tuple(policies), command)


def authorize(verified: Sequence[bytes], presented: Sequence[bytes], anchor: x509.Certificate,
              decode: Decoder, now: Optional[datetime.datetime] = None) -> Authorized:
    path = validated_path(verified, presented)
    check_profile(path, anchor, presented, now)
    return handle(path, decode)
