# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every ```yaml snippet of README.md and docs/*.md works as printed.

Each fenced ``yaml`` block is classified by an HTML comment right before it, or else by its content:

- ``<!-- snippet: playbook -->`` (or a list of plays): run with ``--check`` on the doc's fresh test
  server (unless the marker says ``nocheck="why"``), then for real, then once more; ``<!-- snippet: append -->`` (or a bare task list) adds its tasks to the
  doc's playbook before it, so a guide that builds one playbook step by step runs as one.
- ``<!-- snippet: inventory NAME -->`` (or a mapping with ``plugin:``): written as NAME, listed with
  ``ansible-inventory`` and used as the inventory of the doc's later playbooks.
- ``<!-- snippet: file PATH -->`` / ``vars PATH``: written to PATH (``vars`` files are also checked
  against the roles' argument specs); ``<!-- snippet: same-as PATH -->``: must equal that file.
- ``<!-- snippet: module_defaults -->``: a ``module_defaults`` fragment, run with ``unikernel_info``.
- ``<!-- snippet: credential-type -->``: an AWX credential type (inputs or injectors), checked.
- ``<!-- snippet: desired-state -->``: a desired-state file of deploy.yml, checked.
- ``<!-- snippet: skip reason="..." -->``: cannot run here, and says why.

The addresses in the docs (``alb1.example.org`` ...) stay as they are: the test points playbooks at
the test server through the ALBATROSS_* variables and by overriding literal connection options in
``module_defaults``; inventory servers get the test servers' addresses and credentials; builder-web
URLs go to a local stand-in. The counts below make sure no snippet is dropped silently.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Optional

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import Policy
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import config_of, desired_view, target_view
from ansible_collections.unikernels.albatross.tests.images.make_images import make_image
from ansible_collections.unikernels.albatross.tests.integration import _playbooks
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for, deploy, start_builder_web
from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import start_server

ROOT = _playbooks.ROOT
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))

# How many snippets are run, checked and skipped. A new snippet changes one of these: run it, check it, or
# give it a skip marker with its reason, then update the count.
EXPECTED = {"run": 13, "checked": 8, "skipped": 2}

CONNECTION_KEYS = ("server", "server_ca", "client_cert", "client_key")
API_GROUP = "group/unikernels.albatross.api"
BUILDER_WEB = "https://builds.robur.coop"
FENCE_RE = re.compile(r"^```(\S*)\s*$")
MARKER_RE = re.compile(r"^<!--\s*snippet:\s*([\w-]+)\s*(.*?)\s*-->\s*$")


@dataclass
class Snippet:
    doc: str
    line: int
    text: str
    kind: str
    arg: str = ""
    reason: str = ""
    nocheck: str = ""  # why the playbook is not run with --check first

    @property
    def where(self) -> str:
        return "%s:%d" % (self.doc, self.line)


def _classify(text: str) -> tuple[str, str]:
    """(kind, argument) of a snippet without a marker, from its content."""
    data = yaml.safe_load(text)
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    named = re.match(r"^#\s*(\S+\.ya?ml)\s*$", first)
    if isinstance(data, list) and data and all(isinstance(p, dict) and "hosts" in p for p in data):
        return "playbook", ""
    if isinstance(data, list) and data and all(isinstance(t, dict) and "name" in t for t in data):
        return "append", ""
    if isinstance(data, dict) and "plugin" in data:
        return "inventory", named.group(1) if named else "snippet.albatross.yml"
    if isinstance(data, dict) and ("fields" in data or "injectors" in data or set(data) <= {"file", "env"}):
        return "credential-type", ""
    if isinstance(data, dict) and set(data) == {"module_defaults"}:
        return "module_defaults", ""
    if isinstance(data, dict) and named:
        return "vars", named.group(1)
    raise AssertionError("snippet of unknown kind; put a <!-- snippet: ... --> marker before it:\n" + text)


