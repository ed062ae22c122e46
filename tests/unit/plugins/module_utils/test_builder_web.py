# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""builder-web client against the loopback test server."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._builder_web import (
    BadResponse,
    BuilderWeb,
    BuildServerUnreachable,
    ChecksumMismatch,
    InvalidReference,
    UnknownBuild,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def _load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


server_mod = _load("builder_web_server", "tests", "server", "builder_web_server.py")
images = _load("make_images", "tests", "images", "make_images.py")

U_OLD = "11111111-1111-4111-8111-111111111111"
U_MID = "22222222-2222-4222-8222-222222222222"
U_NEW = "33333333-3333-4333-8333-333333333333"
U_FAIL = "44444444-4444-4444-8444-444444444444"
U_ARM = "55555555-5555-4555-8555-555555555555"
U_OTHER = "66666666-6666-4666-8666-666666666666"


def write_catalogue(directory, extra_builds=()):
    images.write_images(str(directory))
    builds = [
        {"uuid": U_OLD, "start_time": "2025-01-01T00:00:00Z", "main_binary": "web-v1.hvt", "binary_name": "web.hvt",
         "opam_packages": {"mirage": "4.4.0", "old-lib": "1.0", "same": "1"}, "system_packages": {"gmp": "6.2"}, "env": {"PATH": "/bin"}},
        # same binary as U_OLD, built later: only the newest of a binary is listed in /job/web
        {"uuid": U_MID, "start_time": "2025-01-02T00:00:00Z", "main_binary": "web-v1.hvt", "binary_name": "web.hvt"},
        {"uuid": U_NEW, "start_time": "2025-01-03T00:00:00Z", "main_binary": "web-v2.hvt", "binary_name": "web.hvt",
         "opam_packages": {"mirage": "4.5.0", "new-lib": "2.0", "same": "1"}, "system_packages": {"gmp": "6.3"}, "env": {"PATH": "/bin"}},
        {"uuid": U_FAIL, "start_time": "2025-01-04T00:00:00Z", "main_binary": None},
        {"uuid": U_ARM, "start_time": "2024-12-01T00:00:00Z", "main_binary": "web-bad.hvt", "platform": "freebsd-14"},
    ] + list(extra_builds)
    catalogue = {"jobs": {"web": {"builds": builds}, "other": {"builds": [
        {"uuid": U_OTHER, "start_time": "2025-01-01T00:00:00Z", "main_binary": "hello.hvt"}]}}}
    path = directory / "catalogue.json"
    path.write_text(json.dumps(catalogue))
    return path


def sha(directory, name):
    return hashlib.sha256((directory / name).read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    srv = server_mod.start_in_thread(str(write_catalogue(tmp_path)))
    yield srv
    srv.shutdown()
    srv.server_close()


def client(srv, **kwargs):
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("retries", 0)
    kwargs.setdefault("backoff", 0.01)
    return BuilderWeb(srv.url, **kwargs)


def test_latest_build(server, tmp_path):
    build = client(server).latest_build("web")
    assert build.uuid == U_NEW and build.job == "web" and build.main_binary
    assert build.platform == "ubuntu-22.04" and build.start_time == "2025-01-03T00:00:00Z"
    assert build.main_binary_sha256 == sha(tmp_path, "web-v2.hvt")
    assert build.main_binary_size == (tmp_path / "web-v2.hvt").stat().st_size
    assert build.main_binary_filename == "web.hvt"
    assert build.url == server.url + "/job/web/build/" + U_NEW
    arm = client(server).latest_build("web", platform="freebsd-14")
    assert arm.uuid == U_ARM and arm.main_binary_sha256 == sha(tmp_path, "web-bad.hvt")


def test_build_by_uuid_and_hash(server, tmp_path):
    web = client(server)
    build = web.build("web", U_OLD.upper())
    assert build.uuid == U_OLD
    # U_OLD is not the newest build of its binary: its hash comes from the file's ETag
    assert build.main_binary_sha256 == sha(tmp_path, "web-v1.hvt")
    by_hash = web.build_by_hash(sha(tmp_path, "web-v1.hvt").upper())
    assert by_hash.uuid == U_MID and by_hash.main_binary_sha256 == sha(tmp_path, "web-v1.hvt")
    failed = web.build("web", U_FAIL)
    assert not failed.main_binary and failed.main_binary_sha256 is None


def test_job_builds(server, tmp_path):
    builds = client(server).job_builds("web")
    assert [b["uuid"] for b in builds] == [U_NEW, U_MID, U_ARM]
    assert builds[0]["main_binary"]["sha256"] == sha(tmp_path, "web-v2.hvt")


def test_unknown(server):
    web = client(server)
    with pytest.raises(UnknownBuild):
        web.build_by_hash("0" * 64)
    with pytest.raises(UnknownBuild):
        web.latest_build("nope")
    with pytest.raises(UnknownBuild):
        web.build("web", "99999999-9999-4999-8999-999999999999")
    with pytest.raises(UnknownBuild):
        web.download_main_binary("web", U_FAIL, io.BytesIO())


def test_invalid_references(server):
    web = client(server)
    with pytest.raises(InvalidReference):
        web.build_by_hash("abc")
    with pytest.raises(InvalidReference):
        web.build("web", "not-a-uuid")
    with pytest.raises(InvalidReference):
        web.latest_build("a/b")
    assert server.requests == 0


def test_download_to_stream_and_path(server, tmp_path):
    web = client(server)
    out = io.BytesIO()
    result = web.download_main_binary("web", U_OLD, out)
    assert out.getvalue() == (tmp_path / "web-v1.hvt").read_bytes()
    assert result.sha256 == sha(tmp_path, "web-v1.hvt") and result.uuid == U_OLD
    assert result.url.endswith("/job/web/build/%s/f/bin/web.hvt" % U_OLD)
    dest = tmp_path / "out" / "img.hvt"
    dest.parent.mkdir()
    result = web.download_main_binary("web", "latest", str(dest), expected_sha256=sha(tmp_path, "web-v2.hvt"))
    assert result.uuid == U_NEW and dest.read_bytes() == (tmp_path / "web-v2.hvt").read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(dest.parent) == ["img.hvt"]


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    dest = tmp_path / "img.hvt"
    with pytest.raises(ChecksumMismatch, match="SHA-256"):
        client(server).download_main_binary("web", U_OLD, str(dest), expected_sha256="ab" * 32)
    assert not dest.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".download-")]
    with pytest.raises(ChecksumMismatch, match="expected 5"):
        client(server).download_main_binary("web", U_OLD, io.BytesIO(), expected_size=5)


