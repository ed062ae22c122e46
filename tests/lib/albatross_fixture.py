# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start the albatross test server (tests/server/albatross_server.py) for tests and the demo.

``start_server(tmp_path, **options)`` runs the server as a subprocess on 127.0.0.1 (free port)
and returns a :class:`ServerInfo`. The pytest fixtures ``albatross_server`` (per test) and
``albatross_server_session`` (per session) wrap it. With ``ALBATROSS_TEST_SERVER`` set (and
``ALBATROSS_TEST_SERVER_CA``, ``_CLIENT_CERT``, ``_CLIENT_KEY``, ``_IMAGES``, ``_BRIDGE``) the
fixtures describe that real albatross instead and start nothing. The server runs on Python >= 3.11;
``ALBATROSS_TEST_SERVER_PYTHON`` names another interpreter when the tests run on an older one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

try:
    import pytest
except ImportError:  # the demo runs without pytest
    pytest = None

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(TESTS, "server", "albatross_server.py")
MAKE_IMAGES = os.path.join(TESTS, "images", "make_images.py")
STANDARD_IMAGES = ("hello.hvt", "net.hvt", "blk.hvt")
READY_TIMEOUT = 30.0

# start_server keyword -> command line flag of albatross_server.py
FLAGS = {
    "cpus": "--cpus", "memory": "--memory", "block_mb": "--block-mb", "bridges": "--bridges",
    "stats_interval": "--stats-interval", "restart_delay": "--restart-delay", "max_subscribers": "--max-subscribers",
    "max_chunk": "--max-chunk", "max_upload": "--max-upload", "ca_cn": "--ca-cn", "log_level": "--log-level",
    "ca_cert": "--ca-cert", "cert": "--cert", "key": "--key",
}


@dataclass
class ServerInfo:
    """Where a server listens and the credentials to use it (paths are str)."""

    address: str
    host: str
    port: int
    server_ca: str
    client_cert: str
    client_key: str
    state_dir: Optional[str]
    images_dir: Optional[str]
    bridge: str = "service"
    is_test_server: bool = True
    log_file: Optional[str] = None
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    command: List[str] = field(default_factory=list, repr=False)

    def env(self) -> Dict[str, str]:
        """The ALBATROSS_* connection variables of the modules for this server."""
        return {"ALBATROSS_SERVER": self.address, "ALBATROSS_SERVER_CA": self.server_ca,
                "ALBATROSS_CLIENT_CERT": self.client_cert, "ALBATROSS_CLIENT_KEY": self.client_key}

    def stop(self) -> None:
        """Terminate the server (state stays in state_dir); no-op for a real albatross."""
        proc = self.process
        self.process = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        """Stop and start again on the same port with the same state (like restarting albatrossd)."""
        if not self.is_test_server:
            return
        self.stop()
        command = list(self.command)
        command[command.index("--listen") + 1] = "%s:%d" % (self.host, self.port)
        ready = command[command.index("--ready-file") + 1]
        self.process = _spawn(command, ready, self.log_file)

    def set_faults(self, rules: List[Dict[str, Any]]) -> None:
        """Switch faults on while the server runs (see "Fault switches" in tests/server/README.md).

        The server reads the rules at every connection; occurrence counters restart with new rules.
        """
        if not self.is_test_server or not self.state_dir:
            raise RuntimeError("fault switches need the albatross test server")
        path = os.path.join(self.state_dir, "faults.json")
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(list(rules), handle)
        os.replace(path + ".tmp", path)

    def clear_faults(self) -> None:
        self.set_faults([])

    def fired_faults(self) -> List[Dict[str, Any]]:
        """The faults that fired so far (``fault``, ``command``, ``kind``, ``occurrence`` ...)."""
        path = os.path.join(self.state_dir or "", "faults.log")
        if not self.state_dir or not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the server listens again (after a restart switch fired)."""
        if not self.is_test_server:
            return
        ready = self.command[self.command.index("--ready-file") + 1]
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if time.monotonic() > deadline:
                raise RuntimeError("albatross test server not ready after %.0f s; log %s" % (timeout, self.log_file))
            time.sleep(0.05)

    def log(self) -> str:
        if not self.log_file or not os.path.exists(self.log_file):
            return ""
        with open(self.log_file, encoding="utf-8", errors="replace") as handle:
            return handle.read()


def _spawn(command: List[str], ready_file: str, log_file: Optional[str]) -> subprocess.Popen:
    if os.path.exists(ready_file):
        os.unlink(ready_file)
    with open(log_file or os.devnull, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_TIMEOUT
    while not os.path.exists(ready_file):
        if proc.poll() is not None:
            raise RuntimeError("albatross test server exited with %s; log %s" % (proc.returncode, log_file))
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("albatross test server not ready after %.0f s; log %s" % (READY_TIMEOUT, log_file))
        time.sleep(0.05)
    return proc


def write_images(directory: str) -> str:
    """hello.hvt, net.hvt, blk.hvt (and the other standard images) in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    if os.path.exists(MAKE_IMAGES):
        spec = importlib.util.spec_from_file_location("albatross_make_images", MAKE_IMAGES)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.write_images(directory)
    if not all(os.path.exists(os.path.join(directory, n)) for n in STANDARD_IMAGES):
        sys.path.insert(0, os.path.join(TESTS, "server"))
        from albatross_sim import elf  # pylint: disable=import-outside-toplevel
        for name, kwargs in (("hello.hvt", {}), ("net.hvt", {"nets": ["service"]}), ("blk.hvt", {"blocks": ["storage"]})):
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(elf.build_image(**kwargs))
    return directory


