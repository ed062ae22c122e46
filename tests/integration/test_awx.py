# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential type (extras/awx/credential_type.yml) in a job and an inventory update, as AWX runs them.

AWX renders a custom credential type's injectors for every job and inventory update
(``CredentialType.inject_credential``): each ``file`` template goes to a private temporary file
(mode 0600) in the ``env`` directory of the job's private data directory (mode 0700), the paths are
offered to the other templates as ``tower.filename.<name>``, and the ``env`` templates become
environment variables; templates are Jinja in a sandbox, and an input a credential leaves empty is
undefined, so it renders as an empty string. The job then runs through ansible-runner with that
private data directory: a job as ``ansible-playbook`` of the project's playbook, an inventory update
as the ``ansible-inventory --list --export`` command line AWX writes to the ``args`` file. Nothing
else reaches the run: ALBATROSS_* and ANSIBLE_* variables of the test process are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from typing import Any, Optional

import ansible_runner
import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy, UnikernelConfig
from ansible_collections.unikernels.albatross.tests.integration._playbooks import BIN, COLLECTIONS, ROOT
from ansible_collections.unikernels.albatross.tests.integration._servers import client_for, image

pytestmark = pytest.mark.integration

CREDENTIAL_TYPE = os.path.join(ROOT, "extras", "awx", "credential_type.yml")
# Environment variables AWX refuses from a credential type's env injectors (besides every ANSIBLE_* name).
AWX_ENV_BLOCKLIST = {"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                     "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
                     "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
                     "AWX_HOST", "PROJECT_REVISION"}
# What AWX sets for every inventory update (awx.main.constants.STANDARD_INVENTORY_UPDATE_ENV).
STANDARD_INVENTORY_UPDATE_ENV = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_INVENTORY_EXPORT": "True",
                                 "ANSIBLE_VERBOSE_TO_STDERR": "True"}

JOB_PLAYBOOK = """\
- name: AWX job with the albatross credential
  hosts: localhost
  gather_facts: false
  tasks:
    - name: List the unikernels
      unikernels.albatross.unikernel_info:
      register: listed

    - name: Create a volume
      unikernels.albatross.block:
        name: awx-data
        size: 1

    - name: Create the volume again
      unikernels.albatross.block:
        name: awx-data
        size: 1
"""


def load_credential_type() -> dict[str, Any]:
    with open(CREDENTIAL_TYPE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def private_data_dir(tmp_path: Any) -> str:
    """A job's private data directory as AWX makes it: mode 0700, with inventory/, env/ and project/."""
    path = tempfile.mkdtemp(prefix="awx_1_", dir=str(tmp_path))
    os.chmod(path, 0o700)
    for sub in ("inventory", "env", "project"):
        os.mkdir(os.path.join(path, sub), 0o700)
    return path


def inject(credential_type: dict[str, Any], inputs: dict[str, str], data_dir: str) -> dict[str, str]:
    """The environment of a job with a credential of ``credential_type`` holding ``inputs``, as AWX renders it."""
    sandbox = ImmutableSandboxedEnvironment()
    fields = {field["id"] for field in credential_type["inputs"]["fields"]}
    assert set(inputs) <= fields, "inputs the credential type does not have: %s" % (set(inputs) - fields)
    # An empty input is left out of the namespace, so its template renders as "".
    namespace: dict[str, Any] = {name: value for name, value in inputs.items() if len(value)}
    filenames: dict[str, str] = {}
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=os.path.join(data_dir, "env"))
        with os.fdopen(handle, "w") as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        assert label.startswith("template."), "only named file templates are used (tower.filename.<name>)"
        filenames[label.split(".", 1)[1]] = path
    namespace["tower"] = {"filename": filenames}
    env = {}
    for variable, template in credential_type["injectors"].get("env", {}).items():
        assert not variable.startswith("ANSIBLE_") and variable not in AWX_ENV_BLOCKLIST, variable
        env[variable] = sandbox.from_string(template).render(**namespace)
    return env


def credential_inputs(server: Any, **extra: str) -> dict[str, str]:
    """The inputs of a credential for a test server: the PEMs as text, as they are pasted into AWX."""
    def read(path: str) -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    inputs = {"server": server.address, "server_ca": read(server.server_ca), "client_cert": read(server.client_cert),
              "client_key": read(server.client_key)}
    return dict(inputs, **extra)


