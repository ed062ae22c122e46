# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection settings of the plugins: defaults, validation, credentials."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleError

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossTimeout,
    AuthenticationError,
    CommandFailed,
    ProtocolError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.plugins.plugin_utils import _client

DEFAULTS = {"server_ca": "/pki/ca.pem", "client_cert": "/pki/cert.pem", "client_key": "/pki/key.pem"}


def test_single_server_from_defaults():
    (settings,) = _client.resolve_servers([], dict(DEFAULTS, server="alb1.example.org:1030"))
    assert settings.name == "alb1.example.org"
    assert settings.host == "alb1.example.org"
    assert (settings.key_type, settings.timeout) == ("ed25519", 30.0)


def test_entries_override_defaults_and_names_default_to_the_host():
    entries = [{"server": "[::1]:1025"}, {"name": "b", "server": "10.0.0.1", "timeout": "7", "key_type": "p256"}]
    first, second = _client.resolve_servers(entries, dict(DEFAULTS, timeout=12.0))
    assert (first.name, first.timeout, first.server_ca) == ("::1", 12.0, "/pki/ca.pem")
    assert (second.name, second.timeout, second.key_type) == ("b", 7.0, "p256")


def test_entry_pem_replaces_both_default_variants():
    defaults = dict(DEFAULTS, client_key_content="KEY")
    (settings,) = _client.resolve_servers([{"server": "a", "client_key": "own.pem"}], defaults)
    assert settings.client_key == os.path.abspath("own.pem")
    assert settings.client_key_content is None
    (settings,) = _client.resolve_servers([{"server": "a", "server_ca_content": "CA"}], defaults)
    assert (settings.server_ca, settings.server_ca_content) == (None, "CA")


def test_content_default_wins_over_file_default():
    # An AWX credential exports a file name; content in the inventory file is the explicit choice.
    (settings,) = _client.resolve_servers([{"server": "a"}], dict(DEFAULTS, client_key_content="KEY"))
    assert (settings.client_key, settings.client_key_content) == (None, "KEY")


def test_paths_expand_user(monkeypatch):
    monkeypatch.setenv("HOME", "/home/op")
    (settings,) = _client.resolve_servers([{"server": "a", "server_ca": "~/ca.pem"}], DEFAULTS)
    assert settings.server_ca == "/home/op/ca.pem"


@pytest.mark.parametrize("entries, defaults, message", [
    ([], {}, "no server address"),
    ([{"name": "x"}], DEFAULTS, r"servers\[0\]: no server address"),
    ([{"server": "a", "client_cert": None}], {"server_ca": "c", "client_key": "k"}, "client_cert or client_cert_content is required"),
    ([{"server": "a", "server_ca": "x", "server_ca_content": "y"}], DEFAULTS, "mutually exclusive"),
    ([{"server": "a", "colour": "blue"}], DEFAULTS, r"unknown option\(s\) colour"),
    ([{"server": "a"}, {"server": "a"}], DEFAULTS, r"servers\[1\]: the server name 'a' is already used by servers\[0\]"),
    ([{"server": "a", "timeout": "soon"}], DEFAULTS, "timeout must be a number"),
    ([{"server": "a", "timeout": 0}], DEFAULTS, "greater than 0"),
    ([{"server": "a", "key_type": "dsa"}], DEFAULTS, "key_type must be one of"),
    ([{"server": "[::1"}], DEFAULTS, "invalid albatross server address .*missing"),
    (["a"], DEFAULTS, "expected a dictionary"),
    ([{"server": 1025}], DEFAULTS, "server must be a string"),
])
def test_invalid_settings(entries, defaults, message):
    with pytest.raises(AnsibleError, match=message):
        _client.resolve_servers(entries, defaults)


def test_template_is_applied_to_entries():
    (settings,) = _client.resolve_servers([{"server": "T"}], DEFAULTS, lambda value: "templated" if value == "T" else value)
    assert settings.server == "templated"


def test_public_vars_and_repr_hide_secrets():
    settings = _client.ServerSettings(
        name="a", server="a:1025", server_ca_content="CA PEM", client_cert_content="CERT", client_key_content="KEY",
        client_key_passphrase="pw", server_name="server",
    )
    assert settings.public_vars() == {
        "albatross_server": "a:1025", "albatross_server_ca_content": "CA PEM", "albatross_server_name": "server",
        "albatross_key_type": "ed25519", "albatross_timeout": 30.0,
    }
    assert "KEY" not in repr(settings) and "pw" not in repr(settings)


