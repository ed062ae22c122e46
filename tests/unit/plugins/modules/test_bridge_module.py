# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge module as a whole, with `ip` replaced by a scripted fake (no root needed)."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.unikernels.albatross.plugins.modules import bridge as bridge_module

EMPTY_HOST = [{"ifname": "lo", "flags": ["LOOPBACK", "UP"], "mtu": 65536, "addr_info": []},
              {"ifname": "eth1", "flags": ["UP"], "mtu": 1500, "link_type": "ether", "addr_info": []}]
WITH_BRIDGE = EMPTY_HOST + [
    {"ifname": "br0", "flags": ["UP"], "mtu": 1500, "linkinfo": {"info_kind": "bridge"},
     "addr_info": [{"family": "inet", "local": "192.0.2.1", "prefixlen": 24}]},
    {"ifname": "vmmtap3", "flags": [], "mtu": 1500, "master": "br0", "linkinfo": {"info_kind": "tun"}, "addr_info": []},
]


class Exit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class FakeIp:
    """Answers `ip -j -d addr show` with one state before and another after the first change."""

    def __init__(self, before, after=None, fail_on=None):
        self.states = [before, after if after is not None else before]
        self.changed = False
        self.calls = []
        self.fail_on = fail_on

    def __call__(self, module, argv, **kwargs):
        self.calls.append(argv[1:])
        if argv[1:] == ["-j", "-d", "addr", "show"]:
            return 0, json.dumps(self.states[1 if self.changed else 0]), ""
        if self.fail_on and self.fail_on in argv:
            return 2, "", "RTNETLINK answers: Operation not permitted"
        self.changed = True
        return 0, "", ""


def run(monkeypatch, fake, check_mode=False, diff=True, **args):
    monkeypatch.setattr(bridge_module.platform, "system", lambda: "Linux")
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False: "/usr/sbin/" + name)

    def run_command(self, argv, **kwargs):
        return fake(self, argv, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)

    def leave(self, **result):
        raise Exit(result)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", leave)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", lambda self, **result: leave(self, failed=True, **result))
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(Exit) as caught:
        bridge_module.main()
    return caught.value.result


def test_check_mode_plans_without_running(monkeypatch):
    fake = FakeIp(EMPTY_HOST)
    result = run(monkeypatch, fake, check_mode=True, name="br0", addresses=["192.0.2.1/24"], members=["eth1"])
    assert result["changed"] is True
    assert result["commands"] == ["ip link add name br0 type bridge", "ip link set dev br0 up",
                                  "ip link set dev eth1 master br0 up", "ip addr add 192.0.2.1/24 dev br0"]
    assert fake.calls == [["-j", "-d", "addr", "show"]]
    assert result["diff"]["before"] == {"name": "br0", "state": "absent"}
    assert result["diff"]["after"]["members"] == ["eth1"]
    assert result["bridge"] == result["diff"]["after"]


def test_real_run_runs_the_plan_and_reads_back(monkeypatch):
    fake = FakeIp(EMPTY_HOST, WITH_BRIDGE)
    result = run(monkeypatch, fake, name="br0", addresses=["192.0.2.1/24"])
    assert result["changed"] is True
    assert fake.calls[1:4] == [["link", "add", "name", "br0", "type", "bridge"], ["link", "set", "dev", "br0", "up"],
                               ["addr", "add", "192.0.2.1/24", "dev", "br0"]]
    assert result["bridge"]["unikernel_taps"] == ["vmmtap3"]


def test_unchanged(monkeypatch):
    fake = FakeIp(WITH_BRIDGE)
    result = run(monkeypatch, fake, name="br0", addresses=["192.0.2.1/24"], mtu=1500)
    assert result["changed"] is False and result["commands"] == []
    assert fake.calls == [["-j", "-d", "addr", "show"]]


def test_removal_refused_with_taps(monkeypatch):
    result = run(monkeypatch, FakeIp(WITH_BRIDGE), name="br0", state="absent")
    assert result["failed"] and "vmmtap3" in result["msg"] and "force=true" in result["msg"]
    result = run(monkeypatch, FakeIp(WITH_BRIDGE, EMPTY_HOST), check_mode=True, name="br0", state="absent", force=True)
    assert result["changed"] and result["commands"] == ["ip link del dev br0"]


def test_command_failure_is_reported(monkeypatch):
    result = run(monkeypatch, FakeIp(EMPTY_HOST, fail_on="up"), name="br0")
    assert result["failed"] and "Operation not permitted" in result["msg"]
    assert result["commands"] == ["ip link add name br0 type bridge"]


def test_bad_options(monkeypatch):
    result = run(monkeypatch, FakeIp(EMPTY_HOST), name="br0", addresses=["fe80::1/64"])
    assert result["failed"] and "link-local" in result["msg"]


def test_persistent_files(monkeypatch, tmp_path):
    fake = FakeIp(WITH_BRIDGE)
    args = dict(name="br0", addresses=["192.0.2.1/24"], persistent=True, networkd_dir=str(tmp_path))
    predicted = run(monkeypatch, fake, check_mode=True, **args)
    assert predicted["changed"] and predicted["commands"] == []
    assert predicted["networkd_files"] == [str(tmp_path / "br0.netdev"), str(tmp_path / "br0.network")]
    assert list(tmp_path.iterdir()) == []
    assert predicted["diff"]["before"]["networkd_files"] == {str(tmp_path / "br0.netdev"): None, str(tmp_path / "br0.network"): None}
    first = run(monkeypatch, fake, **args)
    assert first["changed"] and (tmp_path / "br0.network").read_text().endswith("Address=192.0.2.1/24\n")
    assert oct((tmp_path / "br0.netdev").stat().st_mode & 0o777) == "0o644"
    assert run(monkeypatch, fake, **args)["changed"] is False
    gone = run(monkeypatch, FakeIp(EMPTY_HOST), name="br0", state="absent", persistent=True, networkd_dir=str(tmp_path))
    assert gone["changed"] and list(tmp_path.iterdir()) == []


def test_persistent_needs_directory(monkeypatch, tmp_path):
    result = run(monkeypatch, FakeIp(EMPTY_HOST), name="br0", persistent=True, networkd_dir=str(tmp_path / "nope"))
    assert result["failed"] and "does not exist" in result["msg"]


def test_freebsd_reads_ifconfig(monkeypatch):
    calls = []

    def fake(module, argv, **kwargs):
        calls.append(argv)
        return 0, "em0: flags=8863<UP,BROADCAST> metric 0 mtu 1500\n", ""

    monkeypatch.setattr(bridge_module.platform, "system", lambda: "FreeBSD")
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False: "/sbin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake)

    def leave(self, **result):
        raise Exit(result)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", leave)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", lambda self, **result: leave(self, failed=True, **result))
    with patch_module_args(dict(name="service", _ansible_check_mode=True)), pytest.raises(Exit) as caught:
        bridge_module.main()
    assert caught.value.result["commands"] == ["ifconfig bridge create name service", "ifconfig service up"]
    assert calls == [["/sbin/ifconfig", "-a"]]
    with patch_module_args(dict(name="service", persistent=True)), pytest.raises(Exit) as caught:
        bridge_module.main()
    assert caught.value.result["failed"] and "Linux only" in caught.value.result["msg"]
