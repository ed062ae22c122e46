# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet module's volumes and the write-in-progress markers of the block module."""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils import _fleet
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import marker_label
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules import unikernel_fakes as fakes


def run(client, check_mode=False, **args):
    return fakes.run(_fleet.MODULE_SPEC, _fleet.run_module, client, args, check_mode=check_mode)


def block_calls(client):
    return [(c[0], c[1][0]) for c in client.calls if c[0] in ("block_add", "block_set", "block_remove")]


def test_fleet_volume_data_is_written_under_a_marker(tmp_path):
    (tmp_path / "seed.img").write_bytes(b"seed")
    client = fakes.FakeClient()
    result = run(client, volumes=[{"name": "data", "size": 4, "data": str(tmp_path / "seed.img")}])
    assert result["plan"] == [{"kind": "volume", "name": "data", "action": "created"}] and not result.get("failed"), result
    assert block_calls(client) == [("block_add", "pending-data.data"), ("block_add", "data"), ("block_set", "data"),
                                   ("block_remove", "pending-data.data")]
    assert set(client.volumes) == {"data"}


def test_fleet_repairs_an_interrupted_write(tmp_path):
    (tmp_path / "seed.img").write_bytes(b"seed")
    client = fakes.FakeClient()
    client.volumes.update({"data": (4, b"se"), "pending-data.data": (1, b"")})
    result = run(client, prune=True, volumes=[{"name": "data", "size": 4, "data": str(tmp_path / "seed.img")}])
    assert result["plan"] == [{"kind": "volume", "name": "data", "action": "data_written"}], result
    assert "volume data: volume :data holds incomplete data" in result["warnings"][0]
    assert client.volumes == {"data": (4, b"seed")}
    assert not run(client, prune=True, volumes=[{"name": "data", "size": 4, "data": str(tmp_path / "seed.img")}])["changed"]


def test_prune_keeps_markers_of_kept_volumes_and_removes_the_others():
    long = "v" * 60
    client = fakes.FakeClient()
    client.volumes.update({
        "keep": (1, b""), "pending-data.keep": (1, b""),      # listed: its item decides (here: no data, so a warning)
        "drop": (1, b""), "pending-data.drop": (1, b""),      # not listed: removed with its marker
        "pending-data.gone": (1, b""),                        # orphan: removed
        marker_label(long): (1, b""),                          # orphan of a long label: removed
        "pending-data.later": (1, b""),                       # marker of a listed volume not created yet: kept for its item
    })
    args = {"prune": True, "volumes": [{"name": "keep"}, {"name": "later", "size": 1}]}
    plan = run(client, check_mode=True, **args)
    assert client.mutations() == []
    real = run(client, **args)
    assert real["plan"] == plan["plan"] and not real.get("failed"), real
    assert sorted(p["name"] for p in real["plan"] if p["action"] == "removed") == sorted(["drop", marker_label(long), "pending-data.gone"])
    assert sorted(client.volumes) == ["keep", "later", "pending-data.keep"]
    assert any("pending-data.keep" in w for w in real["warnings"])
    removed = [name for kind, name in block_calls(client) if kind == "block_remove"]
    assert removed.index("drop") < removed.index("pending-data.drop")  # the volume before its marker
