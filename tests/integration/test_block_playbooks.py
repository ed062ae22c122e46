# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""block, block_info and block_download through the real ansible-playbook against the test server."""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import BlockDevice, UnikernelConfig
from ansible_collections.unikernels.albatross.tests.integration._playbooks import connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for, image

pytestmark = pytest.mark.integration

MB = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_block_lifecycle(server, tmp_path):
    vol = "vol-" + secrets.token_hex(3)
    data, data2 = b"BLOCKDATA-0123456789\n", b"other data " * 1000
    (tmp_path / "data.img").write_bytes(data)
    (tmp_path / "data2.img").write_bytes(data2)
    (tmp_path / "big.img").write_bytes(bytes(MB + 1))
    dest = tmp_path / "dump.img"
    extra = dict(connection_vars(server), vol=vol, data_file=str(tmp_path / "data.img"), data_file2=str(tmp_path / "data2.img"),
                 big_file=str(tmp_path / "big.img"), dest=str(dest))
    res = run_playbook("block_lifecycle.yml", tmp_path, extra)
    assert res.returncode == 0, res.output[-4000:]
    full = ":" + vol

    # create: check mode predicts, first run changes, second does not
    assert res["Create (check)"]["changed"] is True
    assert res["Create"]["changed"] is True
    assert res["Create"]["block"] == {"name": full, "size": 1, "active": False}
    assert res["Create"]["diff"]["before"] == {}
    assert res["Create"]["diff"]["after"]["data_sha256"] == sha256(data + bytes(MB - len(data)))
    assert res["Create (check)"]["diff"] == res["Create"]["diff"] and res["Create (check)"]["block"] == res["Create"]["block"]
    assert res["Create again"]["changed"] is False
    assert res["Create again (check)"]["changed"] is False

    # if_different: compared by content, check mode exact
    assert res["Same data if_different"]["changed"] is False
    assert res["New data if_different (check)"]["changed"] is True
    assert res["New data if_different"]["changed"] is True
    after = res["New data if_different"]["diff"]
    assert after["before"]["data_sha256"] == sha256(data + bytes(MB - len(data)))
    assert after["after"]["data_sha256"] == sha256(data2 + bytes(MB - len(data2)))
    assert res["New data if_different (check)"]["diff"] == after
    assert res["New data if_different again"]["changed"] is False

    # info
    assert res["Info one"]["blocks"] == [{"name": full, "size": 1, "active": False, "data_pending": False}]
    assert {"name": full, "size": 1, "active": False, "data_pending": False} in res["Info all"]["blocks"]

    # download: check mode writes nothing; content replaced only when different
    assert res["Download (check)"]["changed"] is True
    assert res["Download"]["changed"] is True and res["Download"]["sha256"] == sha256(data2 + bytes(MB - len(data2)))
    assert res["Download again"]["changed"] is False
    assert dest.read_bytes() == data2 + bytes(MB - len(data2))
    assert os.stat(dest).st_mode & 0o777 == 0o600

    # bad input: clear failure, nothing changed
    assert res.status("Resize refused") == "failed" and "cannot resize" in res["Resize refused"]["msg"]
    assert "has 1 MB, size asks for 2 MB" in res["Resize refused"]["msg"]
    assert res.status("Data larger than the volume refused") == "failed"
    assert "more than volume" in res["Data larger than the volume refused"]["msg"]
    assert res.status("Bad name refused") == "failed" and "invalid label" in res["Bad name refused"]["msg"]
    assert res["Info after refusals"]["blocks"] == [{"name": full, "size": 1, "active": False, "data_pending": False}]

    # absent: check mode predicts, twice is fine
    assert res["Remove (check)"]["changed"] is True and res["Remove (check)"]["diff"] == res["Remove"]["diff"]
    assert res["Remove"]["diff"]["before"] == {"name": full, "size": 1, "active": False}
    assert res["Remove"]["changed"] is True and res["Remove"]["diff"]["after"] == {}
    assert res["Remove again"]["changed"] is False
    assert res["Info after removal"]["blocks"] == []


def test_block_in_use(server, tmp_path):
    vol, uk = "used-" + secrets.token_hex(3), "blk-" + secrets.token_hex(3)
    client = client_for(server)
    client.block_add(vol, 1)
    client.unikernel_create(uk, UnikernelConfig(cpuids=(0,), memory=32, block_devices=(BlockDevice("storage", vol),)), image(server, "blk.hvt"))
    try:
        (tmp_path / "data.img").write_bytes(b"x")
        res = run_playbook("block_in_use.yml", tmp_path, dict(connection_vars(server), vol=vol, data_file=str(tmp_path / "data.img")))
        assert res.returncode == 0, res.output[-4000:]
        for task in ("Remove in use", "Remove in use (check)", "Overwrite in use"):
            assert res.status(task) == "failed", task
            assert "in use by unikernel :%s" % uk in res[task]["msg"]
        kept = res["Data if_different in use"]
        assert res.status("Data if_different in use") != "failed" and kept["changed"] is False, kept
        assert "in use by unikernel :%s" % uk in kept["warnings"][0] and "not compared" in kept["warnings"][0]
        assert res["Info in use"]["blocks"] == [{"name": ":" + vol, "size": 1, "active": True, "data_pending": False}]
    finally:
        client.unikernel_destroy(uk)
        client.block_remove(vol)
