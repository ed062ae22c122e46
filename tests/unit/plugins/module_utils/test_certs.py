# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate profiles: leaf, delegation CA, root CA, server; Signer loading."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import CertificateError, ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    Command,
    FailBehaviour,
    NetworkInterface,
    Policy,
    SinceCount,
    UnikernelConfig,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden

VECTORS = golden.VECTORS
CERT_EXT = os.path.join(VECTORS, "cert_ext")
ALBATROSS = x509.ObjectIdentifier(certs.ALBATROSS_OID)
UTC = datetime.timezone.utc

POLICY_FOO = Policy(unikernels=5, cpuids=(0, 1), memory=512, block=1000, bridges=("service",))


def _create_config() -> UnikernelConfig:
    with open(os.path.join(VECTORS, "syn_storage_service.hvt"), "rb") as handle:
        image = handle.read()
    return UnikernelConfig(
        cpuids=(0,), memory=32, fail_behaviour=FailBehaviour(True, (1, 2)), add_name=True,
        block_devices=(BlockDevice("storage"),), network_interfaces=(NetworkInterface("service"),),
        argv=("--hello=x",), cpus=1, typ="solo5", compressed=False, image=image,
    )


# vector name -> (command, leaf CN the stock client used)
VECTOR_COMMANDS = {
    "unikernel_info_foo": (Command("unikernel_info"), "foo"),
    "unikernel_info_all": (Command("unikernel_info"), "."),
    "unikernel_create_foo": (Command("unikernel_create", _create_config()), "foo"),
    "unikernel_force_create_foo": (Command("unikernel_force_create", _create_config()), "foo"),
    "unikernel_destroy_foo": (Command("unikernel_destroy"), "foo"),
    "unikernel_restart_foo": (Command("unikernel_restart", None), "foo"),
    "unikernel_get_foo": (Command("unikernel_get", 0), "foo"),
    "block_info_storage": (Command("block_info"), "storage"),
    "block_add_storage_10": (Command("block_add", 10), "storage"),
    "block_remove_storage": (Command("block_remove"), "storage"),
    "block_dump_storage": (Command("block_dump", 0), "storage"),
    "policy_info_foo": (Command("policy_info"), "foo"),
    "policy_add_foo": (Command("policy_add", POLICY_FOO), "foo"),
    "console_subscribe_foo_count10": (Command("console_subscribe", SinceCount(count=10)), "foo"),
    "console_subscribe_foo_since": (
        Command("console_subscribe", SinceCount(since=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))), "foo"),
    "stats_subscribe_foo": (Command("stats_subscribe"), "foo"),
}


@pytest.fixture(scope="module")
def root():
    cert, key = certs.make_root_ca("ca")
    return certs.Signer.from_objects(cert, key)


def _vector(name: str) -> bytes:
    with open(os.path.join(CERT_EXT, name + ".hex")) as handle:
        return bytes.fromhex(handle.read().strip())


