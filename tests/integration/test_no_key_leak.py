# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No key material at -vvvv: private keys and passphrases never reach any output.

Real ansible-playbook and ansible-inventory runs at -vvvv (ANSIBLE_DEBUG off, a log file
on) against the test server use the client key as a file and as content, plain and
encrypted with a passphrase, and the certificate module makes a delegation key with an
encrypted issuer key. Afterwards stdout, stderr, the log file and the task results must
hold no line of the PEM body of any private key involved and not the passphrase. File
paths are not secrets and may appear.
"""

from __future__ import annotations

import glob
import json
import os
import secrets

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_ansible, run_playbook

pytestmark = pytest.mark.integration

# Short trailing PEM lines ("AbC=") could occur by chance; every full line is 64 characters.
MIN_LINE = 20

PLAYBOOK = """
- name: Key material at -vvvv
  hosts: localhost
  gather_facts: false
  vars:
    conn: &conn
      server: "{{ albatross_server }}"
      server_ca: "{{ albatross_server_ca }}"
      client_cert: "{{ albatross_client_cert }}"
  tasks:
    - name: Info, key file
      unikernels.albatross.unikernel_info:
        <<: *conn
        client_key: "{{ key_file }}"

    - name: Info, key content
      unikernels.albatross.unikernel_info:
        <<: *conn
        client_key_content: "{{ key_content }}"

    - name: Info, encrypted key file
      unikernels.albatross.unikernel_info:
        <<: *conn
        client_key: "{{ encrypted_key_file }}"
        client_key_passphrase: "{{ passphrase }}"

    - name: Info, encrypted key content
      unikernels.albatross.unikernel_info:
        <<: *conn
        client_key_content: "{{ encrypted_key_content }}"
        client_key_passphrase: "{{ passphrase }}"

    - name: Volume, encrypted key content
      unikernels.albatross.block:
        <<: *conn
        client_key_content: "{{ encrypted_key_content }}"
        client_key_passphrase: "{{ passphrase }}"
        name: leakcheck
        size: 1

    - name: Volume removed, key content
      unikernels.albatross.block:
        <<: *conn
        client_key_content: "{{ key_content }}"
        name: leakcheck
        state: absent

    - name: Wrong passphrase (fails, and must not echo what it got)
      unikernels.albatross.unikernel_info:
        <<: *conn
        client_key_content: "{{ encrypted_key_content }}"
        client_key_passphrase: "{{ passphrase }}-wrong"
      ignore_errors: true

    - name: Delegation key, encrypted issuer key
      unikernels.albatross.certificate:
        kind: delegation
        path: "{{ pki }}/tenant.pem"
        key_path: "{{ pki }}/tenant.key"
        common_name: tenant
        issuer_cert: "{{ albatross_client_cert }}"
        issuer_key: "{{ encrypted_key_file }}"
        issuer_key_passphrase: "{{ passphrase }}"
        policy:
          unikernels: 1
          memory: 64
          cpuids: [0]
          bridges: [service]

    - name: Info as the delegation, key content
      unikernels.albatross.unikernel_info:
        server: "{{ albatross_server }}"
        server_ca: "{{ albatross_server_ca }}"
        client_cert: "{{ pki }}/tenant.pem"
        client_key_content: "{{ lookup('file', pki ~ '/tenant.key') }}"
"""


def pem_body_lines(text: str) -> set:
    """The base64 lines of every private key block (plain or encrypted) in ``text``."""
    lines, inside = set(), False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN") and "PRIVATE KEY" in line:
            inside = True
        elif line.startswith("-----END"):
            inside = False
        elif inside and len(line) >= MIN_LINE and ":" not in line:
            lines.add(line)
    return lines


def private_key_lines(*folders: str) -> dict:
    """PEM body line -> file, for every file below ``folders`` that holds a private key."""
    found = {}
    for folder in folders:
        for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True):
            if not os.path.isfile(path) or os.path.getsize(path) > 1 << 20:
                continue
            with open(path, "rb") as handle:
                text = handle.read().decode("ascii", errors="replace")
            if "PRIVATE KEY-----" in text:
                found.update((line, path) for line in pem_body_lines(text))
    return found


def leaks(text: str, secrets_found: dict, passphrase: str) -> list:
    found = sorted({path for line, path in secrets_found.items() if line in text})
    if passphrase in text:
        found.append("the passphrase")
    return found


@pytest.fixture
def keys(server, tmp_path):
    """The test server's client key as a file and content, and an encrypted copy (file, content, passphrase)."""
    passphrase = "pp-" + secrets.token_hex(12)
    with open(server.client_key, "rb") as handle:
        key_pem = handle.read()
    encrypted = certs.key_to_pem(certs.load_private_key(key_pem), passphrase.encode())
    assert b"ENCRYPTED" in encrypted
    encrypted_file = tmp_path / "client-encrypted.key"
    encrypted_file.write_bytes(encrypted)
    pki = tmp_path / "pki"
    pki.mkdir()
    return {
        "key_file": str(server.client_key), "key_content": key_pem.decode(),
        "encrypted_key_file": str(encrypted_file), "encrypted_key_content": encrypted.decode(),
        "passphrase": passphrase, "pki": str(pki),
    }


