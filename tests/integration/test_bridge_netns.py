# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge module run by ansible-playbook inside a throw-away network namespace (needs root)."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.tests.integration._host_tools import (
    Namespace,
    require_namespaces,
    run_playbook,
    write_inventory,
)

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
    inventory = write_inventory(str(tmp_path / "inventory.json"))

    def run(check=False, **bridge_args):
        extra = {"bridge_args": bridge_args, "bridge_check": check}
        return run_playbook(str(playbook), inventory, str(tmp_path), extra_vars=extra, namespace=netns)

    return run


def test_bridge_lifecycle(runner, netns, tmp_path):
    networkd = tmp_path / "network"
    networkd.mkdir()
    options = dict(name=BR, addresses=["192.0.2.1/24", "fd00:a1b::1/64"], mtu=1400, persistent=True, networkd_dir=str(networkd))

    # Create.
    first = runner(**options)
    assert first.rc == 0, first.explain()
    created = first.result("Bridge")["result"]
    assert created["changed"] is True
    assert created["commands"][0] == "ip link add name %s type bridge" % BR
    link = netns.links()[BR]
    assert link["linkinfo"]["info_kind"] == "bridge" and link["mtu"] == 1400 and "UP" in link["flags"]
    assert netns.addresses(BR) == ["192.0.2.1/24", "fd00:a1b::1/64"]
    assert sorted(p.name for p in networkd.iterdir()) == [BR + ".netdev", BR + ".network"]
    assert "Address=fd00:a1b::1/64" in (networkd / (BR + ".network")).read_text()

    # Idempotent second run.
    second = runner(**options)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0 and second.result("Bridge")["result"]["commands"] == []

    # Check mode predicts a change of address and changes nothing.
    options["addresses"] = ["192.0.2.2/24", "fd00:a1b::1/64"]
    predicted = runner(check=True, **options)
    assert predicted.rc == 0, predicted.explain()
    planned = predicted.result("Bridge")["result"]
    assert planned["changed"] is True
    assert planned["commands"] == ["ip addr del 192.0.2.1/24 dev %s" % BR, "ip addr add 192.0.2.2/24 dev %s" % BR]
    assert planned["diff"]["after"]["addresses"] == ["192.0.2.2/24", "fd00:a1b::1/64"]
    assert netns.addresses(BR) == ["192.0.2.1/24", "fd00:a1b::1/64"]

    # Change the address.
    changed = runner(**options)
    assert changed.rc == 0, changed.explain()
    assert changed.result("Bridge")["result"]["commands"] == planned["commands"]
    assert netns.addresses(BR) == ["192.0.2.2/24", "fd00:a1b::1/64"]

    # Add a member: one end of a veth pair.
    netns.ip("link", "add", "albveth0", "type", "veth", "peer", "name", "albveth1")
    options["members"] = ["albveth0"]
    member = runner(**options)
    assert member.rc == 0, member.explain()
    assert member.result("Bridge")["result"]["bridge"]["members"] == ["albveth0"]
    assert netns.links()["albveth0"].get("master") == BR
    assert "Name=albveth0" in (networkd / (BR + "-members.network")).read_text()

    # A unikernel tap (named as albatross names them) joins; the member list does not detach it.
    netns.ip("tuntap", "add", "dev", "vmmtap0", "mode", "tap")
    netns.ip("link", "set", "dev", "vmmtap0", "master", BR)
    again = runner(**options)
    assert again.rc == 0 and again.changed() == 0, again.explain()
    assert again.result("Bridge")["result"]["bridge"]["unikernel_taps"] == ["vmmtap0"]

    # Removal is refused while the tap is attached, naming it.
    refused = runner(name=BR, state="absent", persistent=True, networkd_dir=str(networkd))
    assert refused.rc != 0
    failure = refused.result("Bridge")
    assert failure["status"] == "failed" and "vmmtap0" in failure["result"]["msg"] and "force=true" in failure["result"]["msg"]
    assert BR in netns.links()

    # Forced removal.
    removed = runner(name=BR, state="absent", force=True, persistent=True, networkd_dir=str(networkd))
    assert removed.rc == 0, removed.explain()
    assert removed.result("Bridge")["result"]["changed"] is True
    assert BR not in netns.links() and list(networkd.iterdir()) == []
    assert netns.links()["albveth0"].get("master") is None

    gone = runner(name=BR, state="absent")
    assert gone.rc == 0 and gone.changed() == 0, gone.explain()


def test_remove_without_taps_and_check_mode_create(runner, netns):
    predicted = runner(check=True, name="albbr1")
    assert predicted.rc == 0, predicted.explain()
    assert predicted.result("Bridge")["result"]["changed"] is True
    assert "albbr1" not in netns.links()

    created = runner(name="albbr1", up=False)
    assert created.rc == 0, created.explain()
    assert "UP" not in netns.links()["albbr1"]["flags"]

    removed = runner(name="albbr1", state="absent")
    assert removed.rc == 0 and removed.changed() == 1, removed.explain()
    assert "albbr1" not in netns.links()
