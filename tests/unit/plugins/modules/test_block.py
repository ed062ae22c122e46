# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decision logic of the block, block_info and block_download modules against a fake client."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _block
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import CommandFailed
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import BlockDeviceInfo, UnikernelInfo
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules.fake_albatross import MB, ROOT_POLICY, FakeClient, run


MARKER = "pending-data.disk"


def block(client, check_mode=False, **args):
    return run(_block.run_block, _block.BLOCK_SPEC, client, check_mode, **args)


def info(client, **args):
    return run(_block.run_block_info, _block.BLOCK_INFO_SPEC, client, **args)


def download(client, check_mode=False, **args):
    return run(_block.run_block_download, _block.BLOCK_DOWNLOAD_SPEC, client, check_mode, **args)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.img"
    path.write_bytes(b"BLOCKDATA-0123456789\n")
    return str(path)


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_create_check_mode_then_real_then_unchanged():
    client = FakeClient()
    predicted = block(client, check_mode=True, name="Disk", size=2)
    assert predicted["changed"] and predicted["block"] == {"name": ":disk", "size": 2, "active": False}
    assert client.mutations() == []
    result = block(client, name="Disk", size=2)
    assert result["changed"] and result["block"] == {"name": ":disk", "size": 2, "active": False}
    assert result["diff"] == {"before": {}, "after": {"name": ":disk", "size": 2, "active": False}}
    assert client.mutations() == [("block_add", "disk", 2)]
    again = block(client, name="disk", size=2)
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]
    assert not block(client, name="disk")["changed"]  # size left out: not compared


def test_create_with_data(data):
    client = FakeClient()
    result = block(client, name="disk", size=1, data=data, compression=6)
    content = open(data, "rb").read()
    assert result["changed"] and client.volumes["disk"][1][:len(content)] == content
    assert result["diff"]["after"]["data_sha256"] == sha(content + bytes(MB - len(content)))
    assert ("block_set", "disk", len(content), 6) in client.calls
    # never (default): the data of an existing volume is left alone.
    client.volumes["disk"] = (1, bytes(MB))
    assert not block(client, name="disk", size=1, data=data)["changed"]


def test_size_required_to_create():
    client = FakeClient()
    result = block(client, name="disk")
    assert result["failed"] and "size" in result["msg"] and "disk" in result["msg"]
    assert client.mutations() == []


def test_data_larger_than_size_refused_before_sending(tmp_path):
    big = tmp_path / "big.img"
    big.write_bytes(bytes(MB + 1))
    client = FakeClient()
    result = block(client, name="disk", size=1, data=str(big))
    assert result["failed"] and "more than volume disk holds" in result["msg"]
    assert client.mutations() == []


def test_resize_refused_with_both_sizes():
    client = FakeClient()
    client.volumes["disk"] = (2, bytes(2 * MB))
    result = block(client, name="disk", size=4)
    assert result["failed"]
    assert ":disk has 2 MB" in result["msg"] and "4 MB" in result["msg"] and "cannot resize" in result["msg"]
    assert client.mutations() == []


def test_if_different_compares_sha256(data):
    client = FakeClient()
    content = open(data, "rb").read()
    client.volumes["disk"] = (1, content + bytes(MB - len(content)))
    result = block(client, name="disk", data=data, data_overwrite="if_different")
    assert not result["changed"] and result["diff"]["before"]["data_sha256"] == result["diff"]["after"]["data_sha256"]
    client.volumes["disk"] = (1, bytes(MB))
    predicted = block(client, check_mode=True, name="disk", data=data, data_overwrite="if_different")
    assert predicted["changed"] and client.mutations() == []
    assert predicted["diff"]["before"]["data_sha256"] == sha(bytes(MB))
    result = block(client, name="disk", data=data, data_overwrite="if_different")
    assert result["changed"]
    assert client.mutations() == [("block_add", MARKER, 1), ("block_set", "disk", len(content), 0), ("block_remove", MARKER)]
    assert not block(client, name="disk", data=data, data_overwrite="if_different")["changed"]


def test_always_overwrites(data):
    client = FakeClient()
    client.volumes["disk"] = (1, bytes(MB))
    assert block(client, name="disk", data=data, data_overwrite="always")["changed"]
    assert block(client, name="disk", data=data, data_overwrite="always")["changed"]
    assert [c[0] for c in client.mutations()] == ["block_add", "block_set", "block_remove"] * 2
    assert set(client.volumes) == {"disk"}


