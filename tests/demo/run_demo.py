# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: build and install the collection, start the albatross test server on
loopback, and run playbooks/demo.yml against it."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from albatross_fixture import start_server  # noqa: E402  pylint: disable=wrong-import-position


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def install_collection(workdir: str) -> str:
    """Build the collection tarball and install it the way users do."""
    dist = os.path.join(workdir, "dist")
    collections = os.path.join(workdir, "collections")
    subprocess.run([_bin("ansible-galaxy"), "collection", "build", "--force", "--output-path", dist, ROOT],
                   check=True, stdout=subprocess.DEVNULL)
    tarball = sorted(glob.glob(os.path.join(dist, "unikernels-albatross-*.tar.gz")))[-1]
    # The install target is the demo's own collections path; say so, or ansible-galaxy warns that it is not configured.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections)
    subprocess.run([_bin("ansible-galaxy"), "collection", "install", "--force", "-p", collections, tarball],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    print(f"installed {os.path.basename(tarball)} into {collections}")
    return collections


def free_port() -> int:
    """A free TCP port on loopback for the demo unikernel's HTTP service."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    workdir = os.path.join(ROOT, ".build", "demo")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    collections = install_collection(workdir)
    server = start_server(workdir)
    print(f"albatross test server listening on {server.address} (state in {server.state_dir})")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0",
        "ALBATROSS_SERVER": server.address,
        "ALBATROSS_SERVER_CA": server.server_ca,
        "ALBATROSS_CLIENT_CERT": server.client_cert,
        "ALBATROSS_CLIENT_KEY": server.client_key,
    })
    inventory = os.path.join(tempfile.mkdtemp(dir=workdir), "hosts.ini")
    with open(inventory, "w", encoding="utf-8") as handle:
        handle.write(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    try:
        cmd = [_bin("ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "demo.yml"),
               "-e", f"demo_images={server.images_dir}", "-e", f"demo_workdir={workdir}", "-e", f"demo_http_port={free_port()}"]
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