@pytest.mark.parametrize("address, host", [
    ("alb1", "alb1"), ("alb1:1025", "alb1"), ("[::1]:1025", "::1"), ("[fe80::1]", "fe80::1"), ("::1", "::1"),
    ("127.0.0.1:99", "127.0.0.1"),
])
def test_address_host(address, host):
    assert _client.address_host(address) == host


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root_cert, root_key = certs.make_root_ca("root")
    signer = certs.Signer.from_objects(root_cert, root_key)
    policy = Policy(unikernels=2, cpuids=(0,), memory=256, block=None, bridges=("service",))
    tenant_cert, tenant_key = certs.make_delegation(signer, "alice", policy)
    directory = tmp_path_factory.mktemp("pki")
    files = {
        "ca": certs.cert_to_pem(root_cert),
        "root_cert": certs.cert_to_pem(root_cert),
        "root_key": certs.key_to_pem(root_key),
        "tenant_cert": certs.cert_to_pem(tenant_cert) + certs.cert_to_pem(root_cert),
        "tenant_key": certs.key_to_pem(tenant_key, b"secret"),
    }
    for name, data in files.items():
        (directory / f"{name}.pem").write_bytes(data)
    return directory


def settings_for(pki, cert: str, key: str, **extra) -> _client.ServerSettings:
    return _client.ServerSettings(
        name="alb1", server="127.0.0.1:1", server_ca=str(pki / "ca.pem"),
        client_cert=str(pki / f"{cert}.pem"), client_key=str(pki / f"{key}.pem"), **extra,
    )


def test_load_signer_root_and_delegation(pki):
    assert _client.load_signer(settings_for(pki, "root_cert", "root_key")).path == ()
    tenant = settings_for(pki, "tenant_cert", "tenant_key", client_key_passphrase="secret")
    assert _client.load_signer(tenant).path == ("alice",)


def test_load_signer_memo_shares_credentials(pki):
    memo: dict = {}
    first = _client.load_signer(settings_for(pki, "root_cert", "root_key"), memo)
    second = _client.load_signer(settings_for(pki, "root_cert", "root_key"), memo)
    assert first is second and len(memo) == 1


def test_load_signer_errors_name_the_server(pki):
    with pytest.raises(AnsibleError, match="alb1: cannot use client_cert/client_key"):
        _client.load_signer(settings_for(pki, "root_cert", "tenant_key", client_key_passphrase="secret"))
    with pytest.raises(AnsibleError, match="alb1: cannot read client_key .*missing.pem"):
        _client.load_signer(settings_for(pki, "root_cert", "missing"))


def test_pem_content_or_file(pki):
    settings = settings_for(pki, "root_cert", "root_key")
    assert settings.pem("server_ca") == (pki / "ca.pem").read_bytes()
    inline = _client.ServerSettings(name="a", server="a", server_ca_content="-----BEGIN CERTIFICATE-----\n")
    assert inline.pem("server_ca") == b"-----BEGIN CERTIFICATE-----\n"


def test_open_client(pki):
    client = _client.open_client(settings_for(pki, "tenant_cert", "tenant_key", client_key_passphrase="secret", path="team"))
    assert client.server == "127.0.0.1:1"
    assert client.path == ("alice", "team")


@pytest.mark.parametrize("error, text", [
    (CommandFailed("no such unikernel"), "the server answered: no such unikernel"),
    (AlbatrossTimeout("read timed out after 5.0s"), "read timed out after 5.0s"),
    (AlbatrossTimeout(""), "no answer within 5 s"),
    (AlbatrossConnectionError("cannot connect to albatross at a:1: refused"), "cannot connect to albatross at a:1: refused"),
    (AuthenticationError("the server closed the connection"), "authentication failed: the server closed the connection"),
    (ProtocolError("bad tag"), "unexpected reply: bad tag"),
    (OSError("broken"), "broken"),
    (KeyError("x"), "KeyError: 'x'"),
])
def test_describe_error(error, text):
    assert _client.describe_error(error, 5.0) == text