def _outputs(*paths: str) -> str:
    texts = []
    for path in paths:
        for name in glob.glob(path, recursive=True):
            if os.path.isfile(name):
                with open(name, "rb") as handle:
                    texts.append(handle.read().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def test_playbook_at_vvvv_shows_no_key_material(server, keys, tmp_path):
    playbook = tmp_path / "leak.yml"
    playbook.write_text(PLAYBOOK)
    log = tmp_path / "ansible.log"
    extra = dict(keys, albatross_server=server.address, albatross_server_ca=str(server.server_ca),
                 albatross_client_cert=str(server.client_cert))
    runs = tmp_path / "runs"
    result = run_playbook(str(playbook), runs, extra_vars=extra, prefix=(),
                          env={"ANSIBLE_LOG_PATH": str(log), "ANSIBLE_VERBOSITY": "4", "ANSIBLE_DEBUG": "0"})
    assert result.returncode == 0, result.output[-6000:]
    for task in ("Info, key file", "Info, key content", "Info, encrypted key file", "Info, encrypted key content",
                 "Volume, encrypted key content", "Volume removed, key content", "Delegation key, encrypted issuer key",
                 "Info as the delegation, key content"):
        assert result.status(task) == "ok", (task, result[task])
    assert result.status("Wrong passphrase (fails, and must not echo what it got)") == "failed"
    # -vvvv output (module arguments, collection loading) and a log file were written.
    assert "task path:" in result.output and "Loading collection" in result.output
    assert os.path.getsize(log) > 0
    secret_lines = private_key_lines(str(tmp_path), str(server.state_dir))
    # The client key, its encrypted copy, the new delegation key and the server's own key.
    assert len(set(secret_lines.values())) >= 4, sorted(set(secret_lines.values()))
    # The check finds key material however it would be printed (raw, JSON, repr).
    with open(os.path.join(keys["pki"], "tenant.key"), encoding="ascii") as handle:
        delegation_key = handle.read()
    for shown in (keys["key_content"], keys["encrypted_key_content"], delegation_key):
        for form in (shown, json.dumps(shown), repr(shown)):
            assert leaks(form, secret_lines, keys["passphrase"]), form[:40]
    assert leaks(json.dumps({"pass": keys["passphrase"]}), {}, keys["passphrase"])
    outputs = result.output + _outputs(str(log), str(runs / "**" / "results.jsonl"))
    assert leaks(outputs, secret_lines, keys["passphrase"]) == []


def test_inventory_at_vvvv_shows_no_key_material(server, keys, tmp_path):
    common = {"server": server.address, "server_ca": str(server.server_ca), "client_cert": str(server.client_cert)}
    config = {
        "plugin": "unikernels.albatross.albatross",
        "timeout": 10,
        "servers": [
            dict(common, name="keyfile", client_key=keys["key_file"]),
            dict(common, name="keycontent", client_key_content=keys["encrypted_key_content"],
                 client_key_passphrase=keys["passphrase"]),
        ],
    }
    path = tmp_path / "leak.albatross.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = tmp_path / "inventory.log"
    proc = run_ansible("ansible-inventory", "-i", str(path), "--list", "-vvvv",
                       env={"ANSIBLE_LOG_PATH": str(log), "ANSIBLE_DEBUG": "0"})
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    hosts = data["albatross_servers"]["hosts"]
    assert sorted(hosts) == ["keycontent", "keyfile"]
    assert all(data["_meta"]["hostvars"][name]["albatross_reachable"] for name in hosts)
    secret_lines = private_key_lines(str(tmp_path), str(server.state_dir))
    assert leaks(proc.stdout + proc.stderr + _outputs(str(log)), secret_lines, keys["passphrase"]) == []
