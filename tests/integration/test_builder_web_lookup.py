# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The builder_web lookup through the real ansible-playbook, against the builder-web test server."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.unikernels.albatross.tests.images.make_images import write_images
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import builder_web

pytestmark = pytest.mark.integration

U_OLD = "11111111-1111-4111-8111-111111111111"
U_NEW = "33333333-3333-4333-8333-333333333333"


def test_builder_web_lookup_playbook(tmp_path):
    write_images(str(tmp_path))
    server = builder_web(tmp_path, {"jobs": {"web": {"builds": [
        {"uuid": U_OLD, "start_time": "2025-01-01T00:00:00Z", "main_binary": "web-v1.hvt", "opam_packages": {"mirage": "4.4.0"}},
        {"uuid": U_NEW, "start_time": "2025-01-03T00:00:00Z", "main_binary": "web-v2.hvt", "opam_packages": {"mirage": "4.5.0"}},
    ]}}})
    try:
        results = run_playbook("builder_web_lookup.yml", tmp_path, {"builder_web_url": server.url, "old_uuid": U_OLD})
    finally:
        server.shutdown()
        server.server_close()
    assert results.returncode == 0, results.output[-4000:]
    latest = results["Latest"]["ansible_facts"]["latest"]
    assert latest["uuid"] == U_NEW
    assert latest["main_binary_sha256"] == hashlib.sha256((tmp_path / "web-v2.hvt").read_bytes()).hexdigest()
    assert results["By hash"]["ansible_facts"]["by_hash"]["uuid"] == U_NEW
    assert results["Missing hashes"]["ansible_facts"]["missing"] == [None]
    summary = results["Compare"]["ansible_facts"]["summary"]
    assert summary["opam_packages"]["changed"] == [{"name": "mirage", "version_left": "4.4.0", "version_right": "4.5.0"}]
    assert results.status("Unknown job") == "failed"
    assert "does not know the latest build of job nope" in results["Unknown job"]["msg"]
