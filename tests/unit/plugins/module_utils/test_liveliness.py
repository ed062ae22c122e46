# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Liveliness checks against real loopback services: HTTP(S), dnsmasq, TCP."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._liveliness import (
    DnsCheck,
    HttpCheck,
    LivelinessError,
    TcpCheck,
    run_check,
    run_checks,
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

    def do_GET(self):  # noqa: N802
        server = self.server
        server.hits[self.path] = server.hits.get(self.path, 0) + 1
        if self.path == "/ok":
            self._send(200, b"hello\nversion: v2\n")
        elif self.path == "/fail":
            self._send(500, b"broken")
        elif self.path == "/redirect":
            self._send(302, headers={"Location": "/ok"})
        elif self.path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif self.path == "/flaky":
            self._send(200 if server.hits[self.path] >= 3 else 503, b"flaky")
        elif self.path == "/header":
            self._send(200 if self.headers.get("X-Token") == "secret" else 403)
        else:
            self._send(404, b"not found")

    do_HEAD = do_GET


def _serve(context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hits = {}
    server.handle_error = lambda request, address: None  # clients that reject the TLS certificate reset
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


@pytest.fixture
def http_server():
    server = _serve()
    yield "http://127.0.0.1:%d" % server.server_address[1], server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_path), str(key_path))
    server = _serve(context)
    yield "https://127.0.0.1:%d" % server.server_address[1], str(cert_path)
    server.shutdown()
    server.server_close()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
        return port


