# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests against a real albatross (``make test-real``).

As a script: ``python tests/integration/_real_albatross.py REALALB [pytest arguments]`` takes an
installation as ../shared/tools/realalb/start.sh leaves it (``REALALB/run/certs`` with the root CA,
``REALALB/smoke/test_{hello,net,blk}.hvt``, the TLS endpoint on 127.0.0.1:1025 and the bridge
``service``), sets the ALBATROSS_TEST_* variables from it and runs the modules of ``MODULES``,
then lists the tests it skipped and why.

As a pytest hook (imported by tests/integration/conftest.py): with ALBATROSS_TEST_SERVER set, a test
that does not use one of ``REAL_FIXTURES`` would only talk to a test server it starts itself (fault
switches, state files, simulated images), so it is skipped with that reason instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional
from xml.etree import ElementTree

# Fixtures that describe the real albatross of ALBATROSS_TEST_SERVER when it is set.
REAL_FIXTURES = ("target", "albatross_server", "albatross_server_session")
SKIP_REASON = "needs the albatross test server: it starts its own (ALBATROSS_TEST_SERVER is set)"

# What make test-real runs: the client <-> server suite, the playbooks written for both servers,
# and the modules whose tests skip (with the reason above) what needs the test server.
MODULES = (
    "tests/integration/test_client_server.py",
    "tests/integration/test_solo5_playbooks.py",
    "tests/integration/test_block_interrupted.py",
    "tests/integration/test_faults.py",
)
IMAGES = {"hello.hvt": "test_hello.hvt", "net.hvt": "test_net.hvt", "blk.hvt": "test_blk.hvt"}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pytest_collection_modifyitems(config, items) -> None:  # pylint: disable=unused-argument
    if not os.environ.get("ALBATROSS_TEST_SERVER"):
        return
    import pytest  # pylint: disable=import-outside-toplevel

    for item in items:
        path = str(getattr(item, "path", getattr(item, "fspath", "")))
        if os.sep + "integration" + os.sep not in path:
            continue
        if not any(name in getattr(item, "fixturenames", ()) for name in REAL_FIXTURES):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def real_environment(realalb: str, images_dir: str) -> dict:
    """The ALBATROSS_TEST_* variables for an installation of start.sh (PORT and BRIDGE as there)."""
    certs = os.path.join(realalb, "run", "certs")
    return {
        "ALBATROSS_TEST_SERVER": "127.0.0.1:%s" % os.environ.get("PORT", "1025"),
        "ALBATROSS_TEST_SERVER_CA": os.path.join(certs, "cacert.pem"),
        "ALBATROSS_TEST_CLIENT_CERT": os.path.join(certs, "cacert.pem"),
        "ALBATROSS_TEST_CLIENT_KEY": os.path.join(certs, "ca.key"),
        "ALBATROSS_TEST_IMAGES": images_dir,
        "ALBATROSS_TEST_BRIDGE": os.environ.get("BRIDGE", "service"),
    }


def _check(realalb: str) -> Optional[str]:
    for rel in ("run/certs/cacert.pem", "run/certs/ca.key") + tuple("smoke/" + f for f in IMAGES.values()):
        if not os.path.exists(os.path.join(realalb, rel)):
            return "%s is missing: is REALALB an installation of start.sh?" % os.path.join(realalb, rel)
    return None


def _answers(address: str) -> Optional[str]:
    """Why nothing listens at ``address`` (host:port), or None when something does."""
    import socket  # pylint: disable=import-outside-toplevel

    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return "no albatross TLS endpoint answers at %s (%s): start the daemons with REALALB=... bash start.sh" % (
            address, exc.strerror or exc)
    return None


def _skipped(junit: str) -> List[str]:
    """``test id: reason`` of each skipped test, from pytest's JUnit XML report."""
    if not os.path.exists(junit):
        return []
    found = []
    for case in ElementTree.parse(junit).iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None and skipped.get("type") != "pytest.xfail":
            where = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            found.append("%s: %s" % (where, skipped.get("message", "")))
    return found


def main(argv: List[str]) -> int:
    if len(argv) < 2 or not argv[1]:
        sys.stderr.write("usage: _real_albatross.py REALALB [pytest arguments]\n")
        return 2
    realalb = os.path.abspath(argv[1])
    problem = _check(realalb)
    if problem:
        sys.stderr.write("test-real: %s\n" % problem)
        return 2
    problem = _answers(real_environment(realalb, "")["ALBATROSS_TEST_SERVER"])
    if problem:
        sys.stderr.write("test-real: %s\n" % problem)
        return 2
    images = tempfile.mkdtemp(prefix="albatross-real-images-")
    try:
        for name, built in IMAGES.items():
            shutil.copyfile(os.path.join(realalb, "smoke", built), os.path.join(images, name))
        env = dict(os.environ, **real_environment(realalb, images))
        for key in sorted(real_environment(realalb, images)):
            print("%s=%s" % (key, env[key]))
        junit = os.path.join(images, "junit.xml")
        command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-rs", "-v",
                   "--junitxml=" + junit]
        command += [m for m in MODULES if os.path.exists(os.path.join(ROOT, m))] + argv[2:]
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        sys.stdout.write(proc.stdout)
        skipped = _skipped(junit)
        print("\n== test-real: %d skipped against %s ==" % (len(skipped), env["ALBATROSS_TEST_SERVER"]))
        for line in skipped:
            print(line)
        return proc.returncode
    finally:
        shutil.rmtree(images, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
