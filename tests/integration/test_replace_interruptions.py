# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failed and interrupted replaces and upgrades: afterwards the old or the new unikernel runs, and the roles say
what is true (docs/reliability.md). Every run is the real ansible-playbook against the albatross test server.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.tests.integration._playbooks import (
    BIN,
    PLAYBOOKS,
    ROOT,
    connection_vars,
    environment,
    run_playbook,
)
from ansible_collections.unikernels.albatross.tests.integration._servers import (
    client_for,
    deploy,
    free_port,
    image,
    server_key,
)

pytestmark = pytest.mark.integration

UPGRADE = os.path.join(ROOT, "playbooks", "upgrade.yml")
SUFFIX = os.urandom(3).hex()


def digest(server: Any, name: str) -> str:
    return hashlib.sha256(image(server, name)).hexdigest()


def running(server: Any, label: str, path: str | None = None) -> Any:
    infos = client_for(server, path).unikernel_info(label)
    return infos[0] if infos else None


def http_check(port: int, body: str | None = None, retries: int = 3) -> dict[str, Any]:
    http: dict[str, Any] = {"url": "http://127.0.0.1:%d/" % port, "timeout": 2}
    if body:
        http["body_regex"] = body
    return {"http": http, "retries": retries, "delay": 0.3, "timeout": 10}


def test_replace_refused_after_the_old_stopped_restores_the_old(server, tmp_path):
    """Albatross stops the old unikernel, then refuses the new one ("interface nope does not exist")."""
    tenant, uk = "rr-" + SUFFIX, "refused-" + SUFFIX
    # The tenant policy allows a bridge the host does not have: albatross checks the policy before it stops the
    # old unikernel, and the host's bridges only while it creates the new one.
    client_for(server).install_policy(tenant, Policy(unikernels=2, cpuids=(0,), memory=256, block=None,
                                                     bridges=("nope", "service")))
    results = run_playbook("unikernel_replace_refused.yml", tmp_path, dict(
        connection_vars(server), tenant=tenant, uk=uk, images_dir=server.images_dir))
    assert results.returncode == 0, results.output[-4000:]
    before = results["Info before"]["unikernels"][0]

    refused = results["Replace onto a bridge the host lacks"]
    assert results.status("Replace onto a bridge the host lacks") == "failed" and refused["restored"] is True, refused
    assert refused["msg"] == (
        "Replacing unikernel %s on %s failed (the server answered: interface nope does not exist), so the previous unikernel "
        "(image %s with its configuration) was created again and runs." % (uk, server.address, digest(server, "net.hvt")[:12]))
    after = results["Info after the replace"]["unikernels"][0]
    same = ("digest", "memory", "arguments", "network_interfaces", "cpuids", "fail_behaviour")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    assert after["started"] != before["started"]

    restart = results["Restart onto a bridge the host lacks"]
    assert results.status("Restart onto a bridge the host lacks") == "failed" and restart["restored"] is True
    assert restart["msg"].startswith("Restarting unikernel %s with new arguments on %s failed (the server answered: "
                                     "interface nope does not exist), so the previous unikernel" % (uk, server.address))
    again = results["Info after the restart"]["unikernels"][0]
    assert {k: again[k] for k in same} == {k: before[k] for k in same}

    # The next run with a good configuration converges.
    fixed = results["Replace as it should have been"]
    assert fixed["changed"] and fixed["unikernel"]["digest"] == digest(server, "web-v2.hvt") and fixed["unikernel"]["memory"] == 64
    # The server really stopped the old unikernel before it refused the new one.
    log = server.log()
    forced = log.index("%s:%s: unikernel_force_create" % (tenant, uk))
    assert "stopped with signal" in log[forced:]