def in_use_client():
    client = FakeClient()
    client.volumes["disk"] = (1, bytes(MB))
    client.active.add("disk")
    client.unikernels = [UnikernelInfo(name=":web", block_devices=(BlockDeviceInfo("storage", "disk"),)),
                         UnikernelInfo(name="other:web2", block_devices=(BlockDeviceInfo("storage", "disk"),))]
    return client


@pytest.mark.parametrize("args", [
    {"state": "absent"},
    {"data_overwrite": "always"},
])
def test_in_use_refused_naming_the_unikernel(data, args):
    client = in_use_client()
    if "data_overwrite" in args:
        args = dict(args, data=data)
    for check_mode in (True, False):
        result = block(client, check_mode=check_mode, name="disk", **args)
        assert result["failed"] and "in use by unikernel :web;" in result["msg"] and "other:web2" not in result["msg"]
    assert client.mutations() == []


def test_in_use_if_different_warns_and_keeps_the_volume(data):
    # A playbook that creates a volume with data, then starts its unikernel, must run again unchanged.
    client = in_use_client()
    for check_mode in (True, False):
        result = block(client, check_mode=check_mode, name="disk", size=1, data=data, data_overwrite="if_different")
        assert not result.get("failed") and not result["changed"], result
        assert result["block"] == {"name": ":disk", "size": 1, "active": True}
        assert result["warnings"] == ["volume :disk is in use by unikernel :web, so its data was not compared with %s (albatross "
                                      "can neither read nor write a volume in use); stop or destroy that unikernel to update "
                                      "the data" % data]
    assert client.mutations() == [] and "block_dump" not in [c[0] for c in client.calls]


def test_absent():
    client = FakeClient()
    client.volumes["disk"] = (1, bytes(MB))
    predicted = block(client, check_mode=True, name="disk", state="absent")
    assert predicted["changed"] and "disk" in client.volumes
    result = block(client, name="disk", state="absent")
    assert result["changed"] and result["block"] is None and "disk" not in client.volumes
    assert result["diff"]["before"]["size"] == 1 and result["diff"]["after"] == {}
    assert not block(client, name="disk", state="absent")["changed"]


def test_absent_race_not_found_is_fine():
    client = FakeClient()
    client.volumes["disk"] = (1, bytes(MB))
    client.fail_next["block_remove"] = "remove block: not found"
    assert not block(client, name="disk", state="absent")["changed"]


def test_server_failure_is_reported():
    client = FakeClient()
    client.fail_next["block_add"] = "block device policy limit of 10 MB (used 0 MB) would be exceeded by the request (20 MB)"
    result = block(client, name="disk", size=20)
    assert result["failed"] and "creating volume disk" in result["msg"] and "policy limit" in result["msg"]


@pytest.mark.parametrize("args, match", [
    ({"name": "bad:name", "size": 1}, "invalid label"),
    ({"name": "disk", "size": 0}, "size must be at least 1"),
    ({"name": "disk", "size": 1, "compression": 10}, "compression must be between"),
    ({"name": "disk", "size": 1, "data": "/nonexistent/file"}, "cannot read data"),
])
def test_bad_input(args, match):
    client = FakeClient()
    result = block(client, **args)
    assert result["failed"] and match in result["msg"]
    assert client.mutations() == []


def test_block_info():
    client = in_use_client()
    client.volumes["zz"] = (3, b"")
    assert info(client)["blocks"] == [{"name": ":disk", "size": 1, "active": True, "data_pending": False},
                                      {"name": ":zz", "size": 3, "active": False, "data_pending": False}]
    assert info(client, name="zz")["blocks"] == [{"name": ":zz", "size": 3, "active": False, "data_pending": False}]
    assert info(client, name="missing") == {"changed": False, "blocks": [], "orphan_markers": []}