def extract(doc: str) -> list[Snippet]:
    """The yaml snippets of ``doc`` (a path relative to the repository) with their kinds."""
    with open(os.path.join(ROOT, doc), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        fence = FENCE_RE.match(lines[index])
        if not fence:
            index += 1
            continue
        language, start = fence.group(1), index
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        index = end + 1
        if language not in ("yaml", "yml"):
            continue
        text = "\n".join(lines[start + 1:end]) + "\n"
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = MARKER_RE.match(lines[before]) if before >= 0 else None
        if marker:
            kind, rest = marker.group(1), marker.group(2)
            reason = re.search(r'reason="([^"]*)"', rest)
            nocheck = re.search(r'nocheck="([^"]*)"', rest)
            arg = re.sub(r'(no)?(check|reason)="[^"]*"', "", rest).strip()
            snippet = Snippet(doc, start + 1, text, kind, arg, reason.group(1) if reason else "",
                              nocheck.group(1) if nocheck else "")
            if kind == "skip" and not snippet.reason:
                raise AssertionError("%s: a skip marker needs reason=\"...\"" % snippet.where)
        else:
            kind, arg = _classify(text)
            snippet = Snippet(doc, start + 1, text, kind, arg)
        found.append(snippet)
    return found


ALL = {doc: extract(doc) for doc in DOCS}


def _tally() -> dict[str, int]:
    counts = {"run": 0, "checked": 0, "skipped": 0}
    for snippets in ALL.values():
        for snippet in snippets:
            if snippet.kind == "skip":
                counts["skipped"] += 1
            elif snippet.kind in ("playbook", "append", "inventory", "module_defaults"):
                counts["run"] += 1
            else:
                counts["checked"] += 1
    return counts


def test_every_snippet_is_run_checked_or_skipped_with_a_reason():
    counts = _tally()
    listing = "\n".join("%s %s %s %s" % (s.where, s.kind, s.arg, s.reason) for snippets in ALL.values() for s in snippets)
    assert counts == EXPECTED, "snippet counts changed; the snippets are:\n" + listing


# -- the world the snippets run in -------------------------------------------------------


def _image(path: str, blocks=("storage",), networks=("service",)) -> str:
    """A solo5 image the test server runs (devices as the guides use them)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(make_image(blocks=blocks, networks=networks))
    return path


def _load_spec(role: str) -> dict[str, Any]:
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


class World:
    """Two fresh test servers, a builder-web stand-in and a work directory for the snippets of one doc."""

    def __init__(self, tmp_path: Any) -> None:
        self.tmp = tmp_path
        self.work = str(tmp_path / "work")
        os.makedirs(self.work)
        self.servers = [start_server(tmp_path / ("albatross-%d" % n)) for n in (1, 2)]
        images = str(tmp_path / "builds")
        _image(os.path.join(images, "web.hvt"))
        self.builder_web = start_builder_web(tmp_path, images, {"static-website": ["web.hvt"], "dns-primary-git": ["web.hvt"]})
        self.builder_web_url = "http://127.0.0.1:%d" % self.builder_web.server_address[1]
        _image(os.path.join(self.work, "images", "web.hvt"))
        self.inventory: Optional[str] = None

    def close(self) -> None:
        self.builder_web.shutdown()
        self.builder_web.server_close()
        for server in self.servers:
            server.stop()

    def env(self) -> dict[str, str]:
        # an inventory that does not parse fails the command instead of warning
        return dict(self.servers[0].env(), ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")

    def text(self, snippet_text: str) -> str:
        return snippet_text.replace(BUILDER_WEB, self.builder_web_url)

    def inject_plays(self, plays: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Literal connection options in module_defaults point at the first test server."""
        server = self.servers[0]
        values = {"server": server.address, "server_ca": server.server_ca, "client_cert": server.client_cert,
                  "client_key": server.client_key}
        for play in plays:
            defaults = play.get("module_defaults") or {}
            for group, options in defaults.items():
                if group == API_GROUP or group.startswith("unikernels.albatross."):
                    for key in CONNECTION_KEYS:
                        if key in options and "{{" not in str(options[key]):
                            options[key] = values[key]
        return plays

    def inject_inventory(self, config: dict[str, Any]) -> dict[str, Any]:
        """Server n of the inventory is test server n, with its credentials."""
        for index, entry in enumerate(config.get("servers") or []):
            server = self.servers[index % len(self.servers)]
            entry.update({"server": server.address, "server_ca": server.server_ca, "client_cert": server.client_cert,
                          "client_key": server.client_key})
        return config

    def run_playbook(self, plays: list[dict[str, Any]], name: str, check: bool) -> _playbooks.Results:
        path = os.path.join(self.work, name)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        if not self.inventory:
            # what a reader gets without an inventory: the implicit localhost, as an explicit host
            local = os.path.join(self.work, ".localhost.ini")
            with open(local, "w", encoding="utf-8") as handle:
                handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        command = [os.path.join(_playbooks.BIN, "ansible-playbook"), path, "-i", self.inventory or local]
        command += ["--diff"] + (["--check"] if check else [])
        env = _playbooks.environment(os.path.join(self.work, ".ansible-run"), self.env())
        proc = subprocess.run(command, env=env, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=_playbooks.TIMEOUT, check=False)
        return _playbooks.Results([], proc.returncode, proc.stdout)

    def inventory_list(self, path: str) -> dict[str, Any]:
        proc = _playbooks.run_ansible("ansible-inventory", "-i", path, "--list", env=self.env())
        return json.loads(proc.stdout)


def _tenant_unikernels(world: World) -> None:
    """What the inventory examples list: a unikernel at the root and one of tenant alice on each server."""
    for server in world.servers:
        client_for(server).install_policy("alice", Policy(unikernels=2, cpuids=(0,), memory=128, block=None, bridges=("service",)))
        deploy(server, "web", None)
        client = client_for(server, path="alice")
        with open(os.path.join(server.images_dir, "web-v1.hvt"), "rb") as handle:
            data = handle.read()
        params = {"memory": 32, "network_interfaces": [{"name": "service"}]}
        config = config_of(target_view(None, desired_view(params), hashlib.sha256(data).hexdigest()), add_name=True)
        client.unikernel_create("dns", config, data, force=True)


def _volume(world: World) -> None:
    """docs/ci.md deploys into a volume made once before."""
    client_for(world.servers[0]).block_add("web-data", 64)


SETUP = {"docs/inventory.md": _tenant_unikernels, "docs/awx.md": _tenant_unikernels, "docs/ci.md": _volume}
SECRET_RE = re.compile(r"\$\{\{\s*secrets\.|\$\{?(SERVER_CA|CLIENT_CERT|CLIENT_KEY|ALBATROSS_CLIENT_KEY)\b")


def _check_ci(snippet: Snippet) -> None:
    """A CI example never prints a secret: a line that echoes one writes it into a file."""
    for line in snippet.text.splitlines():
        assert "set -x" not in line, snippet.where
        if re.search(r"\b(echo|printf|cat)\b", line) and SECRET_RE.search(line):
            assert ">" in line, "%s: prints a secret: %s" % (snippet.where, line.strip())


def _check_credential_type(snippet: Snippet, seen: dict[str, Any]) -> None:
    data = yaml.safe_load(snippet.text)
    if "fields" in data:
        ids = [f["id"] for f in data["fields"]]
        assert len(set(ids)) == len(ids), snippet.where
        assert set(data.get("required", [])) <= set(ids), snippet.where
        for entry in data["fields"]:
            assert entry.get("type") == "string" and entry.get("label"), snippet.where
            if "key" in entry["id"] or "passphrase" in entry["id"]:
                assert entry.get("secret") is True, "%s: %s must be secret" % (snippet.where, entry["id"])
        seen["fields"] = set(ids)
        return
    injectors = data.get("injectors", data)
    fields = seen.get("fields", set())
    used = set(re.findall(r"\{\{\s*(?:tower\.filename\.)?(\w+)\s*\}\}", json.dumps(injectors)))
    assert used <= fields, "%s: injectors use fields %s that the input configuration lacks" % (snippet.where, used - fields)
    for variable in injectors.get("env", {}):
        assert variable.startswith("ALBATROSS_"), snippet.where
    for template in injectors.get("file", {}):
        assert template.startswith("template."), snippet.where
    with open(os.path.join(ROOT, "plugins", "doc_fragments", "connection.py"), encoding="utf-8") as handle:
        fragment = handle.read()
    for variable in injectors.get("env", {}):
        assert variable in fragment, "%s: %s is no environment variable of the connection options" % (snippet.where, variable)


def _check_vars(snippet: Snippet) -> None:
    data = yaml.safe_load(snippet.text)
    assert isinstance(data, dict), snippet.where
    for prefix, role in (("albatross_host_", "host"), ("albatross_upgrade_", "upgrade"), ("albatross_rollback_", "rollback")):
        options = None
        for key in data:
            if key.startswith(prefix):
                options = options or _load_spec(role)
                assert key in options, "%s: %s is no variable of the %s role" % (snippet.where, key, role)


def _check_desired_state(snippet: Snippet) -> None:
    data = yaml.safe_load(snippet.text)
    assert set(data) <= {"volumes", "unikernels", "prune", "servers"}, snippet.where
    for entry in data.get("unikernels", []) + [u for s in (data.get("servers") or {}).values() for u in s.get("unikernels", [])]:
        assert "name" in entry and ("image" in entry or "image_url" in entry or "builder_web" in entry), snippet.where


def _tasks_of(snippet: Snippet, world: World) -> list[dict[str, Any]]:
    return yaml.safe_load(world.text(snippet.text)) or []


def _run(plays_text: str, snippets: list[Snippet], world: World, counter: list[int]) -> None:
    plays = world.inject_plays(yaml.safe_load(plays_text))
    for snippet in (s for s in snippets if s.kind == "append"):
        if plays and "tasks" in plays[-1] and plays[-1]["tasks"] is None:
            plays[-1]["tasks"] = []
        plays[-1]["tasks"].extend(_tasks_of(snippet, world))
    counter[0] += 1
    name = "playbook-%d.yml" % counter[0]
    where = ", ".join(s.where for s in snippets)
    if not any(s.nocheck for s in snippets):
        check = world.run_playbook(json.loads(json.dumps(plays)), name, check=True)
        assert check.returncode == 0, "%s under --check on a fresh server failed:\n%s" % (where, check.output[-6000:])
    real = world.run_playbook(plays, name, check=False)
    assert real.returncode == 0, "%s failed:\n%s" % (where, real.output[-6000:])
    assert "no hosts matched" not in real.output, "%s targets no host:\n%s" % (where, real.output[-6000:])
    again = world.run_playbook(plays, name, check=False)
    assert again.returncode == 0, "%s failed when run a second time:\n%s" % (where, again.output[-6000:])


@pytest.mark.parametrize("doc", [d for d in DOCS if ALL[d]])
def test_doc_snippets_run(doc, tmp_path):
    world = World(tmp_path)
    try:
        if doc in SETUP:
            SETUP[doc](world)
        seen: dict[str, Any] = {}
        counter = [0]
        pending: Optional[tuple[str, list[Snippet]]] = None
        for snippet in ALL[doc]:
            if snippet.kind == "append":
                assert pending is not None, "%s: tasks without a playbook before them" % snippet.where
                pending[1].append(snippet)
                continue
            if pending is not None:
                _run(pending[0], pending[1], world, counter)
                pending = None
            if snippet.kind == "playbook":
                pending = (world.text(snippet.text), [snippet])
            elif snippet.kind == "inventory":
                config = world.inject_inventory(yaml.safe_load(snippet.text))
                path = os.path.join(world.work, snippet.arg)
                with open(path, "w", encoding="utf-8") as handle:
                    yaml.safe_dump(config, handle)
                listed = world.inventory_list(path)
                groups = set(listed) - {"_meta"}
                assert not any(g.startswith(("True_", "False_")) for g in groups), "%s: groups %s" % (snippet.where, sorted(groups))
                assert listed.get("albatross_unikernels", {}).get("hosts") or doc not in SETUP, snippet.where
                world.inventory = path
            elif snippet.kind in ("file", "vars"):
                path = os.path.join(world.work, snippet.arg)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(snippet.text)
                yaml.safe_load(snippet.text)
                if snippet.kind == "vars":
                    _check_vars(snippet)
                if snippet.arg.startswith(".github/") or snippet.arg == ".gitlab-ci.yml":
                    _check_ci(snippet)
            elif snippet.kind == "same-as":
                with open(os.path.join(ROOT, snippet.arg), encoding="utf-8") as handle:
                    shipped = yaml.safe_load(handle)
                assert yaml.safe_load(snippet.text) == shipped, "%s differs from %s" % (snippet.where, snippet.arg)
            elif snippet.kind == "module_defaults":
                play = dict(yaml.safe_load(snippet.text), hosts="localhost", gather_facts=False, name="module_defaults",
                            tasks=[{"name": "List", "unikernels.albatross.unikernel_info": {}}])
                _run(yaml.safe_dump([play]), [snippet], world, counter)
            elif snippet.kind == "credential-type":
                _check_credential_type(snippet, seen)
            elif snippet.kind == "desired-state":
                _check_desired_state(snippet)
            elif snippet.kind != "skip":
                raise AssertionError("%s: unknown snippet kind %r" % (snippet.where, snippet.kind))
        if pending is not None:
            _run(pending[0], pending[1], world, counter)
    finally:
        world.close()
        shutil.rmtree(os.path.join(world.work, ".ansible-run"), ignore_errors=True)
