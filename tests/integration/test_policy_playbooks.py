# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""policy and policy_info through the real ansible-playbook against the test server."""

from __future__ import annotations

import secrets

import pytest

from ansible_collections.unikernels.albatross.tests.integration._playbooks import connection_vars, run_playbook

pytestmark = pytest.mark.integration


def test_policy_lifecycle(server, tmp_path):
    tenant = "t" + secrets.token_hex(3)
    res = run_playbook("policy_lifecycle.yml", tmp_path, dict(connection_vars(server), tenant=tenant))
    assert res.returncode == 0, res.output[-4000:]
    expected = {"path": tenant, "unikernels": 4, "memory": 512, "block": 100, "cpuids": [0, 1], "bridges": ["service"]}

    assert res["Absent before (nothing there)"]["changed"] is False
    assert res["Create (check)"]["changed"] is True and res["Create (check)"]["policy"] == expected
    assert res["Create"]["changed"] is True and res["Create"]["policy"] == expected
    assert res["Create"]["diff"] == {"before": {}, "after": expected}
    assert res["Create again"]["changed"] is False
    assert res["Create again (check)"]["changed"] is False

    assert res["More memory (check)"]["changed"] is True
    assert res["More memory"]["changed"] is True
    assert res["More memory"]["diff"]["before"]["memory"] == 512
    assert res["More memory"]["policy"] == dict(expected, memory=1024)
    assert res["More memory again"]["changed"] is False

    assert res["Sub-path"]["changed"] is True and "warnings" not in res["Sub-path"]
    for task in ("Create", "More memory", "Second sub-path overcommitting the tenant"):
        assert res[task + " (check)"]["diff"] == res[task]["diff"], task
        assert res[task + " (check)"]["policy"] == res[task]["policy"], task
    overcommit = "policy of %s (with the policy for %s:db): sub-policies together allow 1064 MB memory, more than the 1024 MB " \
                 "of this policy" % (tenant, tenant)
    for task in ("Second sub-path overcommitting the tenant (check)", "Second sub-path overcommitting the tenant"):
        assert res[task]["changed"] is True and res[task]["warnings"] == [overcommit], task
    bridge = res["Bridge the host does not have refused"]
    assert res.status("Bridge the host does not have refused") == "failed"
    assert "names bridge(s) nosuchbridge, which the albatross host does not have (its bridges: br0, service)" in bridge["msg"]
    big = res["Sub-path larger than its parent refused"]
    assert res.status("Sub-path larger than its parent refused") == "failed"
    assert "does not fit into the policy of %s" % tenant in big["msg"] and "memory" in big["msg"]
    assert res.status("Unusable policy refused") == "failed" and "not usable" in res["Unusable policy refused"]["msg"]
    absent = res["Absent of an existing policy refused"]
    assert res.status("Absent of an existing policy refused") == "failed"
    assert "remove-policy --path=%s" % tenant in absent["msg"]

    policies = res["Info of the tenant"]["policies"]
    assert [p["path"] for p in policies] == [tenant, tenant + ":db", tenant + ":web"]
    assert policies[0] == dict(expected, memory=1024)
    everything = [p["path"] for p in res["Info of everything"]["policies"]]
    assert everything[0] == ":" and tenant in everything
    assert tenant + ":big" not in everything and tenant + "x" not in everything
