# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the bridge module: state parsing and command planning for Linux and FreeBSD."""

from __future__ import annotations

import json

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _bridge, _networkd
from ansible_collections.unikernels.albatross.plugins.module_utils._bridge import BridgeError, BridgeState, build_desired

# Shape of `ip -j -d addr show` (iproute2 6.1), trimmed to the keys that matter plus some noise.
LINUX_LINKS = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536, "operstate": "UNKNOWN",
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
    {"ifindex": 2, "ifname": "br0", "flags": ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"], "mtu": 1400,
     "linkinfo": {"info_kind": "bridge", "info_data": {"stp_state": 0}},
     "addr_info": [
         {"family": "inet", "local": "192.0.2.1", "prefixlen": 24, "scope": "global", "label": "br0"},
         {"family": "inet6", "local": "fd00::1", "prefixlen": 64, "scope": "global", "tentative": True},
         {"family": "inet6", "local": "fe80::1c2f:aaff:fe00:1", "prefixlen": 64, "scope": "link"}]},
    {"ifindex": 3, "ifname": "vb", "flags": ["BROADCAST", "MULTICAST"], "mtu": 1500,
     "linkinfo": {"info_kind": "veth"}, "addr_info": []},
    {"ifindex": 4, "ifname": "va", "flags": ["BROADCAST", "MULTICAST", "UP", "M-DOWN"], "mtu": 1500, "master": "br0",
     "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge"}, "addr_info": []},
    {"ifindex": 5, "ifname": "vmmtap0", "flags": ["BROADCAST", "MULTICAST"], "mtu": 1500, "master": "br0",
     "linkinfo": {"info_kind": "tun", "info_slave_kind": "bridge"}, "addr_info": []},
    {"ifindex": 6, "ifname": "eth1", "flags": ["BROADCAST", "MULTICAST", "UP"], "mtu": 1500,
     "link_type": "ether", "addr_info": []},
]

FREEBSD_IFCONFIG = """\
em0: flags=8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\toptions=481009b<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,VLAN_HWCSUM,VLAN_HWFILTER,NOMAP>
\tether 08:00:27:aa:bb:cc
\tinet 198.51.100.5 netmask 0xffffff00 broadcast 198.51.100.255
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x2
\tinet 127.0.0.1 netmask 0xff000000
\tgroups: lo
service: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:10:ff:c6
\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
\tinet6 fe80::5a9c:fcff:fe10:ffc6%service prefixlen 64 scopeid 0x3
\tinet6 2001:db8::1 prefixlen 64
\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15
\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200
\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0
\tmember: tap0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
\t        ifmaxaddr 0 port 5 priority 128 path cost 2000000
\tmember: em1 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
\t        ifmaxaddr 0 port 4 priority 128 path cost 20000
\tgroups: bridge
\tnd6 options=9<PERFORMNUD,IFDISABLED>
em1: flags=8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 08:00:27:aa:bb:cd
em2: flags=8822<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 08:00:27:aa:bb:ce
tap0: flags=8943<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:00:00:01
\tgroups: tap
\tOpened by PID 1234
epair0a: flags=8862<BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tinet 203.0.113.7/24 broadcast 203.0.113.255
\tgroups: epair
"""


def linux(name="br0", links=None):
    return _bridge.linux_state(json.dumps(LINUX_LINKS if links is None else links), name)


def freebsd(name="service"):
    return _bridge.freebsd_state(FREEBSD_IFCONFIG, name)


def desired_from(state: BridgeState, **changes):
    """Options that describe ``state`` exactly, with ``changes`` applied."""
    options = dict(name=state.name, mtu=state.mtu, addresses=list(state.addresses), members=list(state.members))
    options.update(changes)
    return build_desired(**options)


# --- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["br0", "service", "a", "br-ext.1", "x" * 15, "_priv"])
def test_valid_names(name):
    assert _bridge.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 16, "-br", ".", "..", "a/b", "br 0", "br:0", None])
def test_invalid_names(name):
    with pytest.raises(BridgeError, match="invalid bridge name"):
        _bridge.validate_name(name)


def test_addresses_are_normalised_and_sorted():
    desired = build_desired("br0", addresses=["fd00:0::1/64", "192.0.2.1/24", "192.0.2.1/24", "10.0.0.1"])
    assert desired.addresses == ("10.0.0.1/32", "192.0.2.1/24", "fd00::1/64")


