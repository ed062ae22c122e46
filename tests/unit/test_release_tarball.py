# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Galaxy / Automation Hub tarball: what ships, what stays out, the released changelog.

`make release-check` runs galaxy-importer on the same tarball; these checks pin the file list, so a
new development file that would ship (or a role README that would not) fails here first.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

# Development files that must never ship, whatever galaxy.yml says (a pattern matches a path or a directory).
NEVER_SHIPPED = (
    "Makefile", "pytest.ini", ".ansible-lint", ".gitignore", ".ci", ".build", "bench", ".venv", ".venv-*",
    ".ansible", ".hypothesis", ".pytest_cache", "tests/output", "tests/sanity/get_pip.py", "tests/release-requirements.txt",
    "tests/unit/test_release_*.py", "extras/ee", "extras/release", "extras/awx/create_credential_type.yml",
    "*.pyc", "*/__pycache__", "__pycache__", "*.tar.gz", "demo-state", "changelogs/.plugin-cache.yaml",
)
# Files that must ship.
SHIPPED = (
    "MANIFEST.json", "FILES.json", "README.md", "COPYING", "LICENSES/GPL-3.0-or-later.txt", "requirements.txt",
    "CHANGELOG.rst", "changelogs/changelog.yaml", "changelogs/config.yaml", "meta/runtime.yml",
    "meta/execution-environment.yml", "extras/awx/credential_type.yml", "docs/awx.md", "tests/config.yml",
    "playbooks/demo.yml", "plugins/inventory/albatross.py",
)


def _load(path: str):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> tarfile.TarFile:
    out = tmp_path_factory.mktemp("release")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(out / "home"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    galaxy = _load("galaxy.yml")
    path = out / ("%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"]))
    with tarfile.open(str(path)) as archive:
        yield archive


def _names(tarball: tarfile.TarFile) -> list[str]:
    return [member.name.rstrip("/") for member in tarball.getmembers()]


def _ignored(name: str, patterns) -> bool:
    parts = name.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(parts[n - 1], pattern)
               for n, prefix in enumerate(prefixes, 1) for pattern in patterns)


def test_no_development_file_ships(tarball):
    shipped = [name for name in _names(tarball) if _ignored(name, NEVER_SHIPPED)]
    assert shipped == []


def test_galaxy_build_ignore_covers_the_development_files():
    ignore = _load("galaxy.yml")["build_ignore"]
    for pattern in NEVER_SHIPPED:
        if pattern in ("*.pyc", "__pycache__", "*/__pycache__", "*.tar.gz", ".build", ".venv", ".venv-*"):
            continue  # covered by ansible-galaxy's own defaults or by the explicit .venv* entries
        assert pattern in ignore, "%s is not in galaxy.yml's build_ignore" % pattern


def test_required_files_ship(tarball):
    names = set(_names(tarball))
    missing = [name for name in SHIPPED if name not in names]
    assert missing == []
    roles = sorted(name.split("/")[1] for name in names if name.count("/") == 1 and name.startswith("roles/"))
    assert roles == sorted(os.listdir(os.path.join(ROOT, "roles")))
    for role in roles:
        assert "roles/%s/README.md" % role in names, "role %s has no README.md (galaxy-importer refuses that)" % role
        assert "roles/%s/meta/argument_specs.yml" % role in names


def test_the_test_suite_ships_without_its_output(tarball):
    names = _names(tarball)
    for directory in ("tests/unit", "tests/integration", "tests/server", "tests/lib"):
        assert any(name.startswith(directory + "/") and name.endswith(".py") for name in names), directory
    assert not any(name.startswith("tests/output") for name in names)


def test_manifest_matches_galaxy_yml(tarball):
    manifest = json.load(tarball.extractfile("MANIFEST.json"))["collection_info"]
    galaxy = _load("galaxy.yml")
    for key in ("namespace", "name", "version", "license", "dependencies", "repository"):
        assert manifest[key] == galaxy[key], key
    assert manifest["readme"] == "README.md"


def test_changelog_releases_1_0_0_and_keeps_newer_fragments_unreleased():
    changelog = _load("changelogs/changelog.yaml")
    release = changelog["releases"]["1.0.0"]
    assert release["release_date"]
    assert release["changes"]["release_summary"].startswith("First release")
    assert {role["name"] for role in release["objects"]["role"]} == {"host", "rollback", "upgrade"}
    released = {fragment for entry in changelog["releases"].values() for fragment in entry.get("fragments", [])}
    pending = set(os.listdir(os.path.join(ROOT, "changelogs", "fragments")))
    # A fragment both released and still present would be released again by the next antsibull-changelog release.
    assert not released & pending
    galaxy_version = tuple(int(part) for part in _load("galaxy.yml")["version"].split("."))
    assert all(tuple(int(p) for p in version.split(".")) <= galaxy_version for version in changelog["releases"])


@pytest.mark.parametrize("role", sorted(os.listdir(os.path.join(ROOT, "roles"))))
def test_roles_say_when_they_were_added(role):
    spec = _load(os.path.join("roles", role, "meta", "argument_specs.yml"))
    assert spec["argument_specs"]["main"].get("version_added"), role


def test_importer_log_judgement():
    from ansible_collections.unikernels.albatross.extras.release.check_import import DONE, judge

    accepted = "\n".join([
        "Linting filter desired_state via flake8...",
        "WARNING: plugins/filter/desired_state.yml:12:8: E999 SyntaxError: unterminated string literal",
        "WARNING: plugins/module_utils/_block.py:335:68: W503 line break before binary operator",
        DONE,
    ])
    assert judge(accepted) == []
    for bad in ("WARNING: plugins/modules/unikernel.py:3:1: F401 'os' imported but unused",
                "WARNING: plugins/modules/unikernel.py:3:1: E999 SyntaxError: invalid syntax",
                "WARNING: roles/upgrade/tasks/main.yml:4:3: name[missing]: All tasks should be named.",
                "ERROR: The import failed for the following reason: No role readme found."):
        assert judge(bad + "\n" + DONE) == [bad]
    assert judge("Importing with galaxy-importer") != []