def test_module_backup_is_what_the_rollback_role_restores(server, tmp_path):
    uk, port, backup = "kept-" + SUFFIX, free_port(), str(tmp_path / "backups")
    results = run_playbook("unikernel_backup_rollback.yml", tmp_path, dict(
        connection_vars(server), uk=uk, images_dir=server.images_dir, http_port=port, backup_dir=backup))
    assert results.returncode == 0, results.output[-4000:]
    kept = os.path.join(backup, server_key(server))
    replaced = results["Replace with v2, keeping v1"]
    assert replaced["backup"] == {"image": os.path.join(kept, uk + ".hvt"), "config": os.path.join(kept, uk + ".json")}

    report = results["Report: rollback"]["albatross_rollback_report"]
    assert report["outcome"] == "restored", report["message"]
    assert report["from_digest"] == digest(server, "web-v2.hvt") and report["to_digest"] == digest(server, "web-v1.hvt")
    assert report["kept"]["image"] == os.path.join(kept, uk + ".hvt") and report["checks"][0]["ok"]
    final = results["Info at the end"]["unikernels"][0]
    assert final["digest"] == digest(server, "web-v1.hvt") and final["memory"] == 32
    assert final["arguments"] == ["--http=127.0.0.1:%d" % port]

    # playbooks/rollback.yml again: the kept copy runs already, so nothing changes and the recap says so.
    again = run_playbook(os.path.join(ROOT, "playbooks", "rollback.yml"), tmp_path, dict(
        connection_vars(server), albatross_rollback_hosts="localhost", albatross_rollback_name=uk,
        albatross_rollback_backup_dir=backup, albatross_rollback_settle=0.3))
    assert again.returncode == 0, again.output[-4000:]
    assert "already runs the kept image" in again.record("Show the outcome")["result"]["msg"]
    assert again.changed() == 0 and "+++ after" not in again.output
    client_for(server).unikernel_destroy(uk)


def _deploy_v1(server: Any, label: str, path: str | None = None) -> Any:
    from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import (  # pylint: disable=import-outside-toplevel
        config_of,
        desired_view,
        target_view,
    )
    data = image(server, "web-v1.hvt")
    view = target_view(None, desired_view({"memory": 32, "network_interfaces": [{"name": "service"}]}),
                       hashlib.sha256(data).hexdigest())
    client_for(server, path).unikernel_create(label, config_of(view, add_name=True), data)
    return running(server, label, path)


def test_upload_cut_short_and_lost_reply(server, tmp_path):
    """Faults of the test server on the force-create: the module tells what the server did from what runs afterwards."""
    uk = "cut-" + SUFFIX
    before = _deploy_v1(server, uk)
    variables = dict(connection_vars(server), uk=uk, image=os.path.join(server.images_dir, "web-v2.hvt"), memory=64)
    server.set_faults([{"fault": "drop_upload", "command": "unikernel force-create", "nth": 1, "after_bytes": 300}])
    try:
        cut = run_playbook("unikernel_replace_once.yml", tmp_path, variables)
        assert cut.returncode == 2
        assert cut.status("Replace") == "failed"
        assert cut["Replace"]["msg"].endswith("Unikernel %s still runs its previous image and configuration; nothing was changed."
                                              % uk), cut["Replace"]["msg"]
        assert running(server, uk).started == before.started

        server.set_faults([{"fault": "drop_reply", "command": "unikernel force-create", "nth": 1}])
        lost = run_playbook("unikernel_replace_once.yml", tmp_path, variables)
        assert lost.returncode == 0, lost.output[-4000:]
        assert lost["Replace"]["changed"] and lost["Replace"]["action"] == "replaced"
        assert "so the change was made" in lost["Replace"]["warnings"][0]
        assert [f["fault"] for f in server.fired_faults()][-2:] == ["drop_upload", "drop_reply"]
    finally:
        server.clear_faults()
    assert running(server, uk).digest.hex() == digest(server, "web-v2.hvt")
    again = run_playbook("unikernel_replace_once.yml", tmp_path, variables)
    assert again.returncode == 0 and not again["Replace"]["changed"]