@pytest.fixture(scope="module")
def dnsmasq():
    binary = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if shutil.os.path.exists("/usr/sbin/dnsmasq") else None)
    if binary is None:
        pytest.skip("dnsmasq is not installed (Debian package dnsmasq); the DNS checks need a real DNS server")
    port = _free_port()
    proc = subprocess.Popen([
        binary, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
        "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % port, "--local=/example.test/",
        "--address=/web.example.test/127.0.0.2",
        "--host-record=multi.example.test,127.0.0.3", "--host-record=multi.example.test,127.0.0.4",
        "--host-record=v6.example.test,::1",
        "--txt-record=txt.example.test,hello world",
        "--cname=alias.example.test,multi.example.test",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail("dnsmasq exited: %s" % proc.stderr.read().decode(errors="replace"))
            ok = run_check(DnsCheck("127.0.0.1", "web.example.test", port=port, timeout=0.2), 0.2)[0]
            if ok:
                break
            if time.monotonic() > deadline:
                pytest.fail("dnsmasq did not answer")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_http_ok_and_body(http_server):
    url = http_server[0]
    assert run_check(HttpCheck(url + "/ok"), 2) == (True, "status 200 OK")
    ok, detail = run_check(HttpCheck(url + "/ok", body_regex=r"^version: v2$"), 2)
    assert ok and "matches" in detail
    ok, detail = run_check(HttpCheck(url + "/ok", body_regex=r"version: v3"), 2)
    assert not ok and detail == "status 200, body does not match 'version: v3'"


def test_http_status(http_server):
    url = http_server[0]
    assert run_check(HttpCheck(url + "/fail"), 2) == (False, "status 500 Internal Server Error, expected 200")
    assert run_check(HttpCheck(url + "/fail", status_code=(500, 503)), 2)[0]
    assert run_check(HttpCheck(url + "/redirect"), 2) == (True, "status 200 OK")
    ok, detail = run_check(HttpCheck(url + "/redirect", follow_redirects=False), 2)
    assert not ok and detail.startswith("status 302")
    assert run_check(HttpCheck(url + "/ok", method="HEAD"), 2)[0]
    assert not run_check(HttpCheck(url + "/header"), 2)[0]
    assert run_check(HttpCheck(url + "/header", headers=(("X-Token", "secret"),)), 2)[0]


def test_http_timeout_and_refused(http_server):
    url = http_server[0]
    started = time.monotonic()
    assert run_check(HttpCheck(url + "/slow"), 0.3) == (False, "timeout")
    assert time.monotonic() - started < 1.2
    ok, detail = run_check(HttpCheck("http://127.0.0.1:%d/" % _free_port()), 1)
    assert not ok and detail.startswith("connection failed")


def test_http_bad_regex(http_server):
    url = http_server[0]
    with pytest.raises(LivelinessError, match="invalid body_regex"):
        run_check(HttpCheck(url + "/ok", body_regex="("), 1)


def test_https(https_server):
    url, ca = https_server
    ok, detail = run_check(HttpCheck(url + "/ok"), 2)
    assert not ok and detail.startswith("TLS error")
    assert run_check(HttpCheck(url + "/ok", ca_path=ca), 2) == (True, "status 200 OK")


def test_dns_any_answer(dnsmasq):
    assert run_check(DnsCheck("127.0.0.1", "web.example.test", port=dnsmasq), 2) == (True, "answer 127.0.0.2")
    ok, detail = run_check(DnsCheck("127.0.0.1", "web.example.test", port=dnsmasq, tcp=True), 2)
    assert ok and detail == "answer 127.0.0.2"


def test_dns_expected(dnsmasq):
    check = DnsCheck("127.0.0.1", "multi.example.test", port=dnsmasq, expected=("127.0.0.4", "127.0.0.3"))
    assert run_check(check, 2)[0]
    ok, detail = run_check(DnsCheck("127.0.0.1", "multi.example.test", port=dnsmasq, expected=("127.0.0.3",)), 2)
    assert not ok and detail.startswith("answer ") and detail.endswith(", expected 127.0.0.3")
    assert run_check(DnsCheck("127.0.0.1", "v6.example.test", port=dnsmasq, type="AAAA", expected=("0:0::1",)), 2)[0]
    assert run_check(DnsCheck("127.0.0.1", "txt.example.test", port=dnsmasq, type="TXT", expected=("hello world",)), 2)[0]
    assert run_check(DnsCheck("127.0.0.1", "alias.example.test", port=dnsmasq, type="CNAME", expected=("MULTI.example.test.",)), 2)[0]


def test_dns_failures(dnsmasq):
    assert run_check(DnsCheck("127.0.0.1", "nx.example.test", port=dnsmasq), 2) == (False, "answer NXDOMAIN")
    assert run_check(DnsCheck("127.0.0.1", "txt.example.test", port=dnsmasq), 2) == (False, "no A record in the answer")
    started = time.monotonic()
    assert run_check(DnsCheck("127.0.0.1", "web.example.test", port=_free_port()), 0.3)[0] is False
    assert time.monotonic() - started < 2
    with pytest.raises(LivelinessError, match="IP address"):
        run_check(DnsCheck("localhost", "web.example.test"), 1)
    with pytest.raises(LivelinessError, match="invalid DNS query"):
        run_check(DnsCheck("127.0.0.1", "web.example.test", type="NOPE"), 1)


def test_tcp():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        assert run_check(TcpCheck("127.0.0.1", port), 1) == (True, "connected")
    ok, detail = run_check(TcpCheck("127.0.0.1", port), 1)
    assert not ok and detail.startswith("connection failed")


def test_rounds_until_pass(http_server):
    url, server = http_server
    sleeps = []
    result = run_checks([HttpCheck(url + "/flaky"), TcpCheck("127.0.0.1", server.server_address[1])], retries=5, delay=0.5,
                        timeout=30, sleep=sleeps.append)
    assert result.ok and result.rounds == 3 and result.failed_checks == []
    assert sleeps == [0.5, 0.5]
    assert len(result.attempts) == 6
    first = result.attempts[0]
    assert first["round"] == 1 and first["check"] == "http" and first["ok"] is False
    assert first["target"] == "HTTP GET %s/flaky" % url
    assert first["detail"] == "status 503 Service Unavailable, expected 200"
    assert first["timestamp"].endswith("Z")
    assert result.attempts[1]["check"] == "tcp" and result.attempts[1]["ok"]


def test_rounds_exhausted(http_server):
    url = http_server[0]
    result = run_checks([HttpCheck(url + "/fail")], retries=2, delay=0.01, timeout=30)
    assert not result.ok and result.rounds == 3
    assert result.failed_checks == ["HTTP GET %s/fail: status 500 Internal Server Error, expected 200" % url]
    assert run_checks([HttpCheck(url + "/fail")], retries=0, delay=5, timeout=30).rounds == 1


def test_overall_timeout(http_server):
    url = http_server[0]
    started = time.monotonic()
    result = run_checks([HttpCheck(url + "/slow", timeout=5)], retries=100, delay=0.1, timeout=0.8)
    took = time.monotonic() - started
    assert not result.ok and took < 1.5
    assert result.attempts[0]["detail"] == "timeout"


def test_no_checks():
    with pytest.raises(LivelinessError):
        run_checks([])


def test_describe():
    assert DnsCheck("::1", "x", port=5353, tcp=True).describe() == "DNS A x @[::1]:5353/tcp"
    assert TcpCheck("::1", 80).describe() == "TCP [::1]:80"
