# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The builder_web lookup against the loopback builder-web test server."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import yaml
from ansible.errors import AnsibleError

from ansible_collections.unikernels.albatross.plugins.lookup import builder_web

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

U_OLD = "11111111-1111-4111-8111-111111111111"
U_NEW = "33333333-3333-4333-8333-333333333333"


def _load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


server_mod = _load("builder_web_server_lookup", "tests", "server", "builder_web_server.py")
images = _load("make_images_lookup", "tests", "images", "make_images.py")


def _option_defaults():
    options = yaml.safe_load(builder_web.DOCUMENTATION)["options"]
    return {name: spec.get("default") for name, spec in options.items() if name != "_terms"}


class Harness(builder_web.LookupModule):
    """The lookup with Ansible's option machinery replaced by the documented defaults (as tests of inventories do)."""

    def set_options(self, task_keys=None, var_options=None, direct=None):
        self.options = _option_defaults()
        if var_options and "albatross_builder_web_url" in var_options:
            self.options["url"] = var_options["albatross_builder_web_url"]
        unknown = set(direct or {}) - set(self.options)
        if unknown:
            raise AssertionError("undocumented options %s" % unknown)
        self.options.update(direct or {})

    def get_option(self, option, hostvars=None):
        return self.options[option]


@pytest.fixture
def lookup():
    return Harness()


@pytest.fixture
def server(tmp_path):
    images.write_images(str(tmp_path))
    catalogue = {"jobs": {"web": {"builds": [
        {"uuid": U_OLD, "start_time": "2025-01-01T00:00:00Z", "main_binary": "web-v1.hvt", "opam_packages": {"mirage": "4.4.0"}},
        {"uuid": U_NEW, "start_time": "2025-01-03T00:00:00Z", "main_binary": "web-v2.hvt", "opam_packages": {"mirage": "4.5.0"}},
    ]}}}
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue))
    srv = server_mod.start_in_thread(str(path))
    yield srv, tmp_path
    srv.shutdown()
    srv.server_close()


def test_latest_build_and_hash(lookup, server):
    srv, directory = server
    [latest] = lookup.run(["web"], {}, url=srv.url, retries=0)
    assert latest["uuid"] == U_NEW and latest["job"] == "web"
    digest = latest["main_binary_sha256"]
    assert digest and len(digest) == 64
    [by_hash] = lookup.run([digest], {}, url=srv.url, query="hash")
    assert by_hash["uuid"] == U_NEW
    [build] = lookup.run([U_OLD], {}, url=srv.url, query="build", job="web")
    assert build["uuid"] == U_OLD and build["main_binary_sha256"] != digest


def test_url_from_variable(lookup, server):
    srv = server[0]
    [latest] = lookup.run(["web"], {"albatross_builder_web_url": srv.url})
    assert latest["uuid"] == U_NEW


def test_compare(lookup, server):
    srv = server[0]
    [summary] = lookup.run([U_OLD, U_NEW], {}, url=srv.url, query="compare")
    assert summary["opam_packages"]["changed"] == [{"name": "mirage", "version_left": "4.4.0", "version_right": "4.5.0"}]
    with pytest.raises(AnsibleError, match="exactly two"):
        lookup.run([U_OLD], {}, url=srv.url, query="compare")


def test_missing(lookup, server):
    srv = server[0]
    with pytest.raises(AnsibleError, match="does not know the build of the image"):
        lookup.run(["0" * 64], {}, url=srv.url, query="hash")
    assert lookup.run(["0" * 64, "1" * 64], {}, url=srv.url, query="hash", on_missing="skip") == [None, None]
    assert lookup.run(["nope"], {}, url=srv.url, on_missing="warn") == [None]
    with pytest.raises(AnsibleError, match="needs the job option"):
        lookup.run([U_OLD], {}, url=srv.url, query="build")
    with pytest.raises(AnsibleError, match="not a SHA-256"):
        lookup.run(["nope"], {}, url=srv.url, query="hash")


def test_unreachable(lookup):
    with pytest.raises(AnsibleError, match="cannot reach builder-web"):
        lookup.run(["web"], {}, url="http://127.0.0.1:1", retries=0, timeout=1)
