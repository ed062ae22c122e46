# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""liveliness_check through the real ansible-playbook, against a loopback HTTP server."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_playbook

pytestmark = pytest.mark.integration


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        status, body = (200, b"version: v2\n") if self.path == "/ok" else (500, b"broken\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_liveliness_check_playbook(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        extra = {"base_url": "http://127.0.0.1:%d" % server.server_address[1], "tcp_port": listener.getsockname()[1]}
        results = run_playbook("liveliness_check.yml", tmp_path, extra)
    finally:
        listener.close()
        server.shutdown()
        server.server_close()
    assert results.returncode == 0, results.output[-4000:]
    ok = results["HTTP ok"]
    assert ok["ok"] is True and ok["changed"] is False and [a["check"] for a in ok["attempts"]] == ["http", "tcp"]
    assert results["HTTP ok (check)"]["ok"] is True
    failing = results["HTTP failing"]
    assert results.status("HTTP failing") == "failed" and failing["rounds"] == 2 and failing["ok"] is False
    assert "status 500 Internal Server Error, expected 200" in failing["msg"]
    bad = results["Bad arguments"]
    assert results.status("Bad arguments") == "failed" and "one of the following is required: http, dns, tcp" in bad["msg"]
