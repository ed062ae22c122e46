# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decision logic of the policy and policy_info modules against a fake client."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _policy
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules.fake_albatross import FakeClient, run

ALICE = dict(path="alice", unikernels=5, memory=1024, block=2048, cpuids=[1, 0], bridges=["service"])


def policy(client, check_mode=False, **args):
    return run(_policy.run_policy, _policy.POLICY_SPEC, client, check_mode, **args)


def policy_info(client, **args):
    return run(_policy.run_policy_info, _policy.POLICY_INFO_SPEC, client, **args)


def test_create_check_then_real_then_unchanged():
    client = FakeClient()
    predicted = policy(client, check_mode=True, **ALICE)
    assert predicted["changed"] and client.mutations() == []
    expected = {"path": "alice", "unikernels": 5, "memory": 1024, "block": 2048, "cpuids": [0, 1], "bridges": ["service"]}
    assert predicted["policy"] == expected and predicted["diff"] == {"before": {}, "after": expected}
    result = policy(client, **ALICE)
    assert result["changed"] and result["policy"] == expected
    assert client.mutations() == [("install_policy", "alice", Policy(5, (0, 1), 1024, 2048, ("service",)))]
    same = dict(ALICE)
    same["cpuids"] = [0, 1, 1]
    again = policy(client, **same)
    assert not again["changed"] and len(client.mutations()) == 1


def test_partial_update_keeps_other_fields():
    client = FakeClient()
    policy(client, **ALICE)
    result = policy(client, path="alice", memory=2048)
    assert result["changed"] and result["diff"]["before"]["memory"] == 1024
    assert result["policy"] == dict(result["diff"]["before"], memory=2048)
    assert not policy(client, path="alice", memory=2048)["changed"]


def test_new_policy_needs_required_fields():
    client = FakeClient()
    result = policy(client, path="alice", memory=64)
    assert result["failed"] and "unikernels and cpuids are needed" in result["msg"]
    assert client.mutations() == []


@pytest.mark.parametrize("args, match", [
    (dict(ALICE, memory=8), "not usable"),
    (dict(ALICE, unikernels=0), "not usable"),
    (dict(ALICE, cpuids=[7]), "does not fit into the policy of client_cert"),
    (dict(ALICE, bridges=["other"]), "does not fit"),
    (dict(ALICE, memory=100000), "does not fit"),
    (dict(ALICE, path=":"), "path must name a path below"),
    (dict(ALICE, path="a::b"), "invalid"),
])
def test_bad_policies_change_nothing(args, match):
    client = FakeClient(signer_path=("ca",), signer_policy=Policy(10, (0, 1), 4096, 4096, ("service",)))
    result = policy(client, **args)
    assert result["failed"] and match in result["msg"], result["msg"]
    assert client.mutations() == []


def test_root_policy_is_not_checked_like_albatross():
    # vmmd skips the root policy in its checks; with a root CA there is nothing above.
    client = FakeClient()
    larger = dict(ALICE)
    larger["memory"] = 100000
    assert policy(client, **larger)["changed"]


def test_sub_path_checks_parent_and_children():
    client = FakeClient()
    result = policy(client, path="alice:web", unikernels=1, memory=64, cpuids=[0])
    assert result["failed"] and "path alice has no policy" in result["msg"]
    policy(client, **ALICE)
    result = policy(client, path="alice:web", unikernels=1, memory=4096, cpuids=[0])
    assert result["failed"] and "policy of alice" in result["msg"]
    assert policy(client, path="alice:web", unikernels=4, memory=512, cpuids=[0])["changed"]
    shrink = policy(client, path="alice", memory=256)
    assert shrink["failed"] and "sub-path alice:web" in shrink["msg"]


def test_children_together_exceeding_warns():
    client = FakeClient()
    policy(client, **ALICE)
    policy(client, path="alice:a", unikernels=3, memory=600, cpuids=[0])
    policy(client, path="alice:b", unikernels=3, memory=600, cpuids=[0])
    update = dict(ALICE)
    update["memory"] = 1200
    result = policy(client, **update)
    assert result["changed"]
    assert any("6 unikernels" in w for w in result["warnings"]) and not any("memory" in w for w in result["warnings"])


def test_absent():
    client = FakeClient()
    assert not policy(client, path="alice", state="absent")["changed"]
    policy(client, **ALICE)
    result = policy(client, path="alice", state="absent")
    assert result["failed"] and "remove-policy --path=alice" in result["msg"]


def test_policy_info():
    client = FakeClient()
    policy(client, **ALICE)
    policy(client, path="alice:web", unikernels=1, memory=64, cpuids=[0])
    paths = [p["path"] for p in policy_info(client)["policies"]]
    assert paths == [":", "alice", "alice:web"]
    sub = policy_info(client, path="alice:web")["policies"]
    assert sub == [{"path": "alice:web", "unikernels": 1, "memory": 64, "block": None, "cpuids": [0], "bridges": []}]
    assert policy_info(client, path="nobody")["policies"] == []


def test_new_sibling_exceeding_the_parent_warns():
    client = FakeClient()
    policy(client, **ALICE)
    first = policy(client, path="alice:a", unikernels=3, memory=600, cpuids=[0])
    assert first["changed"] and "warnings" not in first
    second = policy(client, path="alice:b", unikernels=2, memory=600, cpuids=[0], block=100)
    assert second["changed"]
    assert second["warnings"] == ["policy of alice (with the policy for alice:b): sub-policies together allow 1200 MB memory, "
                                  "more than the 1024 MB of this policy"]
    # the same warning on a run that changes nothing: the state still overcommits
    again = policy(client, path="alice:b", unikernels=2, memory=600, cpuids=[0], block=100)
    assert not again["changed"] and len(again["warnings"]) == 1


def test_top_level_siblings_are_compared_with_the_host():
    client = FakeClient()
    policy(client, path="alice", unikernels=5, memory=5000, cpuids=[0])
    result = policy(client, path="bob", unikernels=5, memory=5000, cpuids=[0])
    assert result["changed"]
    assert result["warnings"] == ["policy of : (with the policy for bob): sub-policies together allow 10000 MB memory, "
                                  "more than the 8192 MB of this policy"]


@pytest.mark.parametrize("args, match", [
    (dict(ALICE, bridges=["service", "nosuchbridge"]), "names bridge(s) nosuchbridge, which the albatross host does not have "
                                                       "(its bridges: service)"),
    (dict(ALICE, cpuids=[0, 9]), "names CPU id(s) 9, which the albatross host does not have (its CPU ids: 0, 1, 2, 3)"),
])
def test_bridges_and_cpus_the_host_lacks_are_refused(args, match):
    client = FakeClient()
    for check_mode in (True, False):
        result = policy(client, check_mode=check_mode, **args)
        assert result["failed"] and match in result["msg"], result["msg"]
    assert client.mutations() == []
