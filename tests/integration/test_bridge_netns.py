# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge module run by ansible-playbook inside a throw-away network namespace (needs root)."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.tests.integration._host_tools import Namespace, require_namespaces
from ansible_collections.unikernels.albatross.tests.integration._playbooks import run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.root]

PLAYBOOK = """\
- name: One bridge task
  hosts: target
  gather_facts: false
  tasks:
    - name: Bridge
      unikernels.albatross.bridge: "{{ bridge_args }}"
      check_mode: "{{ bridge_check | default(false) }}"
      diff: true
"""

BR = "albbr0"


@pytest.fixture
def netns():
    require_namespaces()
    namespace = Namespace()
    try:
        yield namespace
    finally:
        namespace.remove()


@pytest.fixture
def runner(tmp_path, netns):
    playbook = tmp_path / "bridge.yml"
    playbook.write_text(PLAYBOOK)

    def run(check=False, **bridge_args):
        extra = {"bridge_args": bridge_args, "bridge_check": check}
        return run_playbook(str(playbook), tmp_path, extra, hosts={"target": {}}, diff=False, prefix=netns.prefix())

    return run


def test_bridge_lifecycle(runner, netns, tmp_path):
    networkd = tmp_path / "network"
    networkd.mkdir()
    options = dict(name=BR, addresses=["192.0.2.1/24", "fd00:a1b::1/64"], mtu=1400, persistent=True, networkd_dir=str(networkd))

    # Create.
    first = runner(**options)
    assert first.returncode == 0, first.output[-4000:]
    created = first.record("Bridge")["result"]
    assert created["changed"] is True
    assert created["commands"][0] == "ip link add name %s type bridge" % BR
    link = netns.links()[BR]
    assert link["linkinfo"]["info_kind"] == "bridge" and link["mtu"] == 1400 and "UP" in link["flags"]
    assert netns.addresses(BR) == ["192.0.2.1/24", "fd00:a1b::1/64"]
    assert sorted(p.name for p in networkd.iterdir()) == [BR + ".netdev", BR + ".network"]
    assert "Address=fd00:a1b::1/64" in (networkd / (BR + ".network")).read_text()

    # Idempotent second run.
    second = runner(**options)
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed() == 0 and second.record("Bridge")["result"]["commands"] == []

    # Check mode predicts a change of address and changes nothing.
    options["addresses"] = ["192.0.2.2/24", "fd00:a1b::1/64"]
    predicted = runner(check=True, **options)
    assert predicted.returncode == 0, predicted.output[-4000:]
    planned = predicted.record("Bridge")["result"]
    assert planned["changed"] is True
    assert planned["commands"] == ["ip addr del 192.0.2.1/24 dev %s" % BR, "ip addr add 192.0.2.2/24 dev %s" % BR]
    assert planned["diff"]["after"]["addresses"] == ["192.0.2.2/24", "fd00:a1b::1/64"]
    assert netns.addresses(BR) == ["192.0.2.1/24", "fd00:a1b::1/64"]

    # Change the address.
    changed = runner(**options)
    assert changed.returncode == 0, changed.output[-4000:]
    assert changed.record("Bridge")["result"]["commands"] == planned["commands"]
    assert netns.addresses(BR) == ["192.0.2.2/24", "fd00:a1b::1/64"]

    # Add a member: one end of a veth pair.
    netns.ip("link", "add", "albveth0", "type", "veth", "peer", "name", "albveth1")
    options["members"] = ["albveth0"]
    member = runner(**options)
    assert member.returncode == 0, member.output[-4000:]
    assert member.record("Bridge")["result"]["bridge"]["members"] == ["albveth0"]
    assert netns.links()["albveth0"].get("master") == BR
    assert "Name=albveth0" in (networkd / (BR + "-members.network")).read_text()

    # A unikernel tap (named as albatross names them) joins; the member list does not detach it.
    netns.ip("tuntap", "add", "dev", "vmmtap0", "mode", "tap")
    netns.ip("link", "set", "dev", "vmmtap0", "master", BR)
    again = runner(**options)
    assert again.returncode == 0 and again.changed() == 0, again.output[-4000:]
    assert again.record("Bridge")["result"]["bridge"]["unikernel_taps"] == ["vmmtap0"]

    # Removal is refused while the tap is attached, naming it.
    refused = runner(name=BR, state="absent", persistent=True, networkd_dir=str(networkd))
    assert refused.returncode != 0
    failure = refused.record("Bridge")
    assert failure["status"] == "failed" and "vmmtap0" in failure["result"]["msg"] and "force=true" in failure["result"]["msg"]
    assert BR in netns.links()

    # Forced removal.
    removed = runner(name=BR, state="absent", force=True, persistent=True, networkd_dir=str(networkd))
    assert removed.returncode == 0, removed.output[-4000:]
    assert removed.record("Bridge")["result"]["changed"] is True
    assert BR not in netns.links() and list(networkd.iterdir()) == []
    assert netns.links()["albveth0"].get("master") is None

    gone = runner(name=BR, state="absent")
    assert gone.returncode == 0 and gone.changed() == 0, gone.output[-4000:]


def test_remove_without_taps_and_check_mode_create(runner, netns):
    predicted = runner(check=True, name="albbr1")
    assert predicted.returncode == 0, predicted.output[-4000:]
    assert predicted.record("Bridge")["result"]["changed"] is True
    assert "albbr1" not in netns.links()

    created = runner(name="albbr1", up=False)
    assert created.returncode == 0, created.output[-4000:]
    assert "UP" not in netns.links()["albbr1"]["flags"]

    removed = runner(name="albbr1", state="absent")
    assert removed.returncode == 0 and removed.changed() == 1, removed.output[-4000:]
    assert "albbr1" not in netns.links()
