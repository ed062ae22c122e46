# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client chain validation of the test server: every rejection closes without a reply."""

from __future__ import annotations

import datetime
import warnings

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from albatross_sim import pki, rawclient

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    Command, Failure, Policy, SinceCount, StatsAdd, Success, UnikernelConfig,
)

UTC = datetime.timezone.utc
INFO = Command("unikernel_info")
POLICY = Policy(unikernels=3, cpuids=(0, 1), memory=256, block=50, bridges=("service",))


def silent(result) -> bool:
    """No message at all: a clean EOF or a TLS alert."""
    return not result.wires and (result.eof or result.tls_error is not None)


def test_plain_info_answers_with_root_header(raw) -> None:
    result = raw.call(".", INFO)
    assert result.eof
    assert len(result.wires) == 1
    header = result.wires[0].header
    assert (header.name, header.sequence, header.version) == (":", 0, 5)
    assert result.wires[0].payload == Success("unikernel_info", ())


def test_wrong_ca_is_refused(raw) -> None:
    fake_root, fake_key = pki.make_root("albatross-test-ca")
    cert, key = rawclient.leaf(fake_root, fake_key, "x", INFO)
    assert silent(rawclient.call(raw.address, raw.info.server_ca, [cert], key))


@pytest.mark.parametrize("before,after", [(-2, -1), (1, 2)])
def test_leaf_outside_validity_is_refused(raw, before: int, after: int) -> None:
    now = datetime.datetime.now(UTC)
    result = raw.call("x", INFO, not_before=now + datetime.timedelta(days=before),
                      not_after=now + datetime.timedelta(days=after))
    assert silent(result)


def test_expired_intermediate_is_refused(raw) -> None:
    old = datetime.datetime.now(UTC) - datetime.timedelta(days=30)
    sub, sub_key = raw.sub("old", POLICY, days=1, valid_from=old)
    assert silent(raw.call(".", INFO, chain=[sub], signer=(sub, sub_key)))


def test_chain_length_limit(raw) -> None:
    pairs = [(raw.ca, raw.ca_key)]
    for i in range(9):
        pairs.append(rawclient.sub_ca(pairs[-1][0], pairs[-1][1], "plain%d" % i, None))
    # leaf + 8 intermediates = 9 certificates: accepted, path stays root (no extensions)
    eight = [cert for cert, _key in reversed(pairs[1:9])]
    ok = raw.call(".", INFO, chain=eight, signer=pairs[8])
    assert ok.wires and ok.wires[0].header.name == ":"
    # leaf + 9 intermediates = 10: "certificate chain too long"
    nine = [cert for cert, _key in reversed(pairs[1:])]
    assert silent(raw.call(".", INFO, chain=nine, signer=pairs[9]))
    # the root sent along counts as well
    assert silent(raw.call(".", INFO, chain=eight + [raw.ca], signer=pairs[8]))


def test_root_in_presented_chain_counts_but_works(raw) -> None:
    result = raw.call(".", INFO, chain=[raw.ca])
    assert result.wires[0].header.name == ":"


def test_leaf_without_extension_is_refused(raw) -> None:
    assert silent(raw.call("x", None))


@pytest.mark.parametrize("cn", ["Bad:Name", "", "-x", "a" * 64, "white space", "ä"])
def test_bad_leaf_cn_is_refused(raw, cn: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cryptography warns about the empty CN we want
        assert silent(raw.call(cn, INFO))


def test_leaf_cn_is_lowercased_and_path_forms(raw) -> None:
    assert raw.call("HeLLo.World", INFO).wires[0].header.name == ":hello.world"
    assert raw.call(":", INFO).wires[0].header.name == ":"
    assert raw.call(None, INFO).wires[0].header.name == ":"


@pytest.mark.parametrize("command", [
    Command("policy_add", POLICY), Command("policy_remove"), Command("console_add", 3),
    Command("stats_add", StatsAdd("solo5-1", 1, ())), Command("stats_remove"), Command("stats_initial"),
])
def test_disallowed_commands_are_refused(raw, command: Command) -> None:
    assert silent(raw.call("x", command))


@pytest.mark.parametrize("command", [Command("block_add", 10), Command("block_remove"), Command("block_dump", 0),
                                     Command("block_set", False)])
def test_block_commands_need_a_name(raw, command: Command) -> None:
    assert silent(raw.call(None, command))


def test_block_info_without_cn_is_fine(raw) -> None:
    assert raw.call(None, Command("block_info")).wires[0].payload.kind == "block_devices"


def test_garbage_extension_is_refused(raw) -> None:
    assert silent(raw.call("x", extension=b"\x30\x03\x02\x01\x04"))
    assert silent(raw.call("x", extension=b"\xff\xff"))


def test_leaf_that_is_a_ca_is_refused(raw) -> None:
    assert silent(raw.call("x", INFO, ca=True))


def test_leaf_without_client_auth_is_refused(raw) -> None:
    assert silent(raw.call("x", INFO, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)))


