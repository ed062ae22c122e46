# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential type, the playbook that creates it, and the execution environment definition.

tests/integration/test_awx.py runs jobs with the credential type; this checks its structure against what
AWX accepts and against the collection's connection options, and what ansible-builder makes of the EE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.unikernels.albatross.plugins.module_utils._common import CONNECTION_ARGSPEC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
# Tuning of a job, not access to a server: not part of the credential (see extras/awx/credential_type.yml).
NOT_IN_CREDENTIAL = {"ALBATROSS_KEY_TYPE", "ALBATROSS_TIMEOUT"}
PEM_FIELDS = ("server_ca", "client_cert", "client_key")
# AWX: field ids and file template names are identifiers; kinds a custom credential type may have.
IDENTIFIER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
CUSTOM_KINDS = ("cloud", "net")


def _load(*path: str):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def credential_type():
    return _load("extras", "awx", "credential_type.yml")


def _fallback_env_vars() -> set[str]:
    found = set()
    for spec in CONNECTION_ARGSPEC.values():
        fallback = spec.get("fallback")
        if fallback:
            found.update(name for name in fallback[1] if name.startswith("ALBATROSS_"))
    return found


def _plugin_env_vars() -> set[str]:
    options = yaml.safe_load(ModuleDocFragment.PLUGINS)["options"]
    return {entry["name"] for option in options.values() for entry in option.get("env", [])}


def test_injected_env_vars_are_the_connection_fallbacks(credential_type):
    injected = set(credential_type["injectors"]["env"])
    fallbacks = _fallback_env_vars()
    assert fallbacks == _plugin_env_vars(), "modules and plugins read different ALBATROSS_* variables"
    assert injected == fallbacks - NOT_IN_CREDENTIAL
    assert NOT_IN_CREDENTIAL <= fallbacks


def test_fields_are_what_awx_accepts(credential_type):
    assert credential_type["kind"] in CUSTOM_KINDS and credential_type["name"] and credential_type["description"]
    fields = credential_type["inputs"]["fields"]
    ids = [field["id"] for field in fields]
    assert len(ids) == len(set(ids)) and all(IDENTIFIER.match(i) for i in ids)
    assert set(credential_type["inputs"]["required"]) == {"server", *PEM_FIELDS}
    by_id = {field["id"]: field for field in fields}
    for field in fields:
        assert field["type"] == "string" and field["label"], field
    for pem in PEM_FIELDS:
        assert by_id[pem].get("multiline") is True, pem
    for secret in ("client_key", "client_key_passphrase"):
        assert by_id[secret].get("secret") is True, secret
    # Certificates are public: keeping them visible lets an operator check which CA a credential trusts.
    assert not any(by_id[f].get("secret") for f in ("server", "server_ca", "client_cert"))


def test_injectors_reference_only_fields_and_written_files(credential_type):
    ids = {field["id"] for field in credential_type["inputs"]["fields"]}
    files = credential_type["injectors"]["file"]
    assert set(files) == {"template.%s" % pem for pem in PEM_FIELDS}
    for label, template in files.items():
        assert template == "{{ %s }}" % label.split(".", 1)[1]
    written = {label.split(".", 1)[1] for label in files}
    for variable, template in credential_type["injectors"]["env"].items():
        assert not variable.startswith("ANSIBLE_"), "AWX drops ANSIBLE_* variables of a credential type"
        reference = re.fullmatch(r"\{\{ (tower\.filename\.)?(\w+) \}\}", template)
        assert reference, template
        if reference.group(1):
            assert reference.group(2) in written, template
        else:
            assert reference.group(2) in ids and reference.group(2) not in PEM_FIELDS, template
    # A PEM reaches the job only as a file: its content is never an environment variable.
    assert {variable for variable, t in credential_type["injectors"]["env"].items() if "filename" in t} == {
        "ALBATROSS_SERVER_CA", "ALBATROSS_CLIENT_CERT", "ALBATROSS_CLIENT_KEY"}


