# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet module against a fake albatross client."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _fleet, _unikernel
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules import unikernel_fakes as fakes


@pytest.fixture
def images(tmp_path):
    paths = {}
    for name, kwargs in {"hello": {}, "hello2": {"version": 2}, "blk": {"blocks": ("storage",)}}.items():
        path = tmp_path / f"{name}.hvt"
        path.write_bytes(fakes.make_image(**kwargs))
        paths[name] = str(path)
    return paths


def run(client, check_mode=False, **args):
    return fakes.run(_fleet.MODULE_SPEC, _fleet.run_module, client, args, check_mode=check_mode)


def desired(images):
    return {
        "volumes": [{"name": "data", "size": 4}],
        "unikernels": [
            {"name": "a", "image": images["hello"]},
            {"name": "b", "image": images["blk"], "block_devices": [{"name": "storage", "host_device": "data"}]},
        ],
    }


def test_fleet_create_then_noop_with_plan(images):
    client = fakes.FakeClient()
    plan = run(client, check_mode=True, max_parallel=2, **desired(images))
    assert client.mutations() == []
    assert plan["changed"]
    assert plan["plan"] == [{"kind": "volume", "name": "data", "action": "created"},
                            {"kind": "unikernel", "name": "a", "action": "created"},
                            {"kind": "unikernel", "name": "b", "action": "created"}]
    real = run(client, max_parallel=2, **desired(images))
    assert real["plan"] == plan["plan"] and not real.get("failed"), real
    assert client.mutations()[0] == "block_add" and sorted(client.mutations()[1:]) == ["unikernel_create"] * 2
    assert set(real["diff"]["after"]["unikernels"]) == {"a", "b"}
    again = run(client, **desired(images))
    assert not again["changed"] and again["plan"] == []


def test_fleet_prune_only_when_asked_and_only_own_path(images):
    client = fakes.FakeClient()
    fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, client, {"name": "old", "image": images["hello"]})
    client.volumes["junk"] = (1, b"")
    keep = run(client, unikernels=[{"name": "a", "image": images["hello"]}])
    assert "old" in client.unikernels
    assert [p["name"] for p in keep["plan"]] == ["a"]
    check = run(client, check_mode=True, prune=True, unikernels=[{"name": "a", "image": images["hello"]}])
    assert check["plan"] == [{"kind": "unikernel", "name": "old", "action": "destroyed"},
                             {"kind": "volume", "name": "junk", "action": "removed"}]
    assert "old" in client.unikernels
    run(client, prune=True, unikernels=[{"name": "a", "image": images["hello"]}])
    assert set(client.unikernels) == {"a"} and client.volumes == {}


def test_fleet_invalid_items_change_nothing(images):
    client = fakes.FakeClient()
    result = run(client, unikernels=[{"name": "a", "image": images["hello"]}, {"name": "a", "image": images["hello"]},
                                     {"name": "-x"}, {"name": "c", "bogus": 1}])
    assert result["failed"]
    assert "listed more than once" in result["msg"] and "invalid label" in result["msg"] and "bogus" in result["msg"]
    assert client.mutations() == []


def test_fleet_failure_skips_pruning(images):
    client = fakes.FakeClient()
    fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, client, {"name": "old", "image": images["hello"]})
    result = run(client, prune=True, unikernels=[{"name": "a", "image": images["hello"]},
                                                 {"name": "b", "image": images["hello"], "memory": 99999}])
    assert result["failed"] and "1 of 3 fleet items failed" in result["msg"] and "unikernel b" in result["msg"]
    assert "old" in client.unikernels and "a" in client.unikernels
    actions = {u["name"]: u["action"] for u in result["unikernels"]}
    assert actions == {"a": "created", "b": "failed", "old": "skipped"}


def test_fleet_replaces_like_unikernel_module(images):
    client = fakes.FakeClient()
    run(client, unikernels=[{"name": "a", "image": images["hello"], "arguments": ["--x"]}])
    result = run(client, unikernels=[{"name": "a", "image": images["hello2"]}])
    assert result["plan"] == [{"kind": "unikernel", "name": "a", "action": "replaced"}]
    assert result["unikernels"][0]["unikernel"]["arguments"] == ["--x"]


def test_fleet_check_mode_predicts_volume_freed_by_destroy(images):
    client = fakes.FakeClient()
    run(client, **desired(images))
    args = {"prune": True, "unikernels": [{"name": "a", "image": images["hello"]}]}
    check = run(client, check_mode=True, **args)
    assert not check.get("failed"), check
    assert check["plan"] == [{"kind": "unikernel", "name": "b", "action": "destroyed"},
                             {"kind": "volume", "name": "data", "action": "removed"}]
    assert "b" in client.unikernels and "data" in client.volumes
    assert run(client, **args)["plan"] == check["plan"]
    assert set(client.unikernels) == {"a"} and client.volumes == {}
