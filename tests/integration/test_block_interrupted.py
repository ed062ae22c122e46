# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A block task interrupted mid-upload (SIGINT as ctrl-c and AWX send it, SIGKILL of the whole controller),
then run again: the rerun repairs the volume and reports a change, the run after that reports none.

The test server handles a cut upload like albatross (the file recreated, the data received so far,
then zeros), so an unrepaired volume would hold the wrong content with the right size.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import marker_label
from ansible_collections.unikernels.albatross.tests.integration._playbooks import (
    BIN,
    PLAYBOOKS,
    connection_vars,
    environment,
    run_playbook,
)
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for

pytestmark = pytest.mark.integration

MB = 1 << 20
SIZE_MB = 40
DATA_MB = 32


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "data.img"
    with open(path, "wb") as handle:
        for dummy in range(DATA_MB):
            handle.write(os.urandom(MB))
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MB), b""):
            digest.update(chunk)
    digest.update(bytes((SIZE_MB - DATA_MB) * MB))
    return str(path), digest.hexdigest()


def _block_file(server, label: str) -> str:
    return os.path.join(server.state_dir, "block", ":" + label)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (ansible's workers start their own sessions, so no process group has them all)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _interrupted_run(server, tmp_path, extra: dict, vol: str, how: str) -> str:
    """Start the playbook, wait until the upload into ``vol`` is under way, then interrupt; returns the output."""
    work = tempfile.mkdtemp(prefix="ansible-interrupted-", dir=str(tmp_path))
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    with open(os.path.join(work, "inventory.json"), "w", encoding="utf-8") as handle:
        json.dump(inventory, handle)
    with open(os.path.join(work, "vars.json"), "w", encoding="utf-8") as handle:
        json.dump(extra, handle)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(work, "inventory.json"),
               "-e", "@" + os.path.join(work, "vars.json"), os.path.join(PLAYBOOKS, "block_interrupted.yml")]
    log = open(os.path.join(work, "output.txt"), "w+", encoding="utf-8")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(command, env=environment(work), cwd=work, stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    volume, marker = _block_file(server, vol), _block_file(server, marker_label(vol))
    deadline = time.monotonic() + 40
    try:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError("the upload was not caught under way:\n" + log.read()[-4000:])
            try:
                written = os.path.getsize(volume) if os.path.exists(marker) else 0
            except OSError:
                written = 0
            # The file is recreated empty when the block set starts; stop it well before the end of the data.
            if 0 < written < DATA_MB * MB // 2:
                break
            time.sleep(0.002)
        if how == "SIGINT":
            # ctrl-c, and AWX cancelling a job: ansible-playbook passes it to its workers, which exit at once
            proc.send_signal(signal.SIGINT)
        else:
            # the controller dies as a whole (container or machine gone): every process, no cleanup anywhere
            for pid in _descendants(proc.pid) + [proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    log.seek(0)
    output = log.read()
    log.close()
    return output


def _settle(path: str) -> None:
    """The server finishes a cut upload on its own after the client is gone: wait until the file stops changing."""
    last = None
    for dummy in range(50):
        now = (os.path.getsize(path), os.stat(path).st_mtime_ns)
        if now == last:
            return
        last = now
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_interrupted_creation_is_repaired(server, tmp_path, data_file, how):
    path, padded_sha = data_file
    vol = "cut-" + secrets.token_hex(3)
    dest = str(tmp_path / "dump.img")
    extra = dict(connection_vars(server), vol=vol, size=SIZE_MB, data_file=path, overwrite="never", dest=dest)
    started = time.monotonic()
    output = _interrupted_run(server, tmp_path, extra, vol, how)
    _settle(_block_file(server, vol))

    # what the interruption left: the volume with partial content, and its marker saying so
    assert os.path.exists(_block_file(server, marker_label(vol))), output[-3000:]
    assert _file_sha256(_block_file(server, vol)) != padded_sha
    assert {(v.name, v.size) for v in client_for(server).block_info(vol)} == {(":" + vol, SIZE_MB)}

    repair = run_playbook("block_interrupted.yml", tmp_path, extra)
    assert repair.returncode == 0, repair.output[-4000:]
    assert repair["Write"]["changed"] is True
    assert any("did not finish" in w and marker_label(vol) in w for w in repair["Write"]["warnings"]), repair["Write"]
    assert repair["Info"]["blocks"] == [{"name": ":" + vol, "size": SIZE_MB, "active": False, "data_pending": False}]
    assert repair["Info"]["orphan_markers"] == []
    assert repair["Download"]["sha256"] == padded_sha and _file_sha256(dest) == padded_sha
    assert not os.path.exists(_block_file(server, marker_label(vol)))

    again = run_playbook("block_interrupted.yml", tmp_path, dict(extra, download=False))
    assert again.returncode == 0, again.output[-4000:]
    assert again["Write"]["changed"] is False and not again["Write"].get("warnings")
    assert _file_sha256(_block_file(server, vol)) == padded_sha
    client_for(server).block_remove(vol)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_interrupted_always_is_repaired(server, tmp_path, data_file, how):
    path, padded_sha = data_file
    vol = "cuta-" + secrets.token_hex(3)
    client = client_for(server)
    client.block_add(vol, SIZE_MB)
    client.block_set(vol, b"old content " * 4096)
    dest = str(tmp_path / "dump.img")
    extra = dict(connection_vars(server), vol=vol, size=SIZE_MB, data_file=path, overwrite="always", dest=dest)
    started = time.monotonic()
    output = _interrupted_run(server, tmp_path, extra, vol, how)
    _settle(_block_file(server, vol))
    assert os.path.exists(_block_file(server, marker_label(vol))), output[-3000:]
    with open(_block_file(server, vol), "rb") as handle:
        assert not handle.read(12) == b"old content "  # recreated: the old data is gone, the new one incomplete
    assert _file_sha256(_block_file(server, vol)) != padded_sha

    # the default data_overwrite=never would leave an unmarked partial volume alone; the marker makes it rewrite
    repair = run_playbook("block_interrupted.yml", tmp_path, dict(extra, overwrite="never"))
    assert repair.returncode == 0, repair.output[-4000:]
    assert repair["Write"]["changed"] is True and "did not finish" in repair["Write"]["warnings"][0]
    assert repair["Download"]["sha256"] == padded_sha

    again = run_playbook("block_interrupted.yml", tmp_path, dict(extra, overwrite="if_different", download=False))
    assert again.returncode == 0, again.output[-4000:]
    assert again["Write"]["changed"] is False and _file_sha256(_block_file(server, vol)) == padded_sha
    client.block_remove(vol)
    assert time.monotonic() - started < 60
