# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client <-> albatross: every Client method, the streams and the rejections.

Runs against the test server (tests/server) by default. Set ALBATROSS_TEST_SERVER
(host:port), ALBATROSS_TEST_SERVER_CA, ALBATROSS_TEST_CLIENT_CERT,
ALBATROSS_TEST_CLIENT_KEY, ALBATROSS_TEST_IMAGES (directory with hello.hvt, net.hvt and
blk.hvt) and ALBATROSS_TEST_BRIDGE to run the same tests against a real albatross;
tests that rely on the test server's simulated unikernels are skipped there.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import os
import secrets
import socket
import time
from typing import Any, Callable, Dict, Optional

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs, manifest, names
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossTimeout,
    AuthenticationError,
    CommandFailed,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import real_server, start_server
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    Command,
    FailBehaviour,
    NetworkInterface,
    Policy,
    UnikernelArguments,
    UnikernelConfig,
    Volume,
)

pytestmark = pytest.mark.integration

# Against a real albatross the names stay the same between runs: policies cannot be
# removed over TLS, so a rerun re-asserts the same ones instead of adding new paths.
UID = "albt" if os.environ.get("ALBATROSS_TEST_SERVER") else secrets.token_hex(3)
IMAGES = ("hello.hvt", "net.hvt", "blk.hvt")