def test_policy_path_from_intermediates(raw) -> None:
    alpha, alpha_key = raw.sub("Alpha", POLICY)
    plain, plain_key = rawclient.sub_ca(alpha, alpha_key, "ignored", None)
    inner = Policy(unikernels=1, cpuids=(0,), memory=64, block=None, bridges=())
    beta, beta_key = raw.sub("beta", inner, parent=(plain, plain_key))
    result = raw.call(".", Command("policy_info"), chain=[beta, plain, alpha], signer=(beta, beta_key))
    assert result.wires[0].header.name == "alpha:beta:"
    assert result.wires[0].payload == Success("policies", ((":", inner),))
    whole = raw.call(".", Command("policy_info"), chain=[alpha], signer=(alpha, alpha_key))
    assert whole.wires[0].payload == Success("policies", ((":", POLICY), ("beta:", inner)))
    named = raw.call("web", INFO, chain=[beta, plain, alpha], signer=(beta, beta_key))
    assert named.wires[0].header.name == "alpha:beta:web"


def test_intermediate_with_other_command_or_without_cn_is_refused(raw) -> None:
    odd, odd_key = raw.sub("odd", None, extension=rawclient.messages.encode_cert_extension(Command("unikernel_info")))
    assert silent(raw.call(".", INFO, chain=[odd], signer=(odd, odd_key)))
    anon, anon_key = raw.sub(None, POLICY)
    assert silent(raw.call(".", INFO, chain=[anon], signer=(anon, anon_key)))
    bad, bad_key = raw.sub("bad name", POLICY)
    assert silent(raw.call(".", INFO, chain=[bad], signer=(bad, bad_key)))


def test_console_and_stats_install_no_policy(raw) -> None:
    ghost, ghost_key = raw.sub("ghost", POLICY)
    result = raw.call(".", Command("console_list_inactive"), chain=[ghost], signer=(ghost, ghost_key))
    assert result.wires[0].payload == Success("consoles", ())
    listing = raw.call(".", Command("policy_info")).wires[0].payload.value
    assert "ghost:" not in [name for name, _policy in listing]
    console = raw.call("x", Command("console_subscribe", SinceCount(count=1)), limit=1, timeout=1.0)
    assert console.wires[0].payload == Success("string", "waiting for VM")


def test_policy_refusal_is_wrapped(raw) -> None:
    outer, outer_key = raw.sub("pw", Policy(unikernels=2, cpuids=(0,), memory=128, block=None, bridges=("service",)))
    inner, inner_key = raw.sub("inner", Policy(unikernels=1, cpuids=(0,), memory=256, block=None, bridges=()),
                               parent=(outer, outer_key))
    result = raw.call("web", INFO, chain=[inner, outer], signer=(inner, inner_key))
    assert result.eof
    assert result.wires[0].header.name == "pw:inner:web"
    assert result.wires[0].payload == Failure(
        "expected success when adding policy, got: host [unikernel: pw:inner:]: command failed "
        "policy above allows 128 MB memory, which is fewer than 256 MB")


def test_hostile_bytes_after_handshake(raw) -> None:
    cert, key = rawclient.leaf(raw.ca, raw.ca_key, "x", Command("unikernel_create", _streamed()))
    with rawclient.connect(raw.address, raw.info.server_ca, [cert], key) as sock:
        sock.sendall(b"\x7f\xff\xff\xff" + b"junk")
        result = rawclient.Result()
        rawclient.read_messages(sock, result)
    assert result.eof and not result.wires
    # the server is still fine
    assert raw.call(".", INFO).wires


def _streamed():
    return UnikernelConfig(cpuids=(0,), memory=32, image=b"")


def test_no_client_certificate_is_refused(raw) -> None:
    import socket  # pylint: disable=import-outside-toplevel
    import ssl  # pylint: disable=import-outside-toplevel
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=raw.info.server_ca)
    with socket.create_connection(raw.address, timeout=5) as plain:
        with ctx.wrap_socket(plain) as sock:
            try:
                data = sock.recv(10)
            except (ssl.SSLError, ConnectionResetError):
                data = b""
    assert data == b""


def test_fixture_describes_a_real_server(monkeypatch) -> None:
    import albatross_fixture  # pylint: disable=import-outside-toplevel
    monkeypatch.setenv("ALBATROSS_TEST_SERVER", "[::1]:4242")
    monkeypatch.setenv("ALBATROSS_TEST_SERVER_CA", "/ca.pem")
    monkeypatch.setenv("ALBATROSS_TEST_BRIDGE", "br9")
    info = albatross_fixture.real_server()
    assert (info.host, info.port, info.server_ca, info.bridge, info.is_test_server) == ("::1", 4242, "/ca.pem", "br9", False)
    info.stop()
    monkeypatch.setenv("ALBATROSS_TEST_SERVER", "alb.example")
    assert albatross_fixture.real_server().port == 1025
