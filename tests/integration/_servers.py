# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers around the test servers: a client for a ServerInfo, unikernels serving HTTP, a builder-web stand-in."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import uuid
from typing import Any, Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import config_of, desired_view, target_view
from ansible_collections.unikernels.albatross.tests.server.builder_web_server import start_in_thread


def client_for(server: Any, path: Optional[str] = None) -> Client:
    """A client with the credentials of a ServerInfo, acting under ``path`` when given."""
    with open(server.client_cert, "rb") as cert, open(server.client_key, "rb") as key, open(server.server_ca, "rb") as ca:
        return Client(server.address, ca.read(), certs.Signer.load(cert.read(), key.read(), None), timeout=15.0, path=path)


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
    client_for(server).unikernel_create(label, config, data, force=True)
    if port is not None:
        wait_http(port)


def server_key(server: Any) -> str:
    """The default backup key of the roles for a server: its address with unsafe characters replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", server.address)


def builder_web(tmp_path: Any, catalogue: dict[str, Any]) -> Any:
    """tests/server/builder_web_server.py in a thread serving ``catalogue``, written to ``tmp_path/catalogue.json``.

    Rewriting that file (``server.catalogue.path``) changes what it serves: the server re-reads it when its
    mtime changes. ``shutdown()`` and ``server_close()`` stop it.
    """
    path = os.path.join(str(tmp_path), "catalogue.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(catalogue, handle)
    return start_in_thread(path)


def start_builder_web(tmp_path: Any, images_dir: str, jobs: dict[str, list[str]]) -> Any:
    """A builder-web stand-in with one build per image (oldest first) of each job.

    Builds get fresh uuids (``server.builds[image] = uuid``) and opam package versions that differ from one
    build to the next (mirage 4.5.0, 4.6.0, ...), so comparisons have something to show.
    """
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
    server = builder_web(tmp_path, catalogue)
    server.builds = builds
    return server