def _real_leaf(name: str):
    with open(os.path.join(CERT_EXT, name + ".leaf.pem"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _profile(cert):
    """What must agree between two certificates of the same kind."""
    return {
        "version": cert.version,
        "extensions": sorted((e.oid.dotted_string, e.critical) for e in cert.extensions),
        "cn": cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
        "rdns": len(cert.subject.rdns),
        "lifetime": cert.not_valid_after_utc - cert.not_valid_before_utc,
        "key_usage": cert.extensions.get_extension_for_class(x509.KeyUsage).value,
        "basic": cert.extensions.get_extension_for_class(x509.BasicConstraints).value,
        "eku": list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value),
    }


def test_every_vector_is_covered():
    names = {f[:-4] for f in os.listdir(CERT_EXT) if f.endswith(".hex")}
    assert names == set(VECTOR_COMMANDS)


@pytest.mark.parametrize("name", sorted(VECTOR_COMMANDS))
def test_leaf_extension_bytes_equal_real_client(root, name):
    command, cn = VECTOR_COMMANDS[name]
    leaf, _key = certs.make_leaf(root, command, cn)
    ext = leaf.extensions.get_extension_for_oid(ALBATROSS)
    assert ext.critical is False
    assert ext.value.value == _vector(name)
    assert certs.read_extension(leaf) == certs.read_extension(_real_leaf(name))


@pytest.mark.parametrize("name", ["unikernel_info_foo", "unikernel_info_all", "block_dump_storage", "console_subscribe_foo_since"])
def test_leaf_profile_equals_real_client(root, name):
    command, cn = VECTOR_COMMANDS[name]
    leaf, _key = certs.make_leaf(root, command, cn)
    assert _profile(leaf) == _profile(_real_leaf(name))


def test_leaf_details(root):
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    leaf, key = certs.make_leaf(root, Command("unikernel_info"), "web")
    assert leaf.issuer == root.cert.subject
    assert certs.key_matches(leaf, key)
    assert before - datetime.timedelta(seconds=11) <= leaf.not_valid_before_utc <= before - datetime.timedelta(seconds=9)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(seconds=310)
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    assert 0 < leaf.serial_number < 1 << 80
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    leaf.verify_directly_issued_by(root.cert)


def test_leaf_aki_without_issuer_ski():
    key = certs.generate_key("p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    now = datetime.datetime.now(UTC)
    bare = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, certs.hashes.SHA256())
    )
    leaf, _key = certs.make_leaf(certs.Signer.from_objects(bare, key), Command("policy_info"), ".")
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest


@pytest.mark.parametrize("key_type,cls", [
    ("ed25519", ed25519.Ed25519PrivateKey), ("p256", ec.EllipticCurvePrivateKey), ("p384", ec.EllipticCurvePrivateKey),
    ("p521", ec.EllipticCurvePrivateKey), ("rsa2048", rsa.RSAPrivateKey), ("rsa4096", rsa.RSAPrivateKey),
])
def test_key_types(root, key_type, cls):
    leaf, key = certs.make_leaf(root, Command("unikernel_info"), ".", key_type)
    assert isinstance(key, cls)
    assert certs.key_matches(leaf, key)
    leaf.verify_directly_issued_by(root.cert)


def test_unknown_key_type():
    with pytest.raises(ValidationError, match="unknown key type"):
        certs.generate_key("dsa")


@pytest.mark.parametrize("key_type", ["p384", "rsa2048"])
def test_non_eddsa_signers_use_sha256(key_type):
    cert, key = certs.make_root_ca("ca", certs.generate_key(key_type))
    signer = certs.Signer.from_objects(cert, key)
    leaf, _key = certs.make_leaf(signer, Command("unikernel_info"), ".")
    assert leaf.signature_hash_algorithm.name == "sha256"
    leaf.verify_directly_issued_by(cert)


def test_delegation_profile(root):
    ca, key = certs.make_delegation(root, "Alice", POLICY_FOO, days=30)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    crit = {e.oid: e.critical for e in ca.extensions}
    assert crit == {
        ALBATROSS: False, ExtensionOID.BASIC_CONSTRAINTS: True, ExtensionOID.KEY_USAGE: True,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER: False, ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
    }
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is True and basic.path_length is None
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and usage.digital_signature and usage.content_commitment
    assert not usage.key_encipherment
    assert ca.extensions.get_extension_for_oid(ALBATROSS).value.value == _vector("policy_add_foo")
    assert certs.read_extension(ca) == Command("policy_add", POLICY_FOO)
    assert certs.read_policy(ca) == POLICY_FOO
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == datetime.timedelta(days=30, seconds=10)
    ca.verify_directly_issued_by(root.cert)
    assert certs.key_matches(ca, key)


def test_delegation_needs_label(root):
    with pytest.raises(ValidationError, match="invalid label"):
        certs.make_delegation(root, "a:b", POLICY_FOO)
    with pytest.raises(ValidationError, match="invalid label"):
        certs.make_delegation(root, "", POLICY_FOO)


