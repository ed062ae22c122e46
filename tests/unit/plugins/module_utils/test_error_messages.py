# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors a user can act on: one sentence naming the option, the value and the fix.

Each test pins the whole message (or its essential parts) of one mistake seen in practice,
and that nothing of the library's internals (exception class names, "caused by" chains)
or key material shows.
"""

from __future__ import annotations

import datetime
import http.server
import importlib.util
import os
import re
import socket
import threading

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _common, _unikernel
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs, manifest, model, transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AuthenticationError,
    OptionError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._liveliness_check import parse_checks
from ansible_collections.unikernels.albatross.plugins.plugin_utils import _client
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules import unikernel_fakes as fakes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
_spec = importlib.util.spec_from_file_location("make_images", os.path.join(ROOT, "tests", "images", "make_images.py"))
make_images = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_images)

EXCEPTION_NAMES = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Timeout)\b|Traceback|caused by")
UTC = datetime.timezone.utc


def plain(message: str) -> str:
    """``message``, after checking it carries no Python exception names."""
    assert not EXCEPTION_NAMES.search(message), message
    return message


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Root CA, server cert, and files for the credential mistakes."""
    base = tmp_path_factory.mktemp("pki")
    root, root_key = certs.make_root_ca("root")
    server, _server_key = certs.make_server_cert(root, root_key)
    files = {
        "root_cert": certs.cert_to_pem(root),
        "root_key": certs.key_to_pem(root_key),
        "server_cert": certs.cert_to_pem(server),
        "other_key": certs.key_to_pem(certs.generate_key()),
        "junk": b"this is not PEM at all\n",
    }
    paths = {}
    for name, data in files.items():
        path = base / (name + ".pem")
        path.write_bytes(data)
        paths[name] = str(path)
    return {"root": root, "root_key": root_key, "paths": paths, "pem": files}


def params_for(pki, **over):
    paths = pki["paths"]
    params = {"server": "127.0.0.1:1025", "server_ca": paths["root_cert"], "client_cert": paths["root_cert"],
              "client_key": paths["root_key"], "timeout": 30.0}
    params.update(over)
    return params


def client_error(params) -> str:
    module = _common.CapturingModule(params)
    with pytest.raises(_common.ModuleExit) as caught:
        _common.client_for(module)
    return plain(caught.value.result["msg"])


# --- connection options --------------------------------------------------------------


def test_missing_client_key_file_shows_the_path(pki, tmp_path):
    missing = str(tmp_path / "nowhere" / "client.key")
    msg = client_error(params_for(pki, client_key=missing))
    assert msg == f"Cannot read client_key '{missing}': No such file or directory; set client_key to a readable PEM file."


def test_client_key_path_is_not_no_log_but_content_and_passphrase_are():
    spec = _common.CONNECTION_ARGSPEC
    assert spec["client_key"]["no_log"] is False
    assert spec["client_key_content"]["no_log"] is True
    assert spec["client_key_passphrase"]["no_log"] is True


def test_private_key_given_as_client_cert(pki):
    key = pki["paths"]["root_key"]
    msg = client_error(params_for(pki, client_cert=key))
    assert msg == (f"client_cert {key} holds a private key, not a PEM certificate: set client_cert to the CA or delegation "
                   "certificate that signs the commands; give that file as client_key.")


def test_junk_server_ca(pki):
    junk = pki["paths"]["junk"]
    msg = client_error(params_for(pki, server_ca=junk))
    assert msg == (f"server_ca {junk} holds no PEM data, not a PEM certificate: set server_ca to the CA certificate that "
                   "signed the albatross server's certificate.")


def test_certificate_given_as_client_key(pki):
    cert = pki["paths"]["server_cert"]
    msg = client_error(params_for(pki, client_key=cert))
    assert msg == f"client_key {cert} holds a certificate, not a PEM private key: set client_key to the key of client_cert."


def test_key_that_does_not_match(pki):
    msg = client_error(params_for(pki, client_key=pki["paths"]["other_key"]))
    assert msg.startswith(f"client_cert {pki['paths']['root_cert']} cannot sign albatross commands: client_key does not "
                          "match the certificate CN=root")


def test_server_certificate_is_not_a_signing_ca(pki):
    # A leaf (not a CA) cannot sign per-command certificates.
    server, key = certs.make_server_cert(pki["root"], pki["root_key"])
    problem = certs.signing_problem([server], key)
    assert problem == ("CN=server is not a CA (basicConstraints CA:TRUE is missing), so it cannot sign the per-command "
                       "certificates; give the root CA or a delegation CA")


@pytest.mark.parametrize("shift, expected", [
    (datetime.timedelta(days=400), "the certificate CN=root expired on {end} (valid from {start} to {end}); renew it or use a valid one"),
    (-datetime.timedelta(days=1), "the certificate CN=root is not yet valid: valid from {start} to {end}, and it is {now} now; "
                                  "wait, or check the clock of the controller"),
])
def test_expired_or_future_delegation_is_reported_with_dates(pki, shift, expected):
    root = pki["root"]
    start, end = root.not_valid_before_utc, root.not_valid_after_utc
    now = (start if shift.days < 0 else end) + shift
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    problem = certs.signing_problem([root], pki["root_key"], now)
    assert problem == expected.format(start=start.strftime(fmt), end=end.strftime(fmt), now=now.strftime(fmt))