@pytest.mark.parametrize("address, message", [("192.0.2.300/24", "invalid address"), ("fe80::1/64", "link-local"), ("nope", "invalid")])
def test_bad_addresses(address, message):
    with pytest.raises(BridgeError, match=message):
        build_desired("br0", addresses=[address])


def test_other_option_checks():
    with pytest.raises(BridgeError, match="mtu 20 out of range"):
        build_desired("br0", mtu=20)
    with pytest.raises(BridgeError, match="member of itself"):
        build_desired("br0", members=["br0"])
    with pytest.raises(BridgeError, match="invalid member name"):
        build_desired("br0", members=["bad name"])
    with pytest.raises(BridgeError, match="state must be"):
        build_desired("br0", state="started")


def test_unikernel_taps():
    assert _bridge.is_unikernel_tap("vmmtap12") and _bridge.is_unikernel_tap("tap0")
    assert not _bridge.is_unikernel_tap("eth0") and not _bridge.is_unikernel_tap("veth-tap")


# --- Linux -----------------------------------------------------------------------------------

def test_linux_state_parsing():
    state, interfaces = linux()
    assert state == BridgeState(name="br0", exists=True, kind="bridge", up=True, mtu=1400,
                                addresses=("192.0.2.1/24", "fd00::1/64"), members=("va", "vmmtap0"))
    assert state.unikernel_taps == ("vmmtap0",)
    assert interfaces == frozenset({"lo", "br0", "va", "vb", "vmmtap0", "eth1"})
    assert state.as_dict() == {"name": "br0", "state": "present", "up": True, "mtu": 1400,
                               "addresses": ["192.0.2.1/24", "fd00::1/64"], "members": ["va", "vmmtap0"],
                               "unikernel_taps": ["vmmtap0"]}


def test_linux_state_missing_and_other_kinds():
    missing, dummy = linux("br9")
    assert not missing.exists and missing.as_dict() == {"name": "br9", "state": "absent"}
    veth, dummy = linux("vb")
    assert veth.kind == "veth" and not veth.is_bridge
    eth, dummy = linux("eth1")
    assert eth.kind == "ether"
    with pytest.raises(BridgeError, match="cannot parse"):
        _bridge.linux_state("not json", "br0")
    with pytest.raises(BridgeError, match="not a list"):
        _bridge.linux_state("{}", "br0")
    assert _bridge.linux_state("", "br0")[0].exists is False


def test_linux_create_everything():
    current, interfaces = linux("service")
    desired = build_desired("service", mtu=9000, addresses=["2001:db8::1/64", "192.0.2.1/24"], members=["eth1"])
    assert _bridge.plan_linux(current, desired, interfaces) == [
        ["ip", "link", "add", "name", "service", "type", "bridge"],
        ["ip", "link", "set", "dev", "service", "mtu", "9000"],
        ["ip", "link", "set", "dev", "service", "up"],
        ["ip", "link", "set", "dev", "eth1", "master", "service", "up"],
        ["ip", "addr", "add", "192.0.2.1/24", "dev", "service"],
        ["ip", "addr", "add", "2001:db8::1/64", "dev", "service"],
    ]
    predicted = _bridge.predict(current, desired)
    assert predicted.as_dict() == {"name": "service", "state": "present", "up": True, "mtu": 9000,
                                   "addresses": ["192.0.2.1/24", "2001:db8::1/64"], "members": ["eth1"], "unikernel_taps": []}


def test_linux_create_minimal_and_down():
    current, interfaces = linux("br1")
    assert _bridge.plan_linux(current, build_desired("br1"), interfaces) == [
        ["ip", "link", "add", "name", "br1", "type", "bridge"], ["ip", "link", "set", "dev", "br1", "up"]]
    assert _bridge.plan_linux(current, build_desired("br1", up=False), interfaces) == [
        ["ip", "link", "add", "name", "br1", "type", "bridge"]]
    assert _bridge.predict(current, build_desired("br1")).mtu is None


def test_linux_unchanged():
    current, interfaces = linux()
    assert _bridge.plan_linux(current, desired_from(current), interfaces) == []
    # Options left out are not compared.
    assert _bridge.plan_linux(current, build_desired("br0"), interfaces) == []
    assert _bridge.predict(current, build_desired("br0")) == current