def test_root_and_server_profiles():
    ca, ca_key = certs.make_root_ca("my-ca", days=20)
    assert ca.subject == ca.issuer
    assert certs.is_self_signed(ca)
    assert {e.oid: e.critical for e in ca.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS: True, ExtensionOID.KEY_USAGE: True, ExtensionOID.SUBJECT_KEY_IDENTIFIER: False,
    }
    assert certs.read_extension(ca) is None
    ca.verify_directly_issued_by(ca)
    server, server_key = certs.make_server_cert(ca, ca_key, days=5)
    assert certs.common_name(server) == "server"
    assert {e.oid: e.critical for e in server.extensions} == {
        ExtensionOID.KEY_USAGE: True, ExtensionOID.BASIC_CONSTRAINTS: True, ExtensionOID.EXTENDED_KEY_USAGE: True,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER: False, ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
    }
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.not_valid_after_utc - server.not_valid_before_utc == datetime.timedelta(days=5, seconds=10)
    server.verify_directly_issued_by(ca)
    assert certs.key_matches(server, server_key)
    named, _key = certs.make_server_cert(ca, ca_key, cn="alb1", key=server_key, alt_names=("alb1.example", "127.0.0.1"))
    assert certs.key_matches(named, server_key)
    san = named.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["alb1.example"]
    with pytest.raises(ValidationError):
        certs.make_root_ca("ca", days=0)


def test_signer_load_chain_path_and_policy(root):
    alice, alice_key = certs.make_delegation(root, "alice", POLICY_FOO)
    alice_signer = certs.Signer.from_objects(alice, alice_key, [root.cert])
    small = Policy(unikernels=1, cpuids=(0,), memory=64)
    web, web_key = certs.make_delegation(alice_signer, "web", small)
    pem = certs.cert_to_pem(web) + certs.cert_to_pem(alice) + certs.cert_to_pem(root.cert)
    signer = certs.Signer.load(pem, certs.key_to_pem(web_key))
    assert signer.path == ("alice", "web")
    assert signer.policy == small
    assert signer.chain == (alice, root.cert)
    assert signer.chain_pem == pem
    plain = certs.Signer.load(certs.cert_to_pem(root.cert), certs.key_to_pem(root.key))
    assert plain.path == () and plain.policy is None and plain.chain == ()


def test_signer_passphrase(root):
    encrypted = certs.key_to_pem(root.key, b"secret")
    assert b"ENCRYPTED" in encrypted
    cert_pem = certs.cert_to_pem(root.cert)
    assert certs.key_matches(certs.Signer.load(cert_pem, encrypted, b"secret").cert, root.key)
    with pytest.raises(CertificateError, match="passphrase is needed"):
        certs.Signer.load(cert_pem, encrypted)
    with pytest.raises(CertificateError, match="wrong passphrase"):
        certs.Signer.load(cert_pem, encrypted, b"wrong")
    # A passphrase given for a plain key is not an error.
    assert certs.Signer.load(cert_pem, certs.key_to_pem(root.key), b"unused").path == ()


def test_signer_key_mismatch(root):
    other = certs.generate_key("ed25519")
    with pytest.raises(CertificateError, match="does not match"):
        certs.Signer.load(certs.cert_to_pem(root.cert), certs.key_to_pem(other))


def test_bad_pem():
    with pytest.raises(CertificateError, match="no certificate|cannot read"):
        certs.load_certificates(b"garbage")
    with pytest.raises(CertificateError, match="not a PEM private key"):
        certs.load_private_key(b"garbage")


def test_policy_ca_with_bad_cn_is_refused(root):
    key = certs.generate_key("ed25519")
    now = datetime.datetime.now(UTC)
    bad = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bad:Name")]))
        .issuer_name(root.cert.subject).public_key(key.public_key()).serial_number(7)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(certs._albatross_extension(Command("policy_add", POLICY_FOO)), critical=False)
        .sign(root.key, None)
    )
    with pytest.raises(CertificateError, match="not a valid albatross label"):
        certs.Signer.from_objects(bad, key, [root.cert])


def test_overlong_common_name():
    with pytest.raises(ValidationError, match="invalid common name"):
        certs.make_root_ca("x" * 65)