def test_ctrl_c_during_a_failing_replace_still_restores_the_old(server, tmp_path):
    """SIGINT to ansible-playbook while the module recovers from a refused replace: its worker would exit at once."""
    tenant, uk = "cc-" + SUFFIX, "ctrlc-" + SUFFIX
    client_for(server).install_policy(tenant, Policy(unikernels=2, cpuids=(0,), memory=256, block=None,
                                                     bridges=("nope", "service")))
    before = _deploy_v1(server, uk, tenant)
    # The force-create fails after albatross stopped the old unikernel; the module's next info (its check of what
    # runs) stalls, and the controller gets ctrl-c meanwhile.
    server.set_faults([{"fault": "stall", "command": "info", "nth": 2, "seconds": 4}])
    proc = start_playbook("unikernel_replace_once.yml", tmp_path, dict(
        connection_vars(server), tenant=tenant, uk=uk, image=os.path.join(server.images_dir, "web-v2.hvt"),
        memory=64, bridge="nope"))
    try:
        deadline = time.monotonic() + 60
        while not any(f["fault"] == "stall" for f in server.fired_faults()):
            assert time.monotonic() < deadline and proc.poll() is None, "the stall never fired"
            time.sleep(0.05)
        assert running(server, uk, tenant) is None  # neither runs at this moment
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        server.clear_faults()
    deadline = time.monotonic() + 30
    while running(server, uk, tenant) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    after = running(server, uk, tenant)
    assert after is not None and after.digest == before.digest and after.memory == 32
    assert after.started != before.started


def _upgrade_vars(server: Any, label: str, port: int, backup: str, **more: Any) -> dict[str, Any]:
    variables = dict(connection_vars(server), albatross_upgrade_hosts="localhost", albatross_upgrade_name=label,
                     albatross_upgrade_image=os.path.join(server.images_dir, "web-v2.hvt"),
                     albatross_upgrade_checks=[http_check(port)], albatross_upgrade_backup_dir=backup,
                     albatross_upgrade_settle=0.3)
    variables.update(more)
    return variables


def test_no_op_upgrade_and_aborted_pre_check_change_nothing_in_the_recap(server, tmp_path):
    label, port, backup = "noop-" + SUFFIX, free_port(), str(tmp_path / "backups")
    deploy(server, label, port, "web-v2.hvt")
    results = run_playbook(UPGRADE, tmp_path, _upgrade_vars(server, label, port, backup))
    assert results.returncode == 0, results.output[-4000:]
    assert results.changed() == 0, results.output[-4000:]
    assert "changed=0" in results.output
    shown = results.record("Show the outcome")["result"]["msg"][0]
    assert shown.startswith("Nothing to do") and shown.endswith("1 post-check(s) passed."), shown
    assert "+++ after" not in results.output  # --diff shows nothing: nothing changed

    before = running(server, label)
    aborted = run_playbook(UPGRADE, tmp_path, _upgrade_vars(
        server, label, port, backup, albatross_upgrade_image=os.path.join(server.images_dir, "web-v1.hvt"),
        albatross_upgrade_checks=[http_check(port, body="^v1 ", retries=0)]))
    assert aborted.returncode == 2, aborted.output[-4000:]
    assert aborted.changed() == 0, aborted.output[-4000:]
    message = aborted.record("Fail the host when the upgrade failed")["result"]["msg"]
    assert "nothing was changed" in message and "pre-checks" in message
    assert "+++ after" not in aborted.output  # no diff of a change that was not made
    assert running(server, label).started == before.started


def test_upgrade_shows_its_diff_once(server, tmp_path):
    label, port, backup = "once-" + SUFFIX, free_port(), str(tmp_path / "backups")
    deploy(server, label, port)
    results = run_playbook(UPGRADE, tmp_path, _upgrade_vars(server, label, port, backup))
    assert results.returncode == 0, results.output[-4000:]
    assert results.output.count("+++ after") == 1, results.output[-6000:]
    assert results.output.count("-    \"digest\": \"%s\"" % digest(server, "web-v1.hvt")) == 1, results.output[-6000:]
    assert results.changed() == 1