def test_linux_change_address_mtu_and_members():
    current, interfaces = linux()
    desired = desired_from(current, mtu=1500, addresses=["192.0.2.2/24", "fd00::1/64"], members=["eth1"])
    assert _bridge.plan_linux(current, desired, interfaces) == [
        ["ip", "link", "set", "dev", "br0", "mtu", "1500"],
        ["ip", "link", "set", "dev", "va", "nomaster"],
        ["ip", "link", "set", "dev", "eth1", "master", "br0", "up"],
        ["ip", "addr", "del", "192.0.2.1/24", "dev", "br0"],
        ["ip", "addr", "add", "192.0.2.2/24", "dev", "br0"],
    ]
    # The unikernel tap stays although it is not listed.
    assert _bridge.predict(current, desired).members == ("eth1", "vmmtap0")


def test_linux_empty_lists_remove_everything_but_taps():
    current, interfaces = linux()
    assert _bridge.plan_linux(current, build_desired("br0", addresses=[], members=[]), interfaces) == [
        ["ip", "link", "set", "dev", "va", "nomaster"],
        ["ip", "addr", "del", "192.0.2.1/24", "dev", "br0"],
        ["ip", "addr", "del", "fd00::1/64", "dev", "br0"],
    ]


def test_linux_down():
    current, interfaces = linux()
    assert _bridge.plan_linux(current, build_desired("br0", up=False), interfaces) == [["ip", "link", "set", "dev", "br0", "down"]]


def test_linux_missing_member_and_wrong_kind():
    current, interfaces = linux()
    with pytest.raises(BridgeError, match=r"member interface\(s\) eth7 do not exist"):
        _bridge.plan_linux(current, build_desired("br0", members=["eth7"]), interfaces)
    veth, interfaces = linux("vb")
    with pytest.raises(BridgeError, match="vb exists but is not a bridge"):
        _bridge.plan_linux(veth, build_desired("vb"), interfaces)
    with pytest.raises(BridgeError, match="not a bridge.*refusing"):
        _bridge.plan_linux(veth, build_desired("vb", state="absent"), interfaces)


def test_linux_removal():
    current, interfaces = linux()
    with pytest.raises(BridgeError, match="still has unikernel taps attached: vmmtap0; .*force=true"):
        _bridge.plan_linux(current, build_desired("br0", state="absent"), interfaces)
    forced = build_desired("br0", state="absent", force=True)
    assert _bridge.plan_linux(current, forced, interfaces) == [["ip", "link", "del", "dev", "br0"]]
    assert _bridge.predict(current, forced).as_dict() == {"name": "br0", "state": "absent"}
    without_taps = [link for link in LINUX_LINKS if link["ifname"] != "vmmtap0"]
    current, interfaces = linux(links=without_taps)
    assert _bridge.plan_linux(current, build_desired("br0", state="absent"), interfaces) == [["ip", "link", "del", "dev", "br0"]]
    gone, interfaces = linux("br9")
    assert _bridge.plan_linux(gone, build_desired("br9", state="absent"), interfaces) == []


# --- FreeBSD ---------------------------------------------------------------------------------

def test_freebsd_parsing():
    interfaces = _bridge.parse_ifconfig(FREEBSD_IFCONFIG)
    assert sorted(interfaces) == ["em0", "em1", "em2", "epair0a", "lo0", "service", "tap0"]
    assert interfaces["em0"].addresses == ["198.51.100.5/24"]
    assert interfaces["lo0"].addresses == ["::1/128", "127.0.0.1/8"]
    assert interfaces["epair0a"].addresses == ["203.0.113.7/24"]
    state, names = freebsd()
    assert state == BridgeState(name="service", exists=True, kind="bridge", up=True, mtu=1500,
                                addresses=("192.0.2.1/24", "2001:db8::1/64"), members=("em1", "tap0"))
    assert state.unikernel_taps == ("tap0",)
    assert "em2" in names
    em0, dummy = freebsd("em0")
    assert em0.exists and not em0.is_bridge and em0.kind == "unknown"
    assert freebsd("tap0")[0].kind == "tap"
    assert not freebsd("bridge3")[0].exists


def test_freebsd_parse_error():
    with pytest.raises(BridgeError, match="cannot parse ifconfig line"):
        _bridge.parse_ifconfig("x0: flags=8843<UP> metric 0 mtu 1500\n\tinet 192.0.2.1 netmask 0xzz\n")


