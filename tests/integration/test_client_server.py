# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client <-> albatross: every Client method, the streams and the rejections.

Runs against the test server (tests/server) by default. Set ALBATROSS_TEST_SERVER
(host:port), ALBATROSS_TEST_SERVER_CA, ALBATROSS_TEST_CLIENT_CERT,
ALBATROSS_TEST_CLIENT_KEY, ALBATROSS_TEST_IMAGES (directory with hello.hvt, net.hvt and
blk.hvt: solo5's test_hello, test_net and test_blk) and ALBATROSS_TEST_BRIDGE to run the same
tests against a real albatross (``make test-real``).

The tests pick images by what they do, not by name: one that keeps running (test_net, started
without albatross's ``--name`` argument, which it rejects), one that prints its lines and exits 0
(test_hello) and one that checks its volume and exits 0 (test_blk). The test server gets images
from tests/images/make_images.py that behave the same (solo5-*.hvt).
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
# role -> (file in ALBATROSS_TEST_IMAGES of a real albatross, file of the test server's images)
IMAGES = {
    "runs": ("net.hvt", "solo5-net.hvt"),     # keeps running; one network device; exits 1 on an unknown argument
    "exits": ("hello.hvt", "solo5-hello.hvt"),  # prints its command line and exits 0; no devices
    "block": ("blk.hvt", "solo5-blk.hvt"),    # checks its block device "storage" and exits 0
}
# Arguments test_net understands (it looks at the first letter only: v(erbose) or l(imit)).
RUN_ARGV = ("verbose",)
# test_hello prints its command line ("Command line is: '...'"), the test server "arguments: ...".
HELLO_ARGV = ("Hello_Solo5",)
# Both print this line at every start of a unikernel.
START_LINE = "Solo5: Bindings version"
EXIT_WAIT = 15.0
# albatross-console keeps the lines of a name across runs: names whose history is counted are new each run.
RUN = secrets.token_hex(2)


def fresh(stem: str) -> str:
    return "%s-%s" % (stem, RUN)


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
    for role, (real_file, sim_file) in IMAGES.items():
        with open(os.path.join(info.images_dir, sim_file if info.is_test_server else real_file), "rb") as handle:
            images[role] = handle.read()
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


def running_config(target: Target, **kwargs) -> UnikernelConfig:
    """A config the "runs" image keeps running with: its network device on the bridge, no --name."""
    netif = manifest.read_manifest(target.images["runs"]).networks[0]
    values = dict(network_interfaces=(NetworkInterface(netif, bridge=target.bridge),), add_name=False, argv=RUN_ARGV)
    values.update(kwargs)
    return hello_config(**values)


def exiting_config(**kwargs) -> UnikernelConfig:
    """A config for the "exits" image: it prints its arguments and exits 0."""
    values = dict(add_name=False, argv=HELLO_ARGV)
    values.update(kwargs)
    return hello_config(**values)


def wait_gone(client: Client, name: str, timeout: float = EXIT_WAIT) -> None:
    """Until albatross no longer lists ``name`` (a unikernel that exited is removed)."""
    deadline = time.monotonic() + timeout
    while client.unikernel_info(name):
        assert time.monotonic() < deadline, "%s still running after %.0f s" % (name, timeout)
        time.sleep(0.1)


def starts(client: Client, name: str) -> int:
    """How often the unikernel started, from its console history."""
    return sum(1 for line in client.console(name, count=1024) if line.text.startswith(START_LINE))


def wait_starts(client: Client, name: str, count: int, timeout: float = EXIT_WAIT) -> int:
    deadline = time.monotonic() + timeout
    found = starts(client, name)
    while found < count and time.monotonic() < deadline:
        time.sleep(0.2)
        found = starts(client, name)
    return found


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
    # A real albatross keeps the nested policy of an earlier run (policies cannot be removed over TLS).
    inner = (names.name_to_string(root.path + (label, "inner")), small_policy(target, unikernels=1, memory=64))
    assert (path_name, policy) in installed
    assert [entry for entry in root.policy_info(label) if entry != inner] == [(path_name, policy)]
    assert (path_name, policy) in root.policy_info()
    assert all(entry[0].endswith(":") for entry in root.policy_info())
    # The same policy again changes nothing.
    assert (path_name, policy) in root.install_policy(label, policy)
    sub = target.client(path=label)
    assert sub.path == root.path + (label,)
    assert [entry for entry in sub.policy_info() if entry != inner] == [(path_name, policy)]
    nested = sub.install_policy("inner", small_policy(target, unikernels=1, memory=64))
    assert inner in nested
    assert sorted(root.policy_info(label)) == sorted([(path_name, policy), inner])
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
    assert client.unikernel_create("web", running_config(target), target.images["runs"]) == "created unikernel"
    expected = names.name_to_string(signer.path, "web")
    assert [i.name for i in client.unikernel_info()] == [expected]
    assert [i.name for i in root.unikernel_info("web")] != [expected]
    assert expected in [i.name for i in root.unikernel_info()]
    with pytest.raises(ValidationError, match="memory"):
        client.unikernel_create("big", running_config(target, memory=128), target.images["runs"])
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
    image = target.images["runs"]
    name = "runner"
    assert client.unikernel_create(name, running_config(target), image) == "created unikernel"
    (info,) = client.unikernel_info(name)
    assert info.name == full(client, name)
    assert info.digest == hashlib.sha256(image).digest()
    assert info.memory == 32 and info.cpuids == (0,) and info.argv == RUN_ARGV
    assert [i.name for i in client.unikernel_info()] == [full(client, name)]
    with pytest.raises(CommandFailed, match="Unikernel with same name is already running") as failed:
        client.unikernel_create(name, running_config(target), image)
    assert failed.value.message == "Unikernel with same name is already running"
    # Force-create with a compressed stream from a file object.
    config = running_config(target, argv=("limit",), fail_behaviour=FailBehaviour(True, (2,)))
    assert client.unikernel_create(name, config, io.BytesIO(image), force=True, compression=9) == "created unikernel"
    (info,) = client.unikernel_info(name)
    assert info.digest == hashlib.sha256(image).digest()
    assert info.argv == ("limit",)
    assert info.fail_behaviour == FailBehaviour(True, (2,))
    assert client.unikernel_get(name) == image
    assert client.unikernel_get(name, compression=9) == image
    arguments = UnikernelArguments(cpuids=(0,), memory=32, argv=("verbose", "limit"), add_name=False,
                                   network_interfaces=config.network_interfaces, fail_behaviour=FailBehaviour(True, (2,)))
    assert client.unikernel_restart(name, arguments) == "created unikernel"
    assert client.unikernel_info(name)[0].argv == ("verbose", "limit")
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
    image = target.images["runs"]
    pieces = [image[i:i + 100] for i in range(0, len(image), 100)]
    assert client.unikernel_create("iter", running_config(target), iter(pieces), compression=1) == "created unikernel"
    for key_type in ("p256", "rsa2048"):
        other = target.client(path=client.sub_path[0], key_type=key_type)
        assert [i.name for i in other.unikernel_info("iter")] == [full(client, "iter")]
    client.unikernel_destroy("iter")


def test_network_unikernel_and_manifest_checks(target: Target) -> None:
    client = tenant(target, "net", small_policy(target))
    image = target.images["runs"]
    netif = manifest.read_manifest(image).networks[0]
    config = running_config(target)
    assert config.network_interfaces == (NetworkInterface(netif, bridge=target.bridge),)
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
        client.unikernel_create("hello", hello_config(block_devices=(BlockDevice("data"),)), target.images["exits"])
    with pytest.raises(ValidationError, match="error during ELF parsing|manifest not found"):
        client.unikernel_create("junk", hello_config(), b"not an elf image")
    with pytest.raises(ValidationError, match="invalid label"):
        client.unikernel_create("bad:name", hello_config(), target.images["exits"])


# -- block devices -------------------------------------------------------------------


def test_block_streams(target: Target) -> None:
    client = tenant(target, "blk", small_policy(target, block=20))
    blk = fresh("blk")
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
    # vmmd refuses and closes its socket while the endpoint still passes the upload on: the endpoint
    # mostly fails writing first and answers "writing block data" itself (albatross_tls_endpoint
    # read_stream_write); sometimes vmmd's answer gets through. The test server always says the former.
    with pytest.raises(CommandFailed, match="^(writing block data|set block: not found)$"):
        client.block_set("missing", b"data")
    # The "block" image checks its volume (test_blk takes seconds) and exits 0: meanwhile the volume
    # is in use; albatross frees it when the unikernel exits.
    image = target.images["block"]
    device = manifest.read_manifest(image).blocks[0]
    config = hello_config(block_devices=(BlockDevice(device, host_device=vol),), add_name=False, argv=None)
    assert client.unikernel_create(blk, config, image) == "created unikernel"
    assert client.block_info(vol) == [Volume(full(client, vol), 2, True)]
    (info,) = client.unikernel_info(blk)
    assert [(b.name, b.host_device) for b in info.block_devices] == [(device, vol)]
    with pytest.raises(CommandFailed, match="remove block: is in use"):
        client.block_remove(vol)
    with pytest.raises(CommandFailed, match="^(writing block data|set block: is in use)$"):
        client.block_set(vol, b"data")
    wait_gone(client, blk)
    assert client.block_info(vol) == [Volume(full(client, vol), 2, False)]
    assert any(line.text.startswith(START_LINE) for line in client.console(blk, count=1024))
    with pytest.raises(CommandFailed, match="destroy: not found"):
        client.unikernel_destroy(blk)
    assert client.block_remove(vol) == "removed block"
    with pytest.raises(CommandFailed, match="remove block: not found"):
        client.block_remove(vol)
    with pytest.raises(ValidationError):
        client.block_add(vol, 0)


# -- console and statistics ------------------------------------------------------------


def test_console(target: Target) -> None:
    client = tenant(target, "con", small_policy(target))
    chatty = fresh("chatty")
    assert client.unikernel_create(chatty, running_config(target), target.images["runs"]) == "created unikernel"
    assert wait_starts(client, chatty, 1) == 1
    time.sleep(0.3)
    lines = client.console(chatty, count=1024)
    assert lines and all(line.name == full(client, chatty) for line in lines)
    assert len(client.console(chatty, count=1)) == 1
    assert client.console(chatty, count=0) == []
    since = client.console(chatty, since=lines[0].timestamp)
    assert since[0].timestamp >= lines[0].timestamp
    started = time.monotonic()
    waited = client.console(chatty, count=0, wait=0.6)
    assert time.monotonic() - started >= 0.6
    assert all(line.timestamp >= lines[-1].timestamp for line in waited)
    # No unikernel of that name: albatross says "waiting for VM" and sends nothing.
    assert client.console("nothing-here", wait=0.2) == []
    with pytest.raises(ValidationError, match=">= 0"):
        client.console(chatty, count=-1)
    client.unikernel_destroy(chatty)


def test_console_of_an_exited_unikernel(target: Target) -> None:
    """albatross-console keeps the lines of a unikernel that exited; it lists it as inactive."""
    client = tenant(target, "gone", small_policy(target))
    said = fresh("said")
    assert client.unikernel_create(said, exiting_config(), target.images["exits"]) == "created unikernel"
    wait_gone(client, said)
    lines = client.console(said, count=1024)
    assert any("Hello_Solo5" in line.text for line in lines), [line.text for line in lines]
    assert sum(1 for line in lines if line.text.startswith(START_LINE)) == 1
    assert full(client, said) in client.console_list_inactive()
    # Nothing more comes, and the history stays the same.
    assert client.console(said, count=0, wait=0.5) == []
    assert [line.text for line in client.console(said, count=1024)] == [line.text for line in lines]


def test_stats(target: Target) -> None:
    client = tenant(target, "stat", small_policy(target))
    assert client.stats() == []
    client.unikernel_create("one", running_config(target), target.images["runs"])
    client.unikernel_create("two", running_config(target), target.images["runs"])
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


def test_stats_of_an_exited_unikernel(target: Target) -> None:
    """albatross-stats forgets a unikernel when it exits: no samples, the others still report."""
    client = tenant(target, "statx", small_policy(target))
    client.unikernel_create("stays", running_config(target), target.images["runs"])
    client.unikernel_create("leaves", exiting_config(), target.images["exits"])
    wait_gone(client, "leaves")
    assert client.stats("leaves") == []
    assert [s.name for s in client.stats()] == [full(client, "stays")]
    client.unikernel_destroy("stays")


# -- unikernels that exit ------------------------------------------------------------------


def test_exit_without_restart_removes_the_unikernel(target: Target) -> None:
    """fail behaviour quit: albatrossd removes a unikernel that exited; nothing is left to destroy."""
    client = tenant(target, "quit", small_policy(target))
    once = fresh("once")
    assert client.unikernel_create(once, exiting_config(), target.images["exits"]) == "created unikernel"
    wait_gone(client, once)
    assert client.unikernel_info() == []
    with pytest.raises(CommandFailed, match="^destroy: not found$"):
        client.unikernel_destroy(once)
    with pytest.raises(CommandFailed, match="get: no unikernel found"):
        client.unikernel_get(once)
    # The name is free again.
    assert client.unikernel_create(once, exiting_config(), target.images["exits"]) == "created unikernel"
    wait_gone(client, once)
    assert starts(client, once) == 2


def test_restart_on_listed_exit_code(target: Target) -> None:
    """Restart on exit 0 (listed): albatrossd starts it again, into the same console history."""
    client = tenant(target, "again", small_policy(target))
    loop = fresh("loop")
    config = exiting_config(fail_behaviour=FailBehaviour(True, (0,)))
    assert client.unikernel_create(loop, config, target.images["exits"]) == "created unikernel"
    assert wait_starts(client, loop, 3) >= 3
    # Between an exit and the restart the name sits in albatrossd's restarting set.
    assert client.unikernel_destroy(loop) in ("destroyed unikernel", "destroyed: removed from restarting")
    wait_gone(client, loop)
    before = starts(client, loop)
    time.sleep(1.0)
    assert client.unikernel_info(loop) == [] and starts(client, loop) == before


def test_no_restart_on_unlisted_exit_code(target: Target) -> None:
    client = tenant(target, "other", small_policy(target))
    stops = fresh("stops")
    config = exiting_config(fail_behaviour=FailBehaviour(True, (2,)))
    assert client.unikernel_create(stops, config, target.images["exits"]) == "created unikernel"
    wait_gone(client, stops)
    time.sleep(1.0)
    assert client.unikernel_info(stops) == [] and starts(client, stops) == 1
    with pytest.raises(CommandFailed, match="^destroy: not found$"):
        client.unikernel_destroy(stops)


def test_added_name_is_rejected_and_never_restarted(target: Target) -> None:
    """add_name (the default) passes --name=<label>; the solo5 test unikernel rejects it with exit 1,
    which albatrossd never restarts (only exit 64 makes it try once more without --name)."""
    client = tenant(target, "named", small_policy(target))
    picky = fresh("picky")
    config = running_config(target, add_name=True, fail_behaviour=FailBehaviour(True, ()))
    assert client.unikernel_create(picky, config, target.images["runs"]) == "created unikernel"
    wait_gone(client, picky)
    time.sleep(1.0)
    lines = [line.text for line in client.console(picky, count=1024)]
    assert any("Error in command line" in line for line in lines), lines
    assert sum(1 for line in lines if line.startswith(START_LINE)) == 1
    assert client.unikernel_info(picky) == []


# -- policy violations -------------------------------------------------------------------


def test_policy_violations_checked_by_client(target: Target) -> None:
    client = tenant(target, "limits", small_policy(target, unikernels=1, memory=64))
    image = target.images["exits"]
    with pytest.raises(ValidationError, match="memory"):
        client.unikernel_create("big", hello_config(memory=128), image)
    with pytest.raises(ValidationError, match="CPU"):
        client.unikernel_create("cpu", hello_config(cpuids=(1,)), image)
    net = target.images["runs"]
    netif = manifest.read_manifest(net).networks[0]
    with pytest.raises(ValidationError, match="(?i)bridge"):
        client.unikernel_create("net", hello_config(network_interfaces=(NetworkInterface(netif, bridge="elsewhere"),)), net)


def test_policy_violations_checked_by_server(target: Target) -> None:
    image = target.images["runs"]
    single = tenant(target, "count", small_policy(target, unikernels=1, memory=64))
    assert single.unikernel_create("first", running_config(target), image) == "created unikernel"
    with pytest.raises(CommandFailed, match=r"maximum amount of unikernels \(1\) reached"):
        single.unikernel_create("second", running_config(target), image)
    single.unikernel_destroy("first")
    memory = tenant(target, "mem", small_policy(target, unikernels=2, memory=64))
    assert memory.unikernel_create("first", running_config(target, memory=48), image) == "created unikernel"
    with pytest.raises(CommandFailed, match=r"maximum allowed memory \(64, used 48\) would be exceeded \(requesting 32\)"):
        memory.unikernel_create("second", running_config(target), image)
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