class HangingHttp:
    """Accepts HTTP connections and never answers: a post-check against it waits until the run is killed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def start_playbook(playbook: str, tmp_path: Any, extra_vars: dict[str, Any]) -> subprocess.Popen:
    """ansible-playbook in its own process group (so that it and its workers can be killed together)."""
    work = tempfile.mkdtemp(prefix="ansible-killed-", dir=str(tmp_path))
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    paths = {}
    for name, value in (("inventory", inventory), ("vars", extra_vars)):
        paths[name] = os.path.join(work, name + ".json")
        with open(paths[name], "w", encoding="utf-8") as handle:
            json.dump(value, handle)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", paths["inventory"], "-e", "@" + paths["vars"],
               os.path.join(PLAYBOOKS, playbook)]
    log = open(os.path.join(work, "output.txt"), "w", encoding="utf-8")  # pylint: disable=consider-using-with
    return subprocess.Popen(command, env=environment(work), cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_upgrade_killed_during_the_post_checks_is_checked_by_the_next_run(server, tmp_path):
    label, port, backup = "killed-" + SUFFIX, free_port(), str(tmp_path / "backups")
    deploy(server, label, port)
    hang = HangingHttp()
    proc = start_playbook(UPGRADE, tmp_path, _upgrade_vars(
        server, label, port, backup,
        albatross_upgrade_post_checks=[{"http": {"url": "http://127.0.0.1:%d/" % hang.port, "timeout": 120}, "retries": 0}]))
    try:
        assert hang.accepted.wait(120), "the post-check never started"
        # The replace is done and the post-checks run: the controller dies now, before it could judge them.
        assert running(server, label).digest.hex() == digest(server, "web-v2.hvt")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        hang.close()
    assert proc.returncode == -signal.SIGKILL
    kept = os.path.join(backup, server_key(server), label + ".json")
    with open(kept, encoding="utf-8") as handle:
        assert json.load(handle)["digest"] == digest(server, "web-v1.hvt")
    assert not os.path.exists(os.path.join(backup, server_key(server), label + ".upgrade.json"))

    # The next run finds v2 in place, but does not say "ok" without the post-checks: here they pass.
    passing = run_playbook(UPGRADE, tmp_path, _upgrade_vars(
        server, label, port, backup, albatross_upgrade_post_checks=[http_check(port, body="^v2 ")]))
    assert passing.returncode == 0, passing.output[-4000:]
    checks = passing.record("Keep the post-check results for the report")["result"]["ansible_facts"]["_albatross_upgrade_postchecks"]
    assert [c["ok"] for c in checks] == [True, True]
    assert passing.record("Show the outcome")["result"]["msg"][0].endswith("2 post-check(s) passed.")
    assert passing.changed() == 0

    # And when they fail, the kept copy of v1 (another image) comes back.
    failing = run_playbook(UPGRADE, tmp_path, _upgrade_vars(
        server, label, port, backup, albatross_upgrade_post_checks=[http_check(port, body="^v3 ", retries=0)]))
    assert failing.returncode == 2, failing.output[-4000:]
    message = failing.record("Fail the host when the upgrade failed")["result"]["msg"]
    assert "fails its post-checks" in message and "Rolled back: the kept image %s" % digest(server, "web-v1.hvt")[:12] in message
    assert running(server, label).digest.hex() == digest(server, "web-v1.hvt")
    with open(os.path.join(backup, server_key(server), label + ".upgrade.json"), encoding="utf-8") as handle:
        upgrade = json.load(handle)
    assert upgrade["outcome"] == "rolled_back" and upgrade["rollback"]["outcome"] == "restored"
    assert upgrade["kept"]["config"] == kept

    # With nothing kept of another image, a failing check fails the host and says that nothing was changed.
    deploy(server, label, port, "web-v2.hvt")
    os.unlink(kept)
    alone = run_playbook(UPGRADE, tmp_path, _upgrade_vars(
        server, label, port, backup, albatross_upgrade_post_checks=[http_check(port, body="^v3 ", retries=0)]))
    assert alone.returncode == 2
    message = alone.record("Fail the host when the upgrade failed")["result"]["msg"]
    assert "but its checks fail" in message and "nothing was changed" in message, message
    assert alone.changed() == 0

    # Gone altogether (a SIGKILL at the worst moment of a replace): the upgrade points at the kept copy.
    with open(kept, "w", encoding="utf-8") as handle:
        json.dump({"name": label, "digest": digest(server, "web-v1.hvt"), "options": {"memory": 32}}, handle)
    client_for(server).unikernel_destroy(label)
    gone = run_playbook(UPGRADE, tmp_path, _upgrade_vars(server, label, port, backup))
    assert gone.returncode == 2
    message = gone.record("Fail the host when the upgrade failed")["result"]["msg"]
    assert "does not run" in message and "A copy kept by an earlier upgrade is in %s" % kept[:-5] in message, message
    assert "unikernels.albatross.rollback role restores it" in message