def start_server(tmp_path: Any, **options: Any) -> ServerInfo:
    """Start a fresh test server with its state below ``tmp_path``.

    Options: cpus, memory, block_mb, bridges (list or "a,b"), stats_interval (default 1.0),
    restart_delay, max_subscribers, max_chunk, max_upload, ca_cn, log_level, ca_cert/cert/key,
    state_dir (default ``tmp_path/albatross-state``), extra_args (list of flags).
    """
    base = os.path.abspath(str(tmp_path))
    state_dir = str(options.pop("state_dir", None) or os.path.join(base, "albatross-state"))
    extra = list(options.pop("extra_args", []))
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    ready = os.path.join(state_dir, "ready.json")
    log_file = os.path.join(state_dir, "server.log")
    python = os.environ.get("ALBATROSS_TEST_SERVER_PYTHON") or sys.executable
    command = [python, SERVER, "--listen", "127.0.0.1:0", "--state-dir", state_dir, "--ready-file", ready]
    for key, value in options.items():
        if key not in FLAGS:
            raise TypeError("unknown test server option %r" % key)
        if key == "bridges" and not isinstance(value, str):
            value = ",".join(value)
        command += [FLAGS[key], str(value)]
    command += extra
    proc = _spawn(command, ready, log_file)
    with open(ready, encoding="utf-8") as handle:
        where = json.load(handle)
    bridges = options.get("bridges", "service,br0")
    bridge = (bridges.split(",") if isinstance(bridges, str) else list(bridges))[0]
    return ServerInfo(
        address="%s:%d" % (where["host"], where["port"]), host=where["host"], port=int(where["port"]),
        server_ca=str(options.get("ca_cert") or os.path.join(state_dir, "ca.pem")),
        client_cert=os.path.join(state_dir, "ca.pem"), client_key=os.path.join(state_dir, "ca.key"),
        state_dir=state_dir, images_dir=write_images(os.path.join(base, "images")), bridge=bridge,
        log_file=log_file, process=proc, command=command,
    )


def real_server() -> Optional[ServerInfo]:
    """The real albatross described by ALBATROSS_TEST_* variables, or None."""
    env = os.environ
    address = env.get("ALBATROSS_TEST_SERVER")
    if not address:
        return None
    if address.startswith("["):
        host, _bracket, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "1025"
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, "1025"
    return ServerInfo(
        address=address,
        host=host, port=int(port), server_ca=env.get("ALBATROSS_TEST_SERVER_CA", ""),
        client_cert=env.get("ALBATROSS_TEST_CLIENT_CERT", ""), client_key=env.get("ALBATROSS_TEST_CLIENT_KEY", ""),
        state_dir=None, images_dir=env.get("ALBATROSS_TEST_IMAGES"), bridge=env.get("ALBATROSS_TEST_BRIDGE") or "service",
        is_test_server=False,
    )


if pytest is not None:
    @pytest.fixture
    def albatross_server(tmp_path):
        """A test server per test (or the real albatross of ALBATROSS_TEST_SERVER)."""
        info = real_server() or start_server(tmp_path)
        yield info
        info.stop()

    @pytest.fixture(scope="session")
    def albatross_server_session(tmp_path_factory):
        """One test server for the whole session (or the real albatross of ALBATROSS_TEST_SERVER)."""
        info = real_server() or start_server(tmp_path_factory.mktemp("albatross-session"))
        yield info
        info.stop()
