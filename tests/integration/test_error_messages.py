# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors a user can act on, as ansible-playbook prints them, against the test server.

Each task makes one mistake seen in practice. The failure must be one sentence that names
the option, the value and the fix; nothing may have changed on the server; no Python
exception names, no "caused by" chains of our own, and no masked file paths.
"""

from __future__ import annotations

import datetime
import http.server
import os
import re
import threading

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.tests.integration._playbooks import connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import builder_web, client_for

pytestmark = pytest.mark.integration

EXCEPTION_NAMES = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Timeout)\b|Traceback")

PLAYBOOK = """
- name: Mistakes
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/unikernels.albatross.api:
      server: "{{ albatross_server }}"
      server_ca: "{{ albatross_server_ca }}"
      client_cert: "{{ albatross_client_cert }}"
      client_key: "{{ albatross_client_key }}"
  tasks:
    - name: Missing key file
      unikernels.albatross.unikernel_info:
        client_key: "{{ missing_key }}"
      ignore_errors: true

    - name: Key given as client_cert
      unikernels.albatross.unikernel_info:
        client_cert: "{{ albatross_client_key }}"
      ignore_errors: true

    - name: Expired delegation
      unikernels.albatross.unikernel_info:
        client_cert: "{{ expired_cert }}"
        client_key: "{{ expired_key }}"
      ignore_errors: true

    - name: Plain HTTP port
      unikernels.albatross.unikernel_info:
        server: "127.0.0.1:{{ http_port }}"
        timeout: 5
      ignore_errors: true

    - name: Bad port
      unikernels.albatross.unikernel_info:
        server: "127.0.0.1:99999"
      ignore_errors: true

    - name: Not an ELF image
      unikernels.albatross.unikernel:
        name: errmsg
        image: "{{ script }}"
      ignore_errors: true

    - name: Devices left out
      unikernels.albatross.unikernel:
        name: errmsg
        image: "{{ images_dir }}/net.hvt"
      ignore_errors: true

    - name: Exit code 999
      unikernels.albatross.unikernel:
        name: errmsg
        image: "{{ images_dir }}/hello.hvt"
        restart_exit_codes: [999]
      ignore_errors: true

    - name: Arguments too long
      unikernels.albatross.unikernel:
        name: errmsg
        image: "{{ images_dir }}/hello.hvt"
        arguments: ["--blob={{ 'x' * 70000 }}"]
      ignore_errors: true

    - name: URL without a scheme
      unikernels.albatross.liveliness_check:
        http:
          url: "127.0.0.1:{{ http_port }}/health"
        retries: 0
      ignore_errors: true

    - name: builder-web unavailable
      unikernels.albatross.unikernel:
        name: errmsg
        builder_web:
          url: "{{ builder_web_url }}"
          job: web
        timeout: 5
      ignore_errors: true

    - name: builder-web unavailable (lookup)
      ansible.builtin.debug:
        msg: "{{ lookup('unikernels.albatross.builder_web', 'web', url=builder_web_url, retries=0, timeout=5) }}"
      ignore_errors: true