def _read(value: Any) -> bytes:
    """PEM given as bytes, text or a file name."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    if text.lstrip().startswith("-----BEGIN"):
        return text.encode()
    with open(text, "rb") as handle:
        return handle.read()


@dataclasses.dataclass
class Target:
    """Where the tests run: the test server, or a real albatross given by environment."""

    address: str
    server_ca: bytes
    signer: certs.Signer
    images: Dict[str, bytes]
    bridge: str
    real: bool
    stop: Callable[[], None] = lambda: None
    log: Callable[[], str] = lambda: ""

    def assert_logged(self, text: str) -> None:
        """The test server logs why it closed a session; a real one is not inspected."""
        if self.real:
            return
        deadline = time.monotonic() + 3
        while text not in self.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in self.log()

    def client(self, signer: Optional[certs.Signer] = None, server: Optional[str] = None,
               server_ca_pem: Optional[bytes] = None, **kwargs: Any) -> Client:
        kwargs.setdefault("timeout", 15.0)
        return Client(server or self.address, server_ca_pem or self.server_ca, signer or self.signer, **kwargs)


def load_target(tmp_path: Any) -> Target:
    """The real albatross of ALBATROSS_TEST_* (see tests/lib/albatross_fixture.py), else a fresh test server."""
    info = real_server()
    if info is None:
        info = start_server(tmp_path, stats_interval=0.2)
    elif not (info.server_ca and info.client_cert and info.client_key and info.images_dir):
        pytest.fail("ALBATROSS_TEST_SERVER needs ALBATROSS_TEST_SERVER_CA, _CLIENT_CERT, _CLIENT_KEY and _IMAGES")
    images = {}
    for image in IMAGES:
        with open(os.path.join(info.images_dir, image), "rb") as handle:
            images[image] = handle.read()
    passphrase = os.environ.get("ALBATROSS_TEST_CLIENT_KEY_PASSPHRASE") if not info.is_test_server else None
    signer = certs.Signer.load(_read(info.client_cert), _read(info.client_key), passphrase.encode() if passphrase else None)
    return Target(info.address, _read(info.server_ca), signer, images, info.bridge, real=not info.is_test_server,
                  stop=info.stop, log=info.log)


def uname(stem: str) -> str:
    return "%s-%s" % (stem, UID)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    found = load_target(tmp_path_factory.mktemp("albatross"))
    yield found
    found.stop()


@pytest.fixture(scope="module")
def root(target: Target) -> Client:
    return target.client()


def tenant(target: Target, stem: str, policy: Policy) -> Client:
    """A client under a fresh tenant path holding ``policy``, emptied first."""
    label = "%s-%s" % (stem, UID)
    target.client().install_policy(label, policy)
    client = target.client(path=label)
    for info in client.unikernel_info():
        client.unikernel_destroy(names.parse_name(info.name)[1])
    for volume in client.block_info():
        client.block_remove(names.parse_name(volume.name)[1])
    return client


def full(client: Client, label: str) -> str:
    return names.name_to_string(client.path, label)


def hello_config(**kwargs) -> UnikernelConfig:
    values = dict(cpuids=(0,), memory=32, argv=("--greeting=hi",))
    values.update(kwargs)
    return UnikernelConfig(**values)


def small_policy(target: Target, **kwargs) -> Policy:
    values = dict(unikernels=2, cpuids=(0,), memory=128, block=None, bridges=(target.bridge,))
    values.update(kwargs)
    return Policy(**values)


# -- policies and the path option ------------------------------------------------------


def test_policy_install_info_and_path(target: Target, root: Client) -> None:
    label = uname("pol")
    policy = small_policy(target, block=20)
    installed = root.install_policy(label, policy)
    path_name = names.name_to_string(root.path + (label,))
    assert (path_name, policy) in installed
    assert root.policy_info(label) == [(path_name, policy)]
    assert (path_name, policy) in root.policy_info()
    assert all(entry[0].endswith(":") for entry in root.policy_info())
    # The same policy again changes nothing.
    assert (path_name, policy) in root.install_policy(label, policy)
    sub = target.client(path=label)
    assert sub.path == root.path + (label,)
    assert sub.policy_info() == [(path_name, policy)]
    nested = sub.install_policy("inner", small_policy(target, unikernels=1, memory=64))
    assert (names.name_to_string(sub.path + ("inner",)), small_policy(target, unikernels=1, memory=64)) in nested
    assert len(root.policy_info(label)) == 2
    with pytest.raises(ValidationError, match="policy above allows 128 MB memory, which is fewer than 256 MB"):
        sub.install_policy("big", small_policy(target, memory=256))
    with pytest.raises(ValidationError, match="Unusable policy"):
        root.install_policy(uname("unusable"), small_policy(target, memory=10))
    with pytest.raises(ValidationError, match="invalid"):
        root.install_policy("bad label", policy)


def test_delegation_ca_as_client_cert(target: Target, root: Client) -> None:
    """client_cert may be a delegation CA (with its chain): names carry its path."""
    label = uname("deleg")
    policy = small_policy(target, unikernels=1, memory=64)
    cert, key = certs.make_delegation(root.signer, label, policy, days=1)
    pem = certs.cert_to_pem(cert) + root.signer.chain_pem
    signer = certs.Signer.load(pem, certs.key_to_pem(key, b"pass"), b"pass")
    assert signer.path == root.path + (label,) and signer.policy == policy
    client = target.client(signer=signer)
    for info in client.unikernel_info():
        client.unikernel_destroy(names.parse_name(info.name)[1])
    assert client.policy_info() == [(names.name_to_string(signer.path), policy)]
    assert client.unikernel_create("web", hello_config(), target.images["hello.hvt"]) == "created unikernel"
    expected = names.name_to_string(signer.path, "web")
    assert [i.name for i in client.unikernel_info()] == [expected]
    assert [i.name for i in root.unikernel_info("web")] != [expected]
    assert expected in [i.name for i in root.unikernel_info()]
    with pytest.raises(ValidationError, match="memory"):
        client.unikernel_create("big", hello_config(memory=128), target.images["hello.hvt"])
    with pytest.raises(ValidationError, match="policy above"):
        client.install_policy("sub", small_policy(target, memory=128))
    assert client.unikernel_destroy("web") == "destroyed unikernel"


def test_path_without_policy_is_an_error(target: Target) -> None:
    missing = uname("nopolicy")
    with pytest.raises(ValidationError, match="no policy for path .*%s: install one with the policy module first" % missing):
        target.client(path=missing).unikernel_info()


# -- unikernels ---------------------------------------------------------------------


def test_unikernel_lifecycle(target: Target) -> None:
    client = tenant(target, "life", small_policy(target))
    image = target.images["hello.hvt"]
    name = "hello"
    assert client.unikernel_create(name, hello_config(), image) == "created unikernel"
    (info,) = client.unikernel_info(name)
    assert info.name == full(client, name)
    assert info.digest == hashlib.sha256(image).digest()
    assert info.memory == 32 and info.cpuids == (0,) and info.argv == ("--greeting=hi",)
    assert [i.name for i in client.unikernel_info()] == [full(client, name)]
    with pytest.raises(CommandFailed, match="Unikernel with same name is already running") as failed:
        client.unikernel_create(name, hello_config(), image)
    assert failed.value.message == "Unikernel with same name is already running"
    # Force-create with a compressed stream from a file object.
    config = hello_config(argv=("--greeting=again",), fail_behaviour=FailBehaviour(True, (2,)))
    assert client.unikernel_create(name, config, io.BytesIO(image), force=True, compression=9) == "created unikernel"
    (info,) = client.unikernel_info(name)
    assert info.digest == hashlib.sha256(image).digest()
    assert info.argv == ("--greeting=again",)
    assert info.fail_behaviour == FailBehaviour(True, (2,))
    assert client.unikernel_get(name) == image
    assert client.unikernel_get(name, compression=9) == image
    arguments = UnikernelArguments(cpuids=(0,), memory=32, argv=("--greeting=restarted",))
    assert client.unikernel_restart(name, arguments) == "created unikernel"
    assert client.unikernel_info(name)[0].argv == ("--greeting=restarted",)
    assert client.unikernel_restart(name) == "created unikernel"
    assert client.unikernel_destroy(name) == "destroyed unikernel"
    assert client.unikernel_info(name) == []
    # Albatross remembers a stopped unikernel as "restarting" once (vmmd handle_shutdown).
    assert client.unikernel_destroy(name) == "destroyed: removed from restarting"
    with pytest.raises(CommandFailed, match="destroy: not found"):
        client.unikernel_destroy(name)
    with pytest.raises(CommandFailed, match="get: no unikernel found"):
        client.unikernel_get(name)
    assert full(client, name) in client.console_list_inactive()


def test_iterable_image_and_key_types(target: Target) -> None:
    client = tenant(target, "keys", small_policy(target))
    image = target.images["hello.hvt"]
    pieces = [image[i:i + 100] for i in range(0, len(image), 100)]
    assert client.unikernel_create("iter", hello_config(), iter(pieces), compression=1) == "created unikernel"
    for key_type in ("p256", "rsa2048"):
        other = target.client(path=client.sub_path[0], key_type=key_type)
        assert [i.name for i in other.unikernel_info("iter")] == [full(client, "iter")]
    client.unikernel_destroy("iter")


def test_network_unikernel_and_manifest_checks(target: Target) -> None:
    client = tenant(target, "net", small_policy(target))
    image = target.images["net.hvt"]
    netif = manifest.read_manifest(image).networks[0]
    config = hello_config(network_interfaces=(NetworkInterface(netif, bridge=target.bridge),))
    assert client.unikernel_create("net", config, image) == "created unikernel"
    (info,) = client.unikernel_info("net")
    assert [(n.name, n.bridge) for n in info.network_interfaces] == [(netif, target.bridge)]
    assert len(info.network_interfaces[0].mac) == 17
    assert client.unikernel_destroy("net") == "destroyed unikernel"
    with pytest.raises(ValidationError, match="specified bridge\\(s\\) does not match with the manifest"):
        client.unikernel_create("net", hello_config(), image)
    doubled = (NetworkInterface(netif, bridge=target.bridge),) * 2
    with pytest.raises(ValidationError, match="Bridge names must be a set"):
        client.unikernel_create("net", hello_config(network_interfaces=doubled), image)
    with pytest.raises(ValidationError, match="specified block device\\(s\\) does not match with manifest"):
        client.unikernel_create("hello", hello_config(block_devices=(BlockDevice("data"),)), target.images["hello.hvt"])
    with pytest.raises(ValidationError, match="error during ELF parsing|manifest not found"):
        client.unikernel_create("junk", hello_config(), b"not an elf image")
    with pytest.raises(ValidationError, match="invalid label"):
        client.unikernel_create("bad:name", hello_config(), target.images["hello.hvt"])


# -- block devices -------------------------------------------------------------------


def test_block_streams(target: Target) -> None:
    client = tenant(target, "blk", small_policy(target, block=20))
    vol = "vol"
    assert client.block_add(vol, 2) == "added block device"
    assert client.block_info(vol) == [Volume(full(client, vol), 2, False)]
    assert Volume(full(client, vol), 2, False) in client.block_info()
    with pytest.raises(CommandFailed, match="block device with same name already exists"):
        client.block_add(vol, 2)
    size = 2 * 1024 * 1024
    data = os.urandom(150000)
    assert client.block_set(vol, data) == "set block device"
    out = io.BytesIO()
    assert client.block_dump(vol, out) == size
    assert out.getvalue() == data + bytes(size - len(data))
    text = b"albatross block data\n" * 5000
    assert client.block_set(vol, io.BytesIO(text), compression=6) == "set block device"
    out = io.BytesIO()
    assert client.block_dump(vol, out, compression=6) == size
    assert out.getvalue() == text + bytes(size - len(text))
    with pytest.raises(CommandFailed, match="dump block: not found"):
        client.block_dump("missing", io.BytesIO())
    with pytest.raises(CommandFailed, match="set block: not found"):
        client.block_set("missing", b"data")
    # A unikernel using the volume makes it active.
    image = target.images["blk.hvt"]
    device = manifest.read_manifest(image).blocks[0]
    config = hello_config(block_devices=(BlockDevice(device, host_device=vol),))
    assert client.unikernel_create("blk", config, image) == "created unikernel"
    assert client.block_info(vol) == [Volume(full(client, vol), 2, True)]
    (info,) = client.unikernel_info("blk")
    assert [(b.name, b.host_device) for b in info.block_devices] == [(device, vol)]
    with pytest.raises(CommandFailed, match="remove block: is in use"):
        client.block_remove(vol)
    client.unikernel_destroy("blk")
    assert client.block_remove(vol) == "removed block"
    with pytest.raises(CommandFailed, match="remove block: not found"):
        client.block_remove(vol)
    with pytest.raises(ValidationError):
        client.block_add(vol, 0)


# -- console and statistics ------------------------------------------------------------


def test_console(target: Target) -> None:
    client = tenant(target, "con", small_policy(target))
    assert client.unikernel_create("chatty", hello_config(argv=("--say=albatross-console",)), target.images["hello.hvt"])
    time.sleep(0.3)
    lines = client.console("chatty", count=1024)
    assert lines and all(line.name == full(client, "chatty") for line in lines)
    if not target.real:
        assert any("albatross-console" in line.text for line in lines)
    assert len(client.console("chatty", count=1)) == 1
    assert client.console("chatty", count=0) == [] or target.real
    since = client.console("chatty", since=lines[0].timestamp)
    assert since[0].timestamp >= lines[0].timestamp
    started = time.monotonic()
    waited = client.console("chatty", count=0, wait=0.6)
    assert time.monotonic() - started >= 0.6
    assert all(line.timestamp >= lines[-1].timestamp for line in waited)
    # No unikernel of that name: albatross says "waiting for VM" and sends nothing.
    assert client.console("nothing-here", wait=0.2) == []
    with pytest.raises(ValidationError, match=">= 0"):
        client.console("chatty", count=-1)
    client.unikernel_destroy("chatty")


def test_stats(target: Target) -> None:
    client = tenant(target, "stat", small_policy(target))
    assert client.stats() == []
    client.unikernel_create("one", hello_config(), target.images["hello.hvt"])
    client.unikernel_create("two", hello_config(), target.images["hello.hvt"])
    (sample,) = client.stats("one")
    assert sample.name == full(client, "one")
    assert sample.rusage.utime.seconds >= 0
    both = client.stats()
    assert sorted(s.name for s in both) == [full(client, "one"), full(client, "two")]
    assert len(client.stats("two", samples=2)) == 2
    with pytest.raises(ValidationError):
        client.stats("one", samples=0)
    client.unikernel_destroy("one")
    client.unikernel_destroy("two")


# -- policy violations -------------------------------------------------------------------


def test_policy_violations_checked_by_client(target: Target) -> None:
    client = tenant(target, "limits", small_policy(target, unikernels=1, memory=64))
    image = target.images["hello.hvt"]
    with pytest.raises(ValidationError, match="memory"):
        client.unikernel_create("big", hello_config(memory=128), image)
    with pytest.raises(ValidationError, match="CPU"):
        client.unikernel_create("cpu", hello_config(cpuids=(1,)), image)
    net = target.images["net.hvt"]
    netif = manifest.read_manifest(net).networks[0]
    with pytest.raises(ValidationError, match="(?i)bridge"):
        client.unikernel_create("net", hello_config(network_interfaces=(NetworkInterface(netif, bridge="elsewhere"),)), net)


def test_policy_violations_checked_by_server(target: Target) -> None:
    image = target.images["hello.hvt"]
    single = tenant(target, "count", small_policy(target, unikernels=1, memory=64))
    assert single.unikernel_create("first", hello_config(), image) == "created unikernel"
    with pytest.raises(CommandFailed, match=r"maximum amount of unikernels \(1\) reached"):
        single.unikernel_create("second", hello_config(), image)
    single.unikernel_destroy("first")
    memory = tenant(target, "mem", small_policy(target, unikernels=2, memory=64))
    assert memory.unikernel_create("first", hello_config(memory=48), image) == "created unikernel"
    with pytest.raises(CommandFailed, match=r"maximum allowed memory \(64, used 48\) would be exceeded \(requesting 32\)"):
        memory.unikernel_create("second", hello_config(), image)
    memory.unikernel_destroy("first")
    noblock = tenant(target, "noblk", small_policy(target))
    with pytest.raises(CommandFailed, match="no block devices are allowed by policy"):
        noblock.block_add("vol", 1)
    limited = tenant(target, "blklim", small_policy(target, block=10))
    with pytest.raises(CommandFailed, match=r"block device policy limit of 10 MB \(used 0 MB\) would be exceeded by the request \(20 MB\)"):
        limited.block_add("vol", 20)


# -- rejections --------------------------------------------------------------------------


def _plain_ca(parent: certs.Signer, cn: str, not_before=None, not_after=None) -> certs.Signer:
    """An intermediate CA without the albatross extension (albatross ignores those)."""
    key = certs.generate_key("ed25519")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(parent.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(seconds=10))
        .not_valid_after(not_after or now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False)
        .sign(parent.key, certs._hash_for(parent.key))
    )
    return certs.Signer(cert=cert, key=key, chain=(parent.cert,) + parent.chain, path=parent.path)


def test_chain_length_limit(target: Target, root: Client) -> None:
    signer = root.signer
    for depth in range(3):
        signer = _plain_ca(signer, "plain%d" % depth)
    assert isinstance(target.client(signer=signer).unikernel_info(), list)
    for depth in range(3, 9):
        signer = _plain_ca(signer, "plain%d" % depth)
    with pytest.raises(AuthenticationError, match="without a reply.*fewer than 10"):
        target.client(signer=signer).unikernel_info()
    target.assert_logged("certificate chain too long")


def test_expired_certificate(target: Target, root: Client) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = _plain_ca(root.signer, "expired", now - datetime.timedelta(days=3), now - datetime.timedelta(days=1))
    with pytest.raises(AuthenticationError):
        target.client(signer=expired).unikernel_info()


def test_foreign_client_ca(target: Target) -> None:
    cert, key = certs.make_root_ca("intruder")
    with pytest.raises(AuthenticationError):
        target.client(signer=certs.Signer.from_objects(cert, key)).unikernel_info()


def test_wrong_server_ca(target: Target) -> None:
    cert, _key = certs.make_root_ca("other-ca")
    with pytest.raises(AuthenticationError, match="failed verification against server_ca"):
        target.client(server_ca_pem=certs.cert_to_pem(cert)).unikernel_info()


def test_server_name_and_host_name(target: Target) -> None:
    if target.real:
        pytest.skip("the real server's certificate name is not known")
    port = target.address.rsplit(":", 1)[1]
    assert isinstance(target.client(server="localhost:%s" % port).unikernel_info(), list)
    assert isinstance(target.client(server_name="server").unikernel_info(), list)
    with pytest.raises(AuthenticationError, match="failed verification"):
        target.client(server_name="not-the-server").unikernel_info()


def test_disallowed_command_and_bad_name(target: Target, root: Client) -> None:
    with pytest.raises(AuthenticationError, match="without a reply"):
        root._call(Command("policy_add", small_policy(target)), ".", ("string",))
    target.assert_logged("unexpected command")
    with pytest.raises(AuthenticationError, match="without a reply"):
        root._call(Command("unikernel_info"), "Bad:Name", ("unikernel_info",))
    target.assert_logged("invalid label")


def test_read_timeout_and_refused(target: Target) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(AlbatrossTimeout):
            target.client(server=address, timeout=0.5).unikernel_info()
        assert time.monotonic() - started < 5
    finally:
        listener.close()
    with pytest.raises(AlbatrossConnectionError):
        target.client(server=address, timeout=2).unikernel_info()


def test_frame_limit(target: Target, root: Client) -> None:
    with pytest.raises(ProtocolError, match="more than the limit"):
        target.client(max_frame=16).policy_info()


def test_client_argument_checks(target: Target, root: Client) -> None:
    with pytest.raises(ValidationError):
        root.unikernel_info("-bad")
    with pytest.raises(ValidationError):
        root.unikernel_get("x", compression=10)
    with pytest.raises(ValidationError):
        target.client(key_type="dsa")
    with pytest.raises(ValidationError):
        target.client(server="host:99999")
