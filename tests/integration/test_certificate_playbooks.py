# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""certificate through the real ansible-playbook: a whole PKI, then a server started with it."""

from __future__ import annotations

import os
import secrets
import stat

import pytest

from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import start_server
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_playbook

pytestmark = pytest.mark.integration

TASKS = ("Root CA", "Server certificate", "Delegation")


def test_certificate_pki_and_use(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    tenant = "t" + secrets.token_hex(3)
    extra = {"pki": str(pki), "tenant": tenant, "tenant_memory": 256}

    first = run_playbook("certificate_pki.yml", tmp_path, extra)
    assert first.returncode == 0, first.output[-4000:]
    for task in TASKS:
        assert first[task + " (check)"]["changed"] is True, task
        assert first[task + " (check)"]["serial"] is None
        assert first[task]["changed"] is True and first[task]["regenerated"] is True, task
        assert first[task]["diff"]["before"] == {}
    assert first["Server certificate"]["key_type"] == "p256" and first["Server certificate"]["common_name"] == "server"
    delegation = first["Delegation"]
    assert delegation["policy"] == {"unikernels": 2, "memory": 256, "block": 50, "cpuids": [0], "bridges": ["service"]}
    assert delegation["diff"]["after"]["policy"] == delegation["policy"]
    assert delegation["issuer"] == "CN=albatross-it-ca"
    assert first["Sub-delegation"]["changed"] is True
    for key in ("ca.key", "server.key", tenant + ".key", tenant + "-web.key"):
        assert stat.S_IMODE(os.stat(pki / key).st_mode) == 0o600, key
    assert (pki / (tenant + "-web.pem")).read_text().count("BEGIN CERTIFICATE") == 2

    second = run_playbook("certificate_pki.yml", tmp_path, extra)
    assert second.returncode == 0, second.output[-4000:]
    for task in TASKS + ("Sub-delegation",):
        assert second[task]["changed"] is False, task
        assert second[task]["serial"] == first[task]["serial"]
    for task in TASKS:
        assert second[task + " (check)"]["changed"] is False, task

    tenant_pem = (pki / (tenant + ".pem")).read_bytes()
    info = start_server(tmp_path / "server", ca_cert=str(pki / "cacert.pem"), cert=str(pki / "server.pem"),
                        key=str(pki / "server.key"))
    try:
        used = run_playbook("certificate_use.yml", tmp_path, dict(extra, albatross_server=info.address))
    finally:
        info.stop()
    assert used.returncode == 0, used.output[-4000:]
    assert used["Volumes as the tenant"]["block"] == {"name": tenant + ":tenantdisk", "size": 10, "active": False}
    assert used["Volumes as the tenant's sub-path"]["blocks"] == []
    policies = {p["path"]: p for p in used["Policies as root"]["policies"]}
    assert policies[tenant]["memory"] == 256 and policies[tenant]["block"] == 50
    assert policies[tenant + ":web"]["memory"] == 64
    refused = used["Changed policy with regenerate=fail refused"]
    assert used.status("Changed policy with regenerate=fail refused") == "failed"
    assert "regenerate=fail" in refused["msg"] and "policy" in refused["msg"]
    too_big = used["Policy larger than the issuer's refused"]
    assert used.status("Policy larger than the issuer's refused") == "failed"
    assert "exceeds the policy of issuer_cert" in too_big["msg"]
    assert not (pki / (tenant + "-big.pem")).exists() and not (pki / (tenant + "-big.key")).exists()
    assert (pki / (tenant + ".pem")).read_bytes() == tenant_pem