"""


def _expired_delegation(server, tmp_path):
    """A delegation CA below the server's CA that expired a minute ago, and its key."""
    root = certs.load_certificates(open(server.client_cert, "rb").read())[0]
    root_key = certs.load_private_key(open(server.client_key, "rb").read())
    key = certs.generate_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        certs._builder("old", root.subject, key.public_key(), now - datetime.timedelta(days=30), now - datetime.timedelta(minutes=1))
        .add_extension(certs.x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, None)
    )
    cert_file, key_file = tmp_path / "old.pem", tmp_path / "old.key"
    cert_file.write_bytes(certs.cert_to_pem(cert))
    key_file.write_bytes(certs.key_to_pem(key))
    return str(cert_file), str(key_file), cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def http_port():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    httpd.log_message = lambda *args: None
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_mistakes_give_one_actionable_sentence(server, tmp_path, http_port):
    expired_cert, expired_key, expired_on = _expired_delegation(server, tmp_path)
    script = tmp_path / "web.sh"
    script.write_bytes(b"#!/bin/sh\necho hello\n")
    missing_key = str(tmp_path / "nowhere" / "client.key")
    web = builder_web(tmp_path, {"jobs": {"web": {"builds": []}}})
    web.set_failure({"status": 503})
    url = "http://%s:%d" % web.server_address[:2]
    playbook = tmp_path / "errors.yml"
    playbook.write_text(PLAYBOOK)
    try:
        results = run_playbook(str(playbook), tmp_path, dict(
            connection_vars(server), missing_key=missing_key, expired_cert=expired_cert, expired_key=expired_key,
            http_port=http_port, script=str(script), images_dir=server.images_dir, builder_web_url=url))
    finally:
        web.shutdown()
        web.server_close()
    msgs = {}
    for record in results.records:
        assert record["status"] == "failed", record
        msg = record["result"]["msg"]
        assert not EXCEPTION_NAMES.search(msg), msg
        assert "********" not in msg and "caused by" not in msg, msg
        msgs[record["task"]] = msg
    assert len(msgs) == 12, results.output[-4000:]

    assert msgs["Missing key file"] == (f"Cannot read client_key '{missing_key}': No such file or directory; "
                                        "set client_key to a readable PEM file.")
    assert msgs["Key given as client_cert"] == (
        f"client_cert {server.client_key} holds a private key, not a PEM certificate: set client_cert to the CA or "
        "delegation certificate that signs the commands; give that file as client_key.")
    assert msgs["Expired delegation"].startswith(
        f"client_cert {expired_cert} cannot sign albatross commands: the certificate CN=old expired on {expired_on} (valid from ")
    assert msgs["Plain HTTP port"] == (
        f"Error listing unikernels on 127.0.0.1:{http_port}: albatross at 127.0.0.1:{http_port} did not speak TLS (the port "
        "answered with another protocol, such as plain HTTP): set server to host:port of albatross-tls-endpoint "
        "(default port 1025)")
    assert msgs["Bad port"] == ("Invalid albatross server address '127.0.0.1:99999' (the port must be a number from 1 to "
                                "65535): set server to host[:port] or [IPv6]:port (the port defaults to 1025).")
    assert msgs["Not an ELF image"] == (f"Error checking the image of unikernel errmsg: image {script} is not a solo5 "
                                        "unikernel (not an ELF file); give a unikernel built for the solo5 hvt or spt target")
    assert msgs["Devices left out"] == (
        f"Error checking the image of unikernel errmsg: network_interfaces does not match with the manifest of image "
        f"{server.images_dir}/net.hvt, which declares network interfaces \"service\" while the task gives no network "
        "interfaces; give exactly the device names the image declares")
    assert msgs["Exit code 999"] == ("Error validating unikernel errmsg: restart_exit_codes: 999 is not an exit code; "
                                     "exit codes are 0 to 255")
    assert msgs["Arguments too long"] == (
        "Error validating unikernel errmsg: arguments: 1 arguments take 70008 bytes, more than the 8192 bytes a "
        "unikernel's command line can carry; shorten them or pass the bulk another way (for example on a block device)")
    assert msgs["URL without a scheme"] == (
        f"Invalid liveliness checks: http: url '127.0.0.1:{http_port}/health' has no scheme; write it with http:// or "
        f"https://, like http://127.0.0.1:{http_port}/health")
    assert msgs["builder-web unavailable"] == (
        f"Error reading builder-web job web (latest) at {url}: builder-web answered 503 Service Unavailable to "
        f"{url}/job/web/build/latest (4 attempts); it may be restarting or upgrading, try again later")
    assert msgs["builder-web unavailable (lookup)"].endswith(
        f"cannot look up the latest build of job web: builder-web answered 503 Service Unavailable to "
        f"{url}/job/web/build/latest (1 attempt); it may be restarting or upgrading, try again later")
    # Only Ansible's own wrapping of a failed lookup in task arguments may add "caused by" sections.
    assert results.output.count("<<< caused by >>>") <= 2, results.output
    # Nothing was created by any of the refused tasks.
    assert not [u for u in client_for(server).unikernel_info() if u.name.endswith("errmsg")]
    assert os.path.exists(server.client_key)