def test_truncated_download(server):
    server.set_failure({"truncate": 100})
    with pytest.raises((BuildServerUnreachable, ChecksumMismatch)):
        client(server).download_main_binary("web", U_OLD, io.BytesIO())


def test_retries_on_503(server):
    server.set_failure({"status": 503, "times": 2})
    build = client(server, retries=2).latest_build("web")
    assert build.uuid == U_NEW
    server.set_failure({"status": 503})
    with pytest.raises(BuildServerUnreachable, match="3 attempt"):
        client(server, retries=2).latest_build("web")
    server.set_failure({})


def test_bad_status_is_not_retried(server):
    server.set_failure({"status": 403})
    before = server.requests
    with pytest.raises(BadResponse, match="403"):
        client(server, retries=3).latest_build("web")
    assert server.requests == before + 1


def test_control_file(tmp_path):
    control = tmp_path / "control.json"
    srv = server_mod.start_in_thread(str(write_catalogue(tmp_path)), control_file=str(control))
    try:
        control.write_text('{"status": 503}')
        with pytest.raises(BuildServerUnreachable):
            client(srv, retries=1).latest_build("web")
        control.unlink()
        assert client(srv).latest_build("web").uuid == U_NEW
    finally:
        srv.shutdown()
        srv.server_close()


def test_unreachable_and_timeout():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(BuildServerUnreachable, match="2 attempt"):
        BuilderWeb("http://127.0.0.1:%d" % port, timeout=2, retries=1, backoff=0.01).latest_build("web")
    assert time.monotonic() - started < 5


def test_read_timeout(server):
    server.set_failure({"delay": 1.5, "times": 1})
    with pytest.raises(BuildServerUnreachable, match="no answer within 0.3 s"):
        client(server, timeout=0.3).latest_build("web")


def test_non_json_answer(server):
    server.set_failure({"status": 200, "times": 1})
    with pytest.raises(BadResponse, match="did not answer with JSON"):
        client(server).latest_build("web")


def test_catalogue_reload(server, tmp_path):
    assert client(server).latest_build("web").uuid == U_NEW
    newer = {"uuid": "77777777-7777-4777-8777-777777777777", "start_time": "2025-02-01T00:00:00Z", "main_binary": "web-bad.hvt"}
    time.sleep(0.01)
    write_catalogue(tmp_path, [newer])
    os.utime(tmp_path / "catalogue.json", (time.time() + 5, time.time() + 5))
    assert client(server).latest_build("web").uuid == newer["uuid"]


def test_compare(server):
    summary = client(server).compare(U_OLD, U_NEW)
    assert summary["left"]["uuid"] == U_OLD and summary["right"]["uuid"] == U_NEW
    assert summary["same_job"] is True
    assert summary["main_binary_size_change"] == 0
    assert summary["opam_packages"] == {
        "added": [{"name": "new-lib", "version": "2.0"}],
        "removed": [{"name": "old-lib", "version": "1.0"}],
        "changed": [{"name": "mirage", "version_left": "4.4.0", "version_right": "4.5.0"}],
    }
    assert summary["system_packages"]["changed"] == [{"name": "gmp", "version_left": "6.2", "version_right": "6.3"}]
    assert summary["environment"] == {"added": [], "removed": [], "changed": []}
    assert summary["opam_files_changed"][0]["package_version"] == "mirage.4.5.0"
    with pytest.raises(UnknownBuild):
        client(server).compare(U_OLD, "99999999-9999-4999-8999-999999999999")


def test_verify_cannot_be_disabled():
    with pytest.raises(ValueError):
        BuilderWeb("https://127.0.0.1:1", verify=False)


def test_cli_ready_file(tmp_path):
    catalogue = write_catalogue(tmp_path)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "server", "builder_web_server.py"),
                             "--listen", "127.0.0.1:0", "--catalogue", str(catalogue), "--ready-file", str(ready)])
    try:
        for _attempt in range(100):
            if ready.exists():
                break
            time.sleep(0.05)
        address = ready.read_text().strip()
        assert address.startswith("127.0.0.1:")
        web = BuilderWeb("http://" + address, timeout=5, retries=0)
        assert web.latest_build("other").uuid == U_OTHER
        web.session.post("http://%s/_control" % address, json={"status": 503, "times": 1})
        with pytest.raises(BuildServerUnreachable):
            web.latest_build("other")
        assert web.latest_build("other").uuid == U_OTHER
    finally:
        proc.terminate()
        proc.wait(10)
