# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decision logic of the block, block_info and block_download modules against a fake client."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _block
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import BlockDeviceInfo, UnikernelInfo
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules.fake_albatross import MB, FakeClient, run


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
    assert result["changed"] and client.mutations() == [("block_set", "disk", len(content), 0)]
    assert not block(client, name="disk", data=data, data_overwrite="if_different")["changed"]


def test_always_overwrites(data):
    client = FakeClient()
    client.volumes["disk"] = (1, bytes(MB))
    assert block(client, name="disk", data=data, data_overwrite="always")["changed"]
    assert block(client, name="disk", data=data, data_overwrite="always")["changed"]
    assert [c[0] for c in client.mutations()] == ["block_set", "block_set"]


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
    assert info(client)["blocks"] == [{"name": ":disk", "size": 1, "active": True}, {"name": ":zz", "size": 3, "active": False}]
    assert info(client, name="zz")["blocks"] == [{"name": ":zz", "size": 3, "active": False}]
    assert info(client, name="missing")["blocks"] == []


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


def test_failed_initial_upload_removes_the_new_volume(data):
    client = FakeClient()
    client.fail_next["block_set"] = "set block: stream ended early"
    result = block(client, name="disk", size=1, data=data)
    assert result["failed"] and result["msg"].startswith("Error creating volume disk with data %s on 127.0.0.1:1025" % data)
    assert "stream ended early" in result["msg"]
    assert [c[0] for c in client.mutations()] == ["block_add", "block_set", "block_remove"] and "disk" not in client.volumes
    # the next run creates the volume with its data instead of keeping an empty one
    again = block(client, name="disk", size=1, data=data)
    content = open(data, "rb").read()
    assert again["changed"] and client.volumes["disk"][1][:len(content)] == content