def test_create_playbook_passes_the_file_to_awx_awx(credential_type):
    plays = _load("extras", "awx", "create_credential_type.yml")
    assert len(plays) == 1 and plays[0]["hosts"] == "localhost"
    assert "credential_type.yml" in plays[0]["vars"]["albatross_credential_type"]
    (task,) = plays[0]["tasks"]
    module = task["awx.awx.credential_type"]
    assert set(module) == {"name", "description", "kind", "inputs", "injectors", "state"}
    for key in ("name", "description", "kind", "inputs", "injectors"):
        assert module[key] == "{{ albatross_credential_type.%s }}" % key


def test_docs_point_at_the_credential_type_file():
    with open(os.path.join(ROOT, "docs", "awx.md"), encoding="utf-8") as handle:
        text = handle.read()
    assert "extras/awx/credential_type.yml" in text
    assert "ALBATROSS_SERVER_CA: '{{ tower.filename" not in text, "docs/awx.md copies the injectors instead of naming the file"
    requires = _load("meta", "runtime.yml")["requires_ansible"]
    assert requires.lstrip(">=") in text


def test_ee_definition_installs_the_built_tarball():
    ee = _load("extras", "ee", "execution-environment.yml")
    assert ee["version"] == 3
    requires = _load("meta", "runtime.yml")["requires_ansible"]
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core" + requires
    (collection,) = ee["dependencies"]["galaxy"]["collections"]
    assert collection["type"] == "file"
    (extra,) = ee["additional_build_files"]
    assert os.path.basename(extra["src"]) == os.path.basename(collection["name"])
    assert os.path.dirname(collection["name"]) == extra["dest"]
    # The collection declares its Python requirements for introspection, so the EE does not repeat them.
    assert "python" not in ee["dependencies"]
    assert _load("meta", "execution-environment.yml")["dependencies"]["python"] == "requirements.txt"


def _requirements(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return sorted(line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip())


def test_ee_build_context_introspects_to_the_collection_requirements(tmp_path):
    """ansible-builder create, then what its build does: install the tarball, introspect the collections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_NOCOLOR="1")

    def run(*command: str, cwd: str = ROOT) -> str:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, "%s:\n%s%s" % (command, proc.stdout, proc.stderr)
        return proc.stdout

    # The definition names the tarball relative to itself (../../.build/release/ee/): the same layout below tmp_path.
    tree = tmp_path / "tree"
    shutil.copytree(os.path.join(ROOT, "extras", "ee"), str(tree / "extras" / "ee"))
    ee = _load("extras", "ee", "execution-environment.yml")
    tarball = os.path.normpath(str(tree / "extras" / "ee" / ee["additional_build_files"][0]["src"]))
    os.makedirs(os.path.dirname(tarball))
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", os.path.dirname(tarball), ROOT)
    (built,) = [name for name in os.listdir(os.path.dirname(tarball)) if name.endswith(".tar.gz")]
    os.rename(os.path.join(os.path.dirname(tarball), built), tarball)
    context = tmp_path / "context"
    run(os.path.join(BIN, "ansible-builder"), "create", "-f", str(tree / "extras" / "ee" / "execution-environment.yml"),
        "-c", str(context))
    build = context / "_build"
    # The galaxy stage: `ansible-galaxy collection install -r requirements.yml` in /build (the _build directory).
    collections = tmp_path / "collections"
    run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "-p", str(collections),
        cwd=str(build))
    assert (collections / "ansible_collections" / "unikernels" / "albatross" / "MANIFEST.json").exists()
    # The builder stage: the context's introspect script writes the Python requirements of the installed collections.
    written = tmp_path / "requirements.txt"
    run(sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(collections), "--write-pip", str(written))
    assert _requirements(str(written)) == _requirements(os.path.join(ROOT, "requirements.txt"))
    with open(context / "Dockerfile", encoding="utf-8") as handle:
        dockerfile = handle.read()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core%s ansible-runner' % _load("meta", "runtime.yml")["requires_ansible"] in dockerfile