def test_freebsd_create_named_and_numbered():
    current, interfaces = freebsd("private")
    desired = build_desired("private", mtu=9000, addresses=["192.0.2.1/24", "2001:db8:1::1/64"], members=["em2"])
    assert _bridge.plan_freebsd(current, desired, interfaces) == [
        ["ifconfig", "bridge", "create", "name", "private"],
        ["ifconfig", "private", "mtu", "9000"],
        ["ifconfig", "private", "up"],
        ["ifconfig", "private", "addm", "em2"],
        ["ifconfig", "em2", "up"],
        ["ifconfig", "private", "inet", "192.0.2.1/24", "alias"],
        ["ifconfig", "private", "inet6", "2001:db8:1::1", "prefixlen", "64", "alias"],
    ]
    current, interfaces = freebsd("bridge3")
    assert _bridge.plan_freebsd(current, build_desired("bridge3", up=False), interfaces) == [["ifconfig", "bridge3", "create"]]


def test_freebsd_unchanged_and_changes():
    current, interfaces = freebsd()
    assert _bridge.plan_freebsd(current, desired_from(current), interfaces) == []
    desired = desired_from(current, mtu=1400, addresses=["192.0.2.1/24", "2001:db8::2/64"], members=["em2"])
    assert _bridge.plan_freebsd(current, desired, interfaces) == [
        ["ifconfig", "service", "mtu", "1400"],
        ["ifconfig", "service", "deletem", "em1"],
        ["ifconfig", "service", "addm", "em2"],
        ["ifconfig", "em2", "up"],
        ["ifconfig", "service", "inet6", "2001:db8::1", "-alias"],
        ["ifconfig", "service", "inet6", "2001:db8::2", "prefixlen", "64", "alias"],
    ]
    assert _bridge.plan_freebsd(current, build_desired("service", addresses=[]), interfaces) == [
        ["ifconfig", "service", "inet", "192.0.2.1", "-alias"],
        ["ifconfig", "service", "inet6", "2001:db8::1", "-alias"],
    ]
    assert _bridge.plan_freebsd(current, build_desired("service", up=False), interfaces) == [["ifconfig", "service", "down"]]


def test_freebsd_removal_and_errors():
    current, interfaces = freebsd()
    with pytest.raises(BridgeError, match="still has unikernel taps attached: tap0"):
        _bridge.plan_freebsd(current, build_desired("service", state="absent"), interfaces)
    assert _bridge.plan_freebsd(current, build_desired("service", state="absent", force=True), interfaces) == [
        ["ifconfig", "service", "destroy"]]
    with pytest.raises(BridgeError, match="em0 exists but is not a bridge"):
        _bridge.plan_freebsd(freebsd("em0")[0], build_desired("em0"), interfaces)
    with pytest.raises(BridgeError, match="do not exist"):
        _bridge.plan_freebsd(current, build_desired("service", members=["em9"]), interfaces)
    assert _bridge.plan_freebsd(freebsd("gone")[0], build_desired("gone", state="absent"), interfaces) == []


# --- systemd-networkd files --------------------------------------------------------------------

def test_networkd_files_full():
    desired = build_desired("service", mtu=9000, addresses=["192.0.2.1/24", "2001:db8::1/64"], members=["eth1", "vmmtap0"])
    files = _networkd.networkd_files(desired)
    header = _networkd.NETWORKD_HEADER
    assert files == {
        "service.netdev": header + "[NetDev]\nName=service\nKind=bridge\nMTUBytes=9000\n",
        "service.network": header + "[Match]\nName=service\n\n[Network]\nConfigureWithoutCarrier=yes\n"
                                    "Address=192.0.2.1/24\nAddress=2001:db8::1/64\n",
        "service-members.network": header + "[Match]\nName=eth1\n\n[Network]\nBridge=service\n",
    }


def test_networkd_files_minimal_down_and_absent():
    files = _networkd.networkd_files(build_desired("br0", up=False))
    assert set(files) == {"br0.netdev", "br0.network"}
    assert "MTUBytes" not in files["br0.netdev"] and "Address=" not in files["br0.network"]
    assert "[Link]\nActivationPolicy=down\n" in files["br0.network"]
    assert _networkd.networkd_files(build_desired("br0", members=["vmmtap1"]))["br0-members.network"] is None
    assert _networkd.networkd_files(build_desired("br0", state="absent")) == {
        "br0.netdev": None, "br0.network": None, "br0-members.network": None}


def test_command_string():
    assert _bridge.command_string(["ip", "link", "del", "dev", "br0"]) == "ip link del dev br0"
