# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the role and playbook tests: run any playbook on any inventory, a builder-web stand-in."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import config_of, desired_view, target_view

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


playbooks = _load("albatross_test_playbooks", os.path.join(HERE, "_playbooks.py"))


def client(server: Any) -> Client:
    with open(server.client_cert, "rb") as cert, open(server.client_key, "rb") as key, open(server.server_ca, "rb") as ca:
        signer = certs.Signer.load(cert.read(), key.read(), None)
        return Client(server.address, ca.read(), signer, timeout=15.0)


def image(server: Any, name: str) -> bytes:
    with open(os.path.join(server.images_dir, name), "rb") as handle:
        return handle.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on port %d" % port)


def deploy(server: Any, label: str, port: Optional[int], name: str = "web-v1.hvt", memory: int = 32) -> None:
    """Create (or replace) a unikernel directly with the client, quicker than a playbook; HTTP on ``port``."""
    params: dict[str, Any] = {"memory": memory, "network_interfaces": [{"name": "service"}]}
    if port is not None:
        params["arguments"] = ["--http=127.0.0.1:%d" % port]
    data = image(server, name)
    config = config_of(target_view(None, desired_view(params), hashlib.sha256(data).hexdigest()), add_name=True)
    client(server).unikernel_create(label, config, data, force=True)
    if port is not None:
        wait_http(port)


def server_key(server: Any) -> str:
    """The default backup key of the roles for a server: its address with unsafe characters replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", server.address)


def ansible_playbook(playbook: str, tmp_path: Any, extra_vars: dict[str, Any], inventory: Optional[list[str]] = None,
                     check: bool = False, env: Optional[dict[str, str]] = None) -> Any:
    """Run a playbook with the real ansible-playbook; ``inventory`` lines get a local connection and the venv python."""
    work = os.path.join(str(tmp_path), "ansible-" + os.path.basename(playbook).replace(".yml", ""))
    os.makedirs(work, exist_ok=True)
    results_file = os.path.join(work, "results.jsonl")
    if os.path.exists(results_file):
        os.unlink(results_file)
    hosts = os.path.join(work, "inventory.ini")
    with open(hosts, "w", encoding="utf-8") as handle:
        for line in inventory or ["localhost"]:
            handle.write("%s ansible_connection=local ansible_python_interpreter=%s\n" % (line, sys.executable))
        if inventory:
            handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    vars_file = os.path.join(work, "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(extra_vars, handle)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALBATROSS_")}
    environ.update({
        "ANSIBLE_COLLECTIONS_PATH": playbooks.COLLECTIONS,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "results_file",
        "ALBATROSS_TEST_RESULTS": results_file,
        "ANSIBLE_HOME": os.path.join(work, "home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work, "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": playbooks.BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    environ.update(env or {})
    command = [os.path.join(playbooks.BIN, "ansible-playbook"), "-i", hosts, "-e", "@" + vars_file, playbook]
    if check:
        command.append("--check")
    proc = subprocess.run(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    records = []
    if os.path.exists(results_file):
        with open(results_file, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    return playbooks.Results(records, proc.returncode, proc.stdout)


def start_builder_web(tmp_path: Any, images_dir: str, jobs: dict[str, list[str]]) -> Any:
    """tests/server/builder_web_server.py in a thread, with one build per image (oldest first) of each job.

    Builds get fresh uuids (``server.builds[image] = uuid``) and opam package versions that differ from one
    build to the next (mirage 4.5.0, 4.6.0, ...), so comparisons have something to show.
    """
    server_mod = _load("builder_web_server", os.path.join(TESTS, "server", "builder_web_server.py"))
    catalogue: dict[str, Any] = {"jobs": {}}
    builds: dict[str, str] = {}
    for job, images in jobs.items():
        entries = []
        for index, name in enumerate(images):
            build = str(uuid.uuid4())
            builds[name] = build
            entries.append({"uuid": build, "start_time": "2025-0%d-01T00:00:00Z" % (index + 1),
                            "main_binary": os.path.join(images_dir, name), "binary_name": job + ".hvt",
                            "opam_packages": {"mirage": "4.%d.0" % (index + 5), "tcpip": "8.0.0"}})
        catalogue["jobs"][job] = {"builds": entries}
    path = os.path.join(str(tmp_path), "catalogue.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(catalogue, handle)
    server = server_mod.start_in_thread(path)
    server.builds = builds
    return server