def base_env(monkeypatch: Any, data_dir: str) -> dict[str, str]:
    """What the execution environment provides besides the credential: ansible on PATH, the collection installed."""
    for name in list(os.environ):
        if name.startswith(("ALBATROSS_", "ANSIBLE_")):
            monkeypatch.delenv(name)
    return {"PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_HOME": os.path.join(data_dir, "ansible-home"), "ANSIBLE_LOCAL_TEMP": os.path.join(data_dir, "tmp"),
            "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}


def run_job(data_dir: str, env: dict[str, str], inventory: str) -> Any:
    with open(os.path.join(data_dir, "inventory", "hosts"), "w", encoding="utf-8") as handle:
        handle.write(inventory)
    return ansible_runner.run(private_data_dir=data_dir, playbook="awx_job.yml", inventory=os.path.join(data_dir, "inventory", "hosts"),
                              envvars=env, settings={"job_timeout": 300, "suppress_ansible_output": True}, quiet=True)


def task_results(runner: Any) -> dict[str, list[dict[str, Any]]]:
    """Task name -> event data of its results (ok, failed, skipped), from the runner's job events."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event in runner.events:
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            data = event["event_data"]
            found.setdefault(data["task"], []).append(dict(data, event=event["event"]))
    return found


def all_output(runner: Any) -> str:
    return runner.stdout.read() + json.dumps(list(runner.events))


@pytest.fixture
def awx_server(server):
    """The module's test server with one running unikernel and a tenant ``alice`` with a policy."""
    client = client_for(server)
    client.unikernel_create("web", UnikernelConfig(cpuids=(0,), memory=32), image(server, "hello.hvt"), force=True)
    client.install_policy("alice", Policy(unikernels=2, cpuids=(0,), memory=128, block=16, bridges=()))
    for path in (None, "alice"):
        if any(volume.name == "%s:awx-data" % (path or "") for volume in client.block_info()):
            client_for(server, path=path).block_remove("awx-data")
    return server


def test_credential_files_are_private_and_optional_inputs_empty(awx_server, tmp_path):
    data_dir = private_data_dir(tmp_path)
    env = inject(load_credential_type(), credential_inputs(awx_server), data_dir)
    assert stat.S_IMODE(os.stat(os.path.join(data_dir, "env")).st_mode) == 0o700
    for variable in ("ALBATROSS_SERVER_CA", "ALBATROSS_CLIENT_CERT", "ALBATROSS_CLIENT_KEY"):
        assert os.path.dirname(env[variable]) == os.path.join(data_dir, "env")
        assert stat.S_IMODE(os.stat(env[variable]).st_mode) == 0o600
    with open(env["ALBATROSS_CLIENT_KEY"], encoding="utf-8") as handle, open(awx_server.client_key, encoding="utf-8") as key:
        assert handle.read() == key.read()
    assert env["ALBATROSS_SERVER"] == awx_server.address
    # Optional inputs the credential leaves out still become (empty) variables: AWX cannot leave them out.
    assert env["ALBATROSS_CLIENT_KEY_PASSPHRASE"] == env["ALBATROSS_SERVER_NAME"] == env["ALBATROSS_PATH"] == ""


@pytest.mark.parametrize("tenant", [None, "alice"])
def test_job_with_the_credential(awx_server, tmp_path, monkeypatch, tenant: Optional[str]):
    data_dir = private_data_dir(tmp_path)
    with open(os.path.join(data_dir, "project", "awx_job.yml"), "w", encoding="utf-8") as handle:
        handle.write(JOB_PLAYBOOK)
    inputs = credential_inputs(awx_server, **({"path": tenant} if tenant else {}))
    env = dict(base_env(monkeypatch, data_dir), **inject(load_credential_type(), inputs, data_dir))
    runner = run_job(data_dir, env, "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    results = task_results(runner)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    listed = [u["name"] for u in results["List the unikernels"][0]["res"]["unikernels"]]
    if tenant:
        assert listed == [], listed  # alice runs nothing; the root's web is not hers
    else:
        assert ":web" in listed, listed
    assert results["Create a volume"][0]["res"]["changed"] is True
    assert results["Create the volume again"][0]["res"]["changed"] is False
    volume = "%s:awx-data" % tenant if tenant else ":awx-data"
    assert volume in [v.name for v in client_for(awx_server).block_info()]
    # The key itself never shows in the job's output or events, only the path of its file.
    with open(awx_server.client_key, encoding="utf-8") as key:
        secret_line = key.read().splitlines()[1]
    assert secret_line not in all_output(runner)


def inventory_update(server: Any, tmp_path: Any, monkeypatch: Any) -> tuple[Any, dict[str, Any]]:
    """An inventory update of an SCM source ``fleet.albatross.yml`` with the credential: (runner, its output).

    The private data directory, credential files included, is removed afterwards, as AWX does.
    """
    data_dir = private_data_dir(tmp_path)
    source = os.path.join(data_dir, "project", "fleet.albatross.yml")
    with open(source, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"plugin": "unikernels.albatross.albatross",
                        "keyed_groups": [{"key": "albatross_memory | string", "prefix": "memory"}]}, handle)
    env = dict(base_env(monkeypatch, data_dir), **inject(load_credential_type(), credential_inputs(server), data_dir))
    env.update(STANDARD_INVENTORY_UPDATE_ENV)
    output = os.path.join(data_dir, "artifacts", "1", "output.json")
    os.makedirs(os.path.dirname(output))
    # The command line AWX's RunInventoryUpdate.build_args writes to the args file of an SCM inventory source.
    with open(os.path.join(data_dir, "args"), "w", encoding="utf-8") as handle:
        handle.write(" ".join(["ansible-inventory", "--list", "--export", "-i", source, "--output", output,
                               "--playbook-dir", os.path.dirname(source)]))
    runner = ansible_runner.run(private_data_dir=data_dir, envvars=env, quiet=True,
                                settings={"job_timeout": 300, "suppress_ansible_output": True})
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    with open(output, encoding="utf-8") as handle:
        inventory = json.load(handle)
    runner.output_text = all_output(runner)
    shutil.rmtree(data_dir)
    return runner, inventory


def test_inventory_update_with_the_credential(awx_server, tmp_path, monkeypatch):
    runner, inventory = inventory_update(awx_server, tmp_path, monkeypatch)
    server_host = awx_server.host
    assert server_host in inventory["albatross_servers"]["hosts"], inventory
    unikernels = inventory["albatross_unikernels"]["hosts"]
    assert any(host.endswith("_web") for host in unikernels), unikernels
    assert any(host.endswith("_web") for host in inventory["memory_32"]["hosts"])
    with open(awx_server.client_key, encoding="utf-8") as key:
        assert key.read().splitlines()[1] not in json.dumps(inventory) + runner.output_text


# A job on the hosts of the inventory source, with the connection options the roles and playbooks of the
# collection take from the inventory's host variables (roles/upgrade/vars/main.yml).
HOSTS_PLAYBOOK = """\
- name: AWX job on the unikernels of the albatross inventory source
  hosts: albatross_unikernels
  gather_facts: false
  vars:
    connection: >-
      {{ {'server': albatross_server | default(none), 'server_ca': albatross_server_ca | default(none),
          'client_cert': albatross_client_cert | default(none), 'client_key': albatross_client_key | default(none),
          'path': albatross_relative_path | default(none, true)}
         | dict2items | rejectattr('value', 'none') | rejectattr('value', 'equalto', '') | items2dict }}
  module_defaults:
    unikernels.albatross.unikernel_info: "{{ connection }}"
  tasks:
    - name: Look at the unikernel
      unikernels.albatross.unikernel_info:
        name: "{{ albatross_label }}"
"""

INVENTORY_SCRIPT = """\
#!%s
# The inventory AWX writes for a job: a script printing the hosts, groups and variables it imported.
import json, sys
data = json.loads(%r)
print(json.dumps(data if "--list" in sys.argv else {}))
"""


def test_job_on_the_hosts_of_the_inventory_update(awx_server, tmp_path, monkeypatch):
    """The inventory update ran with its own copy of the credential's files, which AWX removed afterwards.

    The job gets new files from the same credential: the host variables must not point at the old ones.
    """
    _runner, inventory = inventory_update(awx_server, tmp_path, monkeypatch)
    data_dir = private_data_dir(tmp_path)
    with open(os.path.join(data_dir, "project", "awx_job.yml"), "w", encoding="utf-8") as handle:
        handle.write(HOSTS_PLAYBOOK)
    hostvars = inventory["_meta"]["hostvars"]
    for host in inventory["albatross_unikernels"]["hosts"]:
        hostvars[host].update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    env = dict(base_env(monkeypatch, data_dir), **inject(load_credential_type(), credential_inputs(awx_server), data_dir))
    script = os.path.join(data_dir, "inventory", "hosts")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(INVENTORY_SCRIPT % (sys.executable, json.dumps(inventory)))
    os.chmod(script, 0o700)
    runner = ansible_runner.run(private_data_dir=data_dir, playbook="awx_job.yml", inventory=script, envvars=env,
                                settings={"job_timeout": 300, "suppress_ansible_output": True}, quiet=True)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    looked = task_results(runner)["Look at the unikernel"]
    assert [r["res"]["unikernels"][0]["name"] for r in looked] == [":web"]