def test_expired_delegation_fails_before_connecting(pki, tmp_path):
    # A delegation CA that expired a second ago: refused on the controller, nothing sent.
    root, root_key = pki["root"], pki["root_key"]
    key = certs.generate_key()
    now = datetime.datetime.now(UTC)
    expired = (
        certs._builder("alice", root.subject, key.public_key(), now - datetime.timedelta(days=2), now - datetime.timedelta(seconds=1))
        .add_extension(certs.x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, None)
    )
    cert_file, key_file = tmp_path / "alice.pem", tmp_path / "alice.key"
    cert_file.write_bytes(certs.cert_to_pem(expired) + certs.cert_to_pem(root))
    key_file.write_bytes(certs.key_to_pem(key))
    msg = client_error(params_for(pki, client_cert=str(cert_file), client_key=str(key_file), server="127.0.0.1:9"))
    assert msg.startswith(f"client_cert {cert_file} cannot sign albatross commands: the certificate CN=alice expired on ")
    assert "renew it or use a valid one" in msg and "(CN '.')" not in msg


@pytest.mark.parametrize("server, reason", [
    ("127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:http", "the port must be a number from 1 to 65535"),
    ("[::1", "missing ']'"),
])
def test_bad_port(pki, server, reason):
    msg = client_error(params_for(pki, server=server))
    assert msg == (f"Invalid albatross server address {server!r} ({reason}): set server to host[:port] or [IPv6]:port "
                   "(the port defaults to 1025).")
    assert "credentials" not in msg


@pytest.mark.parametrize("timeout", [0, -5, float("inf")])
def test_bad_timeout(pki, timeout):
    msg = client_error(params_for(pki, timeout=timeout))
    assert msg == f"timeout must be a number of seconds greater than 0 (for example 30), got {timeout!r}."


def test_plugins_use_the_same_wording(pki):
    with pytest.raises(Exception) as caught:
        _client.resolve_servers([{"server": "127.0.0.1:99999", "server_ca": "ca.pem", "client_cert": "c.pem", "client_key": "k.pem"}], {})
    assert str(caught.value) == ("servers[0]: invalid albatross server address '127.0.0.1:99999' (the port must be a number "
                                 "from 1 to 65535): set server to host[:port] or [IPv6]:port (the port defaults to 1025)")
    settings = _client.ServerSettings(name="alb1", server="127.0.0.1:1", server_ca=pki["paths"]["root_cert"],
                                      client_cert=pki["paths"]["root_key"], client_key=pki["paths"]["root_key"])
    with pytest.raises(Exception) as caught:
        _client.load_signer(settings)
    assert f"client_cert {pki['paths']['root_key']} holds a private key, not a PEM certificate" in plain(str(caught.value))


# --- talking to something that is not albatross ----------------------------------------


@pytest.fixture
def http_port():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_plain_http_port_is_not_tls(pki, http_port):
    client = _common.build_client(params_for(pki, server=f"127.0.0.1:{http_port}", timeout=5.0))
    with pytest.raises(AlbatrossConnectionError) as caught:
        client.unikernel_info()
    msg = _common.format_error("reading unikernels", caught.value, {"server": f"127.0.0.1:{http_port}"})
    assert plain(msg) == (f"Error reading unikernels on 127.0.0.1:{http_port}: albatross at 127.0.0.1:{http_port} did not "
                          "speak TLS (the port answered with another protocol, such as plain HTTP): set server to "
                          "host:port of albatross-tls-endpoint (default port 1025)")


def test_refused_connection_does_not_stutter(pki):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _common.build_client(params_for(pki, server=f"127.0.0.1:{port}", timeout=5.0))
    with pytest.raises(AlbatrossConnectionError) as caught:
        client.unikernel_info()
    msg = _common.format_error("reading unikernels", caught.value, {"server": f"127.0.0.1:{port}"})
    assert msg == f"Error reading unikernels on 127.0.0.1:{port}: cannot connect to albatross at 127.0.0.1:{port}: Connection refused"
    assert _client.describe_error(caught.value) == f"cannot connect to albatross at 127.0.0.1:{port}: Connection refused"


def test_bare_texts_still_get_a_prefix():
    assert _common.describe_error(AlbatrossConnectionError("connection refused")) == "cannot connect: connection refused"
    assert _common.describe_error(AuthenticationError("check the chain")) == "authentication failed: check the chain"


# --- images and their manifests --------------------------------------------------------


def test_not_an_elf_image():
    with pytest.raises(ValidationError) as caught:
        manifest.check_image(b"#!/bin/sh\necho hello\n", [], [], "image /srv/web.sh")
    assert str(caught.value) == ("image /srv/web.sh is not a solo5 unikernel (not an ELF file); give a unikernel built for "
                                 "the solo5 hvt or spt target")


