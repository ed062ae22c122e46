# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host role converged twice into a local directory: the second run changes nothing.

With root, the play runs inside a throw-away network namespace and also creates a bridge
there; without root it runs with no bridges (the bridge module has its own namespace test).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest

from ansible_collections.unikernels.albatross.tests.integration._host_tools import Namespace, namespace_skip_reason
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = """\
- name: Converge the host role
  hosts: albhost
  gather_facts: false
  roles:
    - role: unikernels.albatross.host
"""


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def netns():
    """A namespace when this machine allows one, else None (bridges are then left out)."""
    if namespace_skip_reason():
        yield None
        return
    namespace = Namespace()
    try:
        yield namespace
    finally:
        namespace.remove()


def converge(tmp_path, extra_vars, namespace=None):
    playbook = tmp_path / "converge.yml"
    playbook.write_text(PLAYBOOK)
    prefix = namespace.prefix() if namespace is not None else ()
    return run_playbook(str(playbook), tmp_path, extra_vars, hosts={"albhost": {}}, diff=False, prefix=prefix)


def base_vars(tmp_path, init):
    return {
        "albatross_host_root": str(tmp_path / "root"),
        "albatross_host_init": init,
        "albatross_host_manage_services": False,
        "albatross_host_manage_user": False,
        "albatross_host_user": pwd.getpwuid(os.getuid()).pw_name,
        "albatross_host_group": grp.getgrgid(os.getgid()).gr_name,
        "albatross_host_pki_dir": str(tmp_path / "pki"),
    }


def test_host_role_systemd_converges(tmp_path, netns):
    extra = base_vars(tmp_path, "systemd")
    extra.update({
        "albatross_host_stats_flags": ["--interval=5"],
        "albatross_host_dbdir": "/srv/albatross",
        "albatross_host_tls_address": "2001:db8::10",
    })
    if netns is not None:
        extra["albatross_host_bridges"] = [{"name": "service", "addresses": ["192.0.2.1/24"], "persistent": True}]

    first = converge(tmp_path, extra, netns)
    assert first.returncode == 0, first.output[-4000:]
    assert first.changed() > 0

    second = converge(tmp_path, extra, netns)
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed() == 0, second.output[-4000:]

    root = tmp_path / "root"
    tls = root / "etc" / "albatross" / "tls"
    assert mode(tls / "server.key") == 0o600 and mode(tls / "server.pem") == 0o644 and mode(tls) == 0o750
    assert (tls / "cacert.pem").read_bytes() == (tmp_path / "pki" / "cacert.pem").read_bytes()
    assert mode(tmp_path / "pki" / "ca.key") == 0o600
    assert not (root / "etc" / "albatross" / "tls" / "ca.key").exists()
    assert mode(root / "srv" / "albatross") == 0o700 and (root / "srv" / "albatross" / "block").is_dir()

    units = root / "etc" / "systemd" / "system"
    assert sorted(p.name for p in units.iterdir()) == sorted(
        "albatross_%s.%s" % (name, kind) for name in ("console", "daemon", "stats", "tls_endpoint") for kind in ("service", "socket"))
    daemon = (units / "albatross_daemon.service").read_text()
    assert ('ExecStart=/usr/libexec/albatross/albatrossd --systemd-socket-activation --tmpdir="%t/albatross/" '
            '--dbdir="/srv/albatross"\n') in daemon
    stats = (units / "albatross_stats.service").read_text()
    assert 'albatross-stats --systemd-socket-activation --tmpdir="%t/albatross/" --interval=5\n' in stats
    endpoint = (units / "albatross_tls_endpoint.service").read_text()
    assert 'Environment="CA=/etc/albatross/tls/cacert.pem" "CERT=/etc/albatross/tls/server.pem" "KEY=/etc/albatross/tls/server.key"' in endpoint
    assert "ListenStream=[2001:db8::10]:1025\n" in (units / "albatross_tls_endpoint.socket").read_text()

    if netns is not None:
        assert "service" in netns.links()
        assert netns.addresses("service") == ["192.0.2.1/24"]
        assert (root / "etc" / "systemd" / "network" / "service.network").is_file()


def test_host_role_freebsd_rc_files(tmp_path):
    extra = base_vars(tmp_path, "rc")
    extra["albatross_host_tls_port"] = 1026
    # One run: idempotence is the same mechanism as in the systemd test, which converges twice.
    first = converge(tmp_path, extra)
    assert first.returncode == 0, first.output[-4000:]

    rc_conf = tmp_path / "root" / "etc" / "rc.conf.d"
    assert sorted(p.name for p in rc_conf.iterdir()) == ["albatross_console", "albatross_daemon", "albatross_stats", "albatross_tls"]
    assert ('albatross_tls_flags="--port=1026 /usr/local/etc/albatross/tls/cacert.pem /usr/local/etc/albatross/tls/server.pem '
            '/usr/local/etc/albatross/tls/server.key"') in (rc_conf / "albatross_tls").read_text()
    assert 'albatross_daemon_flags=""' in (rc_conf / "albatross_daemon").read_text()
    assert (tmp_path / "root" / "var" / "db" / "albatross").is_dir()
    assert mode(tmp_path / "root" / "usr" / "local" / "etc" / "albatross" / "tls" / "server.key") == 0o600


def test_host_role_rejects_flags_with_spaces(tmp_path):
    extra = base_vars(tmp_path, "systemd")
    extra["albatross_host_daemon_flags"] = ["--allow-zvol-for=a b"]
    run = converge(tmp_path, extra)
    assert run.returncode != 0
    assert "one word" in run.record("Daemon flags are single words")["result"]["msg"]
    assert not (tmp_path / "root").exists()