def test_block_download(tmp_path):
    client = FakeClient()
    content = b"hello" + bytes(MB - 5)
    client.volumes["disk"] = (1, content)
    dest = str(tmp_path / "disk.img")
    predicted = download(client, check_mode=True, name="disk", dest=dest)
    assert predicted["changed"] and not os.path.exists(dest)
    result = download(client, name="disk", dest=dest)
    assert result["changed"] and result["sha256"] == sha(content) and open(dest, "rb").read() == content
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    inode = os.stat(dest).st_ino
    again = download(client, name="disk", dest=dest)
    assert not again["changed"] and os.stat(dest).st_ino == inode
    assert not download(client, check_mode=True, name="disk", dest=dest)["changed"]
    assert download(client, name="disk", dest=dest, mode="0644")["changed"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o644
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_block_download_refusals(tmp_path):
    client = in_use_client()
    dest = str(tmp_path / "disk.img")
    result = download(client, name="disk", dest=dest)
    assert result["failed"] and "in use by unikernel :web" in result["msg"]
    result = download(client, name="missing", dest=dest)
    assert result["failed"] and "does not exist" in result["msg"]
    result = download(FakeClient(), name="x", dest=str(tmp_path / "no" / "x"))
    assert result["failed"]
    assert not os.path.exists(dest)


# --- interrupted writes: the write-in-progress marker ---------------------------------------


class Killed(BaseException):
    """The controller dies here (SIGKILL): nothing of the module runs any more."""


class CuttableClient(FakeClient):
    """A FakeClient that dies at the n-th mutation and checks the block limit of its path's policy.

    A block set that dies leaves what albatross leaves: the file recreated with part of the data,
    then zeros (vmmd takes the closed connection as the end of the stream).
    """

    def __init__(self, die_at: int | None = None, keep: int = 5) -> None:
        super().__init__()
        self.die_at = die_at
        self.keep = keep

    def _maybe_die(self) -> None:
        if self.die_at is not None and len(self.mutations()) == self.die_at:
            self.die_at = None
            raise Killed()

    def block_add(self, name, size_mb):
        self._maybe_die()
        limit = self.policies.get(tuple(self.path))
        used = sum(size for size, dummy in self.volumes.values())
        if limit is not None and name not in self.volumes and size_mb > limit.block - used:
            self._record("block_add", name, size_mb)
            raise CommandFailed("block device policy limit of %d MB (used %d MB) would be exceeded by the request (%d MB)"
                                % (limit.block, used, size_mb))
        return super().block_add(name, size_mb)

    def block_remove(self, name):
        self._maybe_die()
        return super().block_remove(name)

    def block_set(self, name, data, compression=0):
        if self.die_at is not None and len(self.mutations()) == self.die_at:
            content = data.read()
            self.calls.append(("block_set", name, len(content), compression))
            size = self.volumes[name][0]
            self.volumes[name] = (size, content[:self.keep] + bytes(size * MB - self.keep))
            self.die_at = None
            raise Killed()
        return super().block_set(name, data, compression)


def padded(path: str, size_mb: int = 1) -> bytes:
    content = open(path, "rb").read()
    return content + bytes(size_mb * MB - len(content))


def complete(client, label="disk", size_mb=1, path=None) -> bool:
    return label in client.volumes and client.volumes[label][1] == padded(path, size_mb)


def test_marker_names():
    from ansible_collections.unikernels.albatross.plugins.module_utils import _volume_marker as vm
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import validate_label
    assert vm.marker_label("disk") == "pending-data.disk" and vm.owner_of("pending-data.disk") == "disk"
    fifty, long1, long2 = "a" * 50, "b" * 63, "b" * 62 + "c"
    assert vm.marker_label(fifty) == "pending-data." + fifty and len(vm.marker_label(fifty)) == 63
    for label in (long1, long2, "x" * 51):
        marker = vm.marker_label(label)
        assert len(marker) == 63 and validate_label(marker) == marker and marker.startswith("pending-data-" + label[:37] + ".")
        assert vm.is_marker(marker) and vm.owner_of(marker) is None and vm.owner_of(marker, ["other", label]) == label
    assert vm.marker_label(long1) != vm.marker_label(long2)
    assert vm.marker_label(long1) == vm.marker_label(long1)  # deterministic: every run and controller finds the same one
    assert not vm.is_marker("disk") and not vm.is_marker("pending-database") and not vm.is_marker("pending")


def test_split_listing():
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Volume
    from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import split_listing
    long = "l" * 60
    listing = split_listing([Volume(":a", 1), Volume(":pending-data.a", 1), Volume(":b", 2), Volume(":pending-data.gone", 1),
                             Volume("t:a", 1), Volume("t:pending-data.b", 1), Volume(":" + long, 1),
                             Volume(":pending-data-" + long[:37] + ".000000000000", 1)])
    assert [v.name for v in listing.volumes] == [":a", ":b", "t:a", ":" + long]
    assert listing.pending == {":a"}
    orphans = [":pending-data-" + long[:37] + ".000000000000", ":pending-data.gone", "t:pending-data.b"]
    assert sorted(v.name for v in listing.orphans) == orphans


def test_create_with_data_writes_under_a_marker(data):
    client = CuttableClient()
    result = block(client, name="disk", size=1, data=data)
    assert result["changed"] and not result.get("warnings") and result["data_pending"] is False
    assert client.mutations() == [("block_add", MARKER, 1), ("block_add", "disk", 1),
                                  ("block_set", "disk", len(open(data, "rb").read()), 0), ("block_remove", MARKER)]
    assert set(client.volumes) == {"disk"} and complete(client, path=data)


def test_data_less_creation_needs_no_marker():
    client = CuttableClient()
    client.policies[()] = dataclasses.replace(ROOT_POLICY, block=2)
    assert block(client, name="disk", size=2)["changed"]
    assert client.mutations() == [("block_add", "disk", 2)]


@pytest.mark.parametrize("die_at", range(4))
@pytest.mark.parametrize("rerun_overwrite", ["never", "if_different", "always"])
def test_creation_killed_anywhere_is_repaired_by_the_next_run(data, die_at, rerun_overwrite):
    client = CuttableClient(die_at=die_at)
    with pytest.raises(Killed):
        block(client, name="disk", size=1, data=data)
    # what a SIGKILL leaves: no volume, the marker, or a volume with all of its data (never an unmarked partial volume)
    assert "disk" not in client.volumes or MARKER in client.volumes or complete(client, path=data)
    first = block(client, name="disk", size=1, data=data, data_overwrite=rerun_overwrite)
    assert first["changed"] and not first.get("failed"), first
    assert complete(client, path=data) and MARKER not in client.volumes
    assert "block_dump" not in [c[0] for c in client.calls]  # a marker means rewrite: no comparison needed
    if die_at == 0:
        assert not first.get("warnings")  # the killed run had changed nothing
    else:
        assert "did not finish" in first["warnings"][0] or "without the volume" in first["warnings"][0]
    again = block(client, name="disk", size=1, data=data, data_overwrite="never")
    assert not again["changed"] and not again.get("warnings")


def test_interrupted_always_is_repaired_by_a_never_run(data):
    client = CuttableClient(die_at=1)  # marker added, then killed during the block set
    client.volumes["disk"] = (1, b"\xff" * MB)
    with pytest.raises(Killed):
        block(client, name="disk", data=data, data_overwrite="always")
    assert MARKER in client.volumes and client.volumes["disk"][1][:5] == open(data, "rb").read()[:5]
    predicted = block(client, check_mode=True, name="disk", data=data)
    assert predicted["changed"] and predicted["warnings"] == [
        "volume :disk holds incomplete data: a data write of an earlier run did not finish (its write-in-progress marker "
        ":pending-data.disk is still on the server); the data of %s would be written again" % data]
    assert predicted["diff"]["before"]["data_pending"] is True and "data_pending" not in predicted["diff"]["after"]
    calls = len(client.calls)
    repaired = block(client, name="disk", data=data)
    assert [c[0] for c in client.mutations()[-2:]] == ["block_set", "block_remove"]  # the marker is there already
    assert client.mutations()[-1] == ("block_remove", MARKER) and len(client.calls) > calls
    assert repaired["changed"] and repaired["warnings"][0].endswith("was written again")
    assert repaired["diff"] == predicted["diff"] and complete(client, path=data)
    assert not block(client, name="disk", data=data)["changed"]


def test_marker_without_data_warns_and_is_not_silently_ok():
    client = CuttableClient()
    client.volumes["disk"] = (1, bytes(MB))
    client.volumes[MARKER] = (1, bytes(MB))
    result = block(client, name="disk", size=1)
    assert not result["changed"] and not result.get("failed") and result["data_pending"] is True
    assert result["warnings"] == [
        "volume :disk holds incomplete data: a data write of an earlier run did not finish (its write-in-progress marker "
        ":pending-data.disk is still on the server); run the task that writes its data again, or remove the marker (block "
        "name=pending-data.disk state=absent) if the content is fine as it is"]
    assert client.mutations() == []


def test_marker_on_a_volume_in_use_fails_naming_volume_and_unikernel(data):
    client = in_use_client()
    client.volumes[MARKER] = (1, bytes(MB))
    for check_mode in (True, False):
        for overwrite in ("never", "if_different", "always"):
            result = block(client, check_mode=check_mode, name="disk", data=data, data_overwrite=overwrite)
            assert result["failed"] and result["msg"] == (
                "volume :disk holds incomplete data: a data write of an earlier run did not finish (its write-in-progress "
                "marker :pending-data.disk is still on the server) and is in use by unikernel :web, so albatross cannot write "
                "the data again; stop or destroy that unikernel, then run this task again")
    assert client.mutations() == []


def test_orphan_marker_and_data_less_creation(data):
    client = CuttableClient()
    client.volumes[MARKER] = (1, bytes(MB))
    result = block(client, name="disk", size=2)
    assert result["changed"] and "without the volume" in result["warnings"][0]
    # the marker goes first: before the volume exists it vouches for nothing
    assert client.mutations() == [("block_remove", MARKER), ("block_add", "disk", 2)]
    assert set(client.volumes) == {"disk"}


def test_absent_removes_volume_then_marker_and_orphans():
    client = CuttableClient()
    client.volumes["disk"] = (1, bytes(MB))
    client.volumes[MARKER] = (1, bytes(MB))
    predicted = block(client, check_mode=True, name="disk", state="absent")
    assert predicted["changed"] and client.mutations() == []
    result = block(client, name="disk", state="absent")
    assert result["changed"] and client.mutations() == [("block_remove", "disk"), ("block_remove", MARKER)]
    assert result["diff"] == predicted["diff"] and result["diff"]["before"]["data_pending"] is True
    client.volumes[MARKER] = (1, bytes(MB))
    orphan = block(client, name="disk", state="absent")
    assert orphan["changed"] and orphan["diff"]["before"] == {"orphan_marker": ":pending-data.disk"} and client.volumes == {}
    assert not block(client, name="disk", state="absent")["changed"]


def test_absent_killed_between_volume_and_marker_leaves_an_orphan_only():
    client = CuttableClient(die_at=1)
    client.volumes["disk"] = (1, bytes(MB))
    client.volumes[MARKER] = (1, bytes(MB))
    with pytest.raises(Killed):
        block(client, name="disk", state="absent")
    assert set(client.volumes) == {MARKER}
    assert block(client, name="disk", state="absent")["changed"] and client.volumes == {}


def test_marker_names_are_reserved(data):
    client = CuttableClient()
    result = block(client, name="pending-data.x", size=1)
    assert result["failed"] and "reserved for the write-in-progress markers" in result["msg"]
    assert block(client, name="Pending-Data-x", size=1)["failed"]
    client.volumes["pending-data.x"] = (1, bytes(MB))
    assert block(client, name="pending-data.x", state="absent")["changed"] and client.volumes == {}


def test_no_room_for_the_marker_fails_before_anything_changes(data):
    client = CuttableClient()
    client.policies[()] = dataclasses.replace(ROOT_POLICY, block=3)
    client.volumes["disk"] = (2, bytes(2 * MB))
    client.volumes["other"] = (1, bytes(MB))
    for check_mode in (True, False):
        result = block(client, check_mode=check_mode, name="disk", data=data, data_overwrite="always")
        assert result["failed"] and result["msg"] == (
            "cannot write data to volume :disk: that needs 1 MB for its write-in-progress marker pending-data.disk while the "
            "data is written, but the policy of path : allows 3 MB of volumes and 3 MB are used; raise the block limit of that "
            "policy by at least 1 MB (unikernels.albatross.policy) or remove volumes that are no longer needed")
    result = block(client, name="new", size=1, data=data)
    assert result["failed"] and "needs 1 MB for the volume plus 1 MB for its write-in-progress marker pending-data.new" in result["msg"]
    assert "by at least 2 MB" in result["msg"]
    assert client.mutations() == []
    assert block(client, name="disk", data=data)["changed"] is False  # never: no write, no marker needed


def test_no_room_reported_by_the_server_is_reworded(data):
    client = CuttableClient()
    client.policies[()] = dataclasses.replace(ROOT_POLICY, block=2)
    client.volumes["disk"] = (2, bytes(2 * MB))
    client.fail_next["policy_info"] = "couldn't reach service"  # no figures: the server's own check decides
    result = block(client, name="disk", data=data, data_overwrite="always")
    assert result["failed"] and result["msg"].startswith(
        "cannot write data to volume :disk: albatross needs room for a 1 MB write-in-progress marker pending-data.disk next "
        "to it, and the policy of path : has none (block device policy limit of 2 MB (used 2 MB) would be exceeded")
    assert client.mutations() == [("block_add", MARKER, 1)] and set(client.volumes) == {"disk"}


def test_volume_that_does_not_fit_after_its_marker(data):
    client = CuttableClient()
    client.policies[()] = dataclasses.replace(ROOT_POLICY, block=2)
    client.fail_next["policy_info"] = "couldn't reach service"
    result = block(client, name="disk", size=2, data=data)
    assert result["failed"] and result["msg"].startswith(
        "cannot create volume :disk (2 MB) with data: together with its 1 MB write-in-progress marker pending-data.disk it "
        "does not fit the policy of path :")
    assert client.volumes == {}  # the marker added just before is removed again


def test_failed_write_keeps_the_marker_and_the_next_run_repairs(data):
    client = CuttableClient()
    client.fail_next["block_set"] = "error writing to file descriptor"
    result = block(client, name="disk", size=1, data=data)
    assert result["failed"] and result["msg"].startswith("Error writing data %s to volume :disk on 127.0.0.1:1025: " % data)
    assert result["msg"].endswith("the volume now holds incomplete data, and its write-in-progress marker pending-data.disk "
                                  "stays so that the next run writes the data again")
    assert [c[0] for c in client.mutations()] == ["block_add", "block_add", "block_set"] and MARKER in client.volumes
    again = block(client, name="disk", size=1, data=data)
    assert again["changed"] and complete(client, path=data) and MARKER not in client.volumes


def test_block_info_marks_pending_volumes_and_shows_orphans():
    client = CuttableClient()
    client.volumes.update({"disk": (1, b""), MARKER: (1, b""), "pending-data.gone": (1, b""), "zz": (3, b"")})
    result = info(client)
    assert result["blocks"] == [{"name": ":disk", "size": 1, "active": False, "data_pending": True},
                                {"name": ":zz", "size": 3, "active": False, "data_pending": False}]
    assert result["orphan_markers"] == [":pending-data.gone"]
    assert info(client, name="disk") == {"changed": False, "blocks": [{"name": ":disk", "size": 1, "active": False, "data_pending": True}],
                                         "orphan_markers": []}
    assert info(client, name="gone") == {"changed": False, "blocks": [], "orphan_markers": [":pending-data.gone"]}
    assert info(client, name="pending-data.gone")["orphan_markers"] == [":pending-data.gone"]
    assert info(client, name="pending-data.disk") == {"changed": False, "blocks": [], "orphan_markers": []}


def test_block_download_warns_about_incomplete_content(tmp_path):
    client = CuttableClient()
    client.volumes["disk"] = (1, bytes(MB))
    client.volumes[MARKER] = (1, bytes(MB))
    result = download(client, name="disk", dest=str(tmp_path / "disk.img"))
    assert result["changed"] and result["data_pending"] is True
    assert result["warnings"][0].startswith("volume :disk holds incomplete data") and "run the block task" in result["warnings"][0]
    del client.volumes[MARKER]
    assert download(client, name="disk", dest=str(tmp_path / "disk.img"))["data_pending"] is False


def test_leftover_file_of_a_skipped_volume_is_explained(data):
    # albatrossd skipped the short file of an interrupted write at its start: no volume, the marker, and "file already exists"
    client = CuttableClient()
    client.volumes[MARKER] = (1, bytes(MB))
    client.fail_next["block_add"] = "file already exists"
    result = block(client, name="disk", size=1, data=data)
    assert result["failed"] and "remove <albatross dbdir>/block/:disk on the albatross host, then run this task again" in result["msg"]
    assert MARKER in client.volumes
    client.fail_next["block_add"] = "file already exists"
    result = block(client, name="disk", size=1)
    assert result["failed"] and result["msg"].startswith("Error creating volume disk on 127.0.0.1:1025: ")
    assert "file already exists; albatross still has the file of volume :disk" in result["msg"]