def test_elf_without_manifest_and_other_target():
    with pytest.raises(ValidationError, match=r"^image_url https://x/y is a solo5 unikernel for the virtio target, which "
                                              r"albatross cannot run; give one built for hvt or spt$"):
        manifest.check_image(make_images.make_image(target="virtio"), [], [], "image_url https://x/y")


def test_devices_left_out_name_both_sides():
    image = fakes.make_image(blocks=("storage",), networks=("service",))
    with pytest.raises(ValidationError) as caught:
        manifest.check_image(image, [], [], "image /srv/web.hvt")
    assert str(caught.value) == (
        'block_devices does not match with the manifest of image /srv/web.hvt, which declares block devices "storage" '
        "while the task gives no block devices; "
        'network_interfaces does not match with the manifest of image /srv/web.hvt, which declares network interfaces '
        '"service" while the task gives no network interfaces; give exactly the device names the image declares')


def test_devices_given_but_manifest_declares_none():
    with pytest.raises(ValidationError) as caught:
        manifest.check_image(fakes.make_image(), [], ["service"], "image /srv/hello.hvt")
    assert str(caught.value) == (
        "network_interfaces does not match with the manifest of image /srv/hello.hvt, which declares no network "
        'interfaces while the task gives network interfaces "service"; give exactly the device names the image declares')


def test_unikernel_module_names_the_image_not_the_devices(tmp_path):
    script = tmp_path / "web.sh"
    script.write_bytes(b"#!/bin/sh\n")
    result = fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, fakes.FakeClient(), {"name": "web", "image": str(script)})
    assert result["failed"]
    assert plain(result["msg"]) == (f"Error checking the image of unikernel web: image {script} is not a solo5 unikernel "
                                    "(not an ELF file); give a unikernel built for the solo5 hvt or spt target")


# --- unikernel options -----------------------------------------------------------------


@pytest.mark.parametrize("codes, text", [
    ([999], "restart_exit_codes: 999 is not an exit code; exit codes are 0 to 255"),
    ([-1], "restart_exit_codes: -1 is not an exit code; exit codes are 0 to 255"),
])
def test_restart_exit_codes_out_of_range(codes, text):
    with pytest.raises(ValidationError) as caught:
        model.check_exit_codes(codes)
    assert str(caught.value) == text
    assert model.check_exit_codes([255, 0, 1, 1]) == (0, 1, 255)


def test_unikernel_module_refuses_exit_code_999_before_anything(tmp_path):
    client = fakes.FakeClient()
    image = tmp_path / "hello.hvt"
    image.write_bytes(fakes.make_image())
    result = fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, client,
                       {"name": "web", "image": str(image), "fail_behaviour": "restart", "restart_exit_codes": [999]})
    assert result["failed"] and not client.mutations()
    assert result["msg"] == ("Error validating unikernel web: restart_exit_codes: 999 is not an exit code; exit codes are "
                             "0 to 255")


def test_arguments_too_long():
    model.check_arguments(["x" * (model.MAX_ARGUMENTS_BYTES - 1)])
    with pytest.raises(ValidationError) as caught:
        model.check_arguments(["--data=" + "x" * 70000, "--port=80"])
    assert str(caught.value) == ("arguments: 2 arguments take 70018 bytes, more than the 8192 bytes a unikernel's command "
                                 "line can carry; shorten them or pass the bulk another way (for example on a block device)")


# --- liveliness_check ------------------------------------------------------------------


@pytest.mark.parametrize("url, problem", [
    ("10.0.0.2:8080/health", "http[0]: url '10.0.0.2:8080/health' has no scheme; write it with http:// or https://, "
                             "like http://10.0.0.2:8080/health"),
    ("ftp://10.0.0.2/", "http[0]: url 'ftp://10.0.0.2/' has the scheme ftp; HTTP checks take http:// or https:// URLs"),
    ("http:///health", "http[0]: url 'http:///health' has no host; write it like http://10.0.0.2:8080/health"),
    ("http://10.0.0.2:99999/", "http[0]: url 'http://10.0.0.2:99999/' is not a valid URL; write it like http://10.0.0.2:8080/health"),
])
def test_liveliness_url_is_validated_up_front(url, problem):
    checks, errors = parse_checks({"http": [{"url": url}], "retries": 0, "delay": 0, "timeout": 1})
    assert checks == [] and errors == [problem]


def test_option_error_is_a_validation_error():
    # Callers that catch ValidationError (nothing was sent) keep working.
    assert issubclass(OptionError, ValidationError)
    assert transport.not_tls_message("h:1").startswith("albatross at h:1 did not speak TLS")


def test_bad_tenant_path_names_the_option(pki):
    msg = client_error(params_for(pki, path="-alice"))
    assert msg == ("path '-alice' cannot be used: invalid path: invalid label (only [a-zA-Z0-9-.] allowed, 1 to 63 chars).")
