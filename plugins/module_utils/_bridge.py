# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Network bridge state and command planning (PRIVATE to the collection).

Pure functions, no Ansible imports and no system calls: the bridge module reads the
host's state (``ip -j -d addr show`` on Linux, ``ifconfig -a`` on FreeBSD), hands the
text to the parsers here, and runs the command lists the planners return. Unit tests
exercise everything without root.

This file also runs on albatross hosts, whose Python may be older than the
controller's, so it sticks to Python 3.8 syntax.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

# Albatross names the taps it creates "vmmtap<N>" on Linux (src/vmm_unix.ml, create_tap);
# on FreeBSD "ifconfig tap create" yields "tap<N>". Both prefixes count as unikernel taps.
UNIKERNEL_TAP_PREFIXES = ("vmmtap", "tap")

# IFNAMSIZ is 16 on Linux and FreeBSD (15 characters and the NUL). The name also
# becomes a file name for systemd-networkd, so no path separators and no dot names.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")
_FREEBSD_CLONE_RE = re.compile(r"^bridge[0-9]+$")


class BridgeError(Exception):
    """The desired state cannot be reached (or the host's state cannot be read)."""


@dataclass(frozen=True)
class BridgeState:
    """What the host has under one interface name."""

    name: str
    exists: bool
    kind: str = "bridge"
    up: bool = False
    mtu: Optional[int] = None
    addresses: Tuple[str, ...] = ()
    members: Tuple[str, ...] = ()

    @property
    def is_bridge(self) -> bool:
        return self.kind == "bridge"

    @property
    def unikernel_taps(self) -> Tuple[str, ...]:
        return tuple(m for m in self.members if is_unikernel_tap(m))

    def as_dict(self) -> Dict[str, object]:
        if not self.exists:
            return {"name": self.name, "state": "absent"}
        result: Dict[str, object] = {
            "name": self.name,
            "state": "present",
            "up": self.up,
            "addresses": list(self.addresses),
            "members": list(self.members),
            "unikernel_taps": list(self.unikernel_taps),
        }
        if self.mtu is not None:
            result["mtu"] = self.mtu
        if not self.is_bridge:
            result["kind"] = self.kind
        return result


@dataclass(frozen=True)
class DesiredBridge:
    """The module's options, validated and normalised.

    ``None`` for ``mtu``, ``addresses`` and ``members`` means "leave as it is".
    """

    name: str
    state: str = "present"
    up: bool = True
    mtu: Optional[int] = None
    addresses: Optional[Tuple[str, ...]] = None
    members: Optional[Tuple[str, ...]] = None
    force: bool = False


def is_unikernel_tap(name: str) -> bool:
    return name.startswith(UNIKERNEL_TAP_PREFIXES)


def validate_name(name: str, what: str = "bridge") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise BridgeError(
            "invalid %s name %r (1 to 15 characters of [A-Za-z0-9_.-], not starting with '.' or '-')" % (what, name)
        )
    return name


def normalize_address(text: str) -> str:
    """``192.0.2.1/24`` -> itself, ``fd00:0::1/64`` -> ``fd00::1/64``; no prefix means a host address."""
    try:
        iface = ipaddress.ip_interface(str(text).strip())
    except ValueError as exc:
        raise BridgeError("invalid address %r: %s" % (text, exc)) from exc
    if iface.version == 6 and iface.ip.is_link_local:
        raise BridgeError("address %s is IPv6 link-local; the kernel manages those, leave it out" % text)
    return "%s/%d" % (iface.ip, iface.network.prefixlen)


def _address_key(address: str) -> Tuple[int, object, int]:
    iface = ipaddress.ip_interface(address)
    return (iface.version, iface.ip, iface.network.prefixlen)


def sort_addresses(addresses: Sequence[str]) -> Tuple[str, ...]:
    return tuple(sorted(set(addresses), key=_address_key))


def build_desired(
    name: str,
    state: str = "present",
    up: bool = True,
    mtu: Optional[int] = None,
    addresses: Optional[Sequence[str]] = None,
    members: Optional[Sequence[str]] = None,
    force: bool = False,
) -> DesiredBridge:
    validate_name(name)
    if state not in ("present", "absent"):
        raise BridgeError("state must be present or absent, not %r" % state)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise BridgeError("mtu %d out of range (68 to 65535)" % mtu)
    norm_addresses = None
    if addresses is not None:
        norm_addresses = sort_addresses([normalize_address(a) for a in addresses])
    norm_members = None
    if members is not None:
        for member in members:
            validate_name(member, "member")
            if member == name:
                raise BridgeError("bridge %s cannot be a member of itself" % name)
        norm_members = tuple(sorted(set(members)))
    return DesiredBridge(name=name, state=state, up=up, mtu=mtu, addresses=norm_addresses, members=norm_members, force=force)


# --- Linux: ip -j -d addr show ---------------------------------------------------------

def linux_state(addr_json: str, name: str) -> Tuple[BridgeState, FrozenSet[str]]:
    """Parse ``ip -j -d addr show`` (every link) into the bridge's state and all interface names."""
    try:
        links = json.loads(addr_json or "[]")
    except ValueError as exc:
        raise BridgeError("cannot parse the output of ip -j: %s" % exc) from exc
    if not isinstance(links, list):
        raise BridgeError("unexpected output of ip -j: not a list")
    interfaces = frozenset(str(link.get("ifname")) for link in links if isinstance(link, dict) and link.get("ifname"))
    found = None
    members = []
    for link in links:
        if not isinstance(link, dict):
            continue
        if link.get("ifname") == name:
            found = link
        elif link.get("master") == name:
            members.append(str(link["ifname"]))
    if found is None:
        return BridgeState(name=name, exists=False), interfaces
    kind = str((found.get("linkinfo") or {}).get("info_kind") or found.get("link_type") or "unknown")
    addresses = []
    for info in found.get("addr_info") or ():
        if info.get("family") not in ("inet", "inet6") or "local" not in info:
            continue
        iface = ipaddress.ip_interface("%s/%s" % (info["local"], info.get("prefixlen", "")))
        if iface.version == 6 and iface.ip.is_link_local:
            continue
        addresses.append("%s/%d" % (iface.ip, iface.network.prefixlen))
    state = BridgeState(
        name=name,
        exists=True,
        kind=kind,
        up="UP" in (found.get("flags") or ()),
        mtu=found.get("mtu"),
        addresses=sort_addresses(addresses),
        members=tuple(sorted(members)),
    )
    return state, interfaces


def plan_linux(current: BridgeState, desired: DesiredBridge, interfaces: FrozenSet[str]) -> List[List[str]]:
    """Commands (argv lists) that turn ``current`` into ``desired`` with iproute2, in order."""
    name = desired.name
    if desired.state == "absent":
        if not current.exists:
            return []
        check_removal(current, desired)
        return [["ip", "link", "del", "dev", name]]
    _check_present(current, desired, interfaces)
    commands: List[List[str]] = []
    if not current.exists:
        commands.append(["ip", "link", "add", "name", name, "type", "bridge"])
    # Set separately from "add": only an explicitly set MTU stays when members join.
    if desired.mtu is not None and (not current.exists or desired.mtu != current.mtu):
        commands.append(["ip", "link", "set", "dev", name, "mtu", str(desired.mtu)])
    # Up before addresses: the kernel drops IPv6 addresses of a link that goes down.
    if desired.up and not current.up:
        commands.append(["ip", "link", "set", "dev", name, "up"])
    add_members, del_members = _member_changes(current, desired)
    for member in del_members:
        commands.append(["ip", "link", "set", "dev", member, "nomaster"])
    for member in add_members:
        commands.append(["ip", "link", "set", "dev", member, "master", name, "up"])
    add_addresses, del_addresses = _address_changes(current, desired)
    for address in del_addresses:
        commands.append(["ip", "addr", "del", address, "dev", name])
    for address in add_addresses:
        commands.append(["ip", "addr", "add", address, "dev", name])
    if not desired.up and current.exists and current.up:
        commands.append(["ip", "link", "set", "dev", name, "down"])
    return commands


# --- FreeBSD: ifconfig -a --------------------------------------------------------------

_HEADER_RE = re.compile(r"^(?P<name>[^\s:]+): flags=[0-9a-fA-F]+<(?P<flags>[^>]*)>(?P<rest>.*)$")
_MTU_RE = re.compile(r"\bmtu (\d+)")


@dataclass
class _Ifconfig:
    name: str
    flags: Tuple[str, ...] = ()
    mtu: Optional[int] = None
    addresses: List[str] = field(default_factory=list)
    members: List[str] = field(default_factory=list)
    groups: Tuple[str, ...] = ()


def _netmask_prefix(mask: str) -> int:
    value = int(mask, 16) if mask.lower().startswith("0x") else int(ipaddress.IPv4Address(mask))
    return bin(value).count("1")


def _parse_inet(words: List[str]) -> Optional[str]:
    """``inet 192.0.2.1 netmask 0xffffff00 …`` or ``inet 192.0.2.1/24 …`` (ifconfig -f inet:cidr)."""
    if len(words) < 2:
        return None
    if "/" in words[1]:
        return normalize_address(words[1])
    prefix = 32
    if "netmask" in words:
        prefix = _netmask_prefix(words[words.index("netmask") + 1])
    return "%s/%d" % (ipaddress.IPv4Address(words[1]), prefix)


def _parse_inet6(words: List[str]) -> Optional[str]:
    if len(words) < 2:
        return None
    text = words[1].split("%", 1)[0]
    if "/" in text:
        iface = ipaddress.IPv6Interface(text)
    else:
        prefix = int(words[words.index("prefixlen") + 1]) if "prefixlen" in words else 128
        iface = ipaddress.IPv6Interface("%s/%d" % (text, prefix))
    if iface.ip.is_link_local:
        return None
    return "%s/%d" % (iface.ip, iface.network.prefixlen)


def parse_ifconfig(text: str) -> Dict[str, _Ifconfig]:
    """Split ``ifconfig -a`` output into interfaces with the fields the planner needs."""
    result: Dict[str, _Ifconfig] = {}
    current: Optional[_Ifconfig] = None
    for line in text.splitlines():
        if not line.strip():
            continue
        header = _HEADER_RE.match(line)
        if header and not line[0].isspace():
            mtu = _MTU_RE.search(header.group("rest"))
            current = _Ifconfig(
                name=header.group("name"),
                flags=tuple(f for f in header.group("flags").split(",") if f),
                mtu=int(mtu.group(1)) if mtu else None,
            )
            result[current.name] = current
            continue
        if current is None:
            continue
        words = line.split()
        try:
            if words[0] == "inet":
                address = _parse_inet(words)
            elif words[0] == "inet6":
                address = _parse_inet6(words)
            else:
                address = None
        except (ValueError, IndexError) as exc:
            raise BridgeError("cannot parse ifconfig line %r: %s" % (line.strip(), exc)) from exc
        if address:
            current.addresses.append(address)
        elif words[0] == "member:" and len(words) > 1:
            current.members.append(words[1])
        elif words[0] == "groups:":
            current.groups = tuple(words[1:])
    return result


def freebsd_state(ifconfig_text: str, name: str) -> Tuple[BridgeState, FrozenSet[str]]:
    interfaces = parse_ifconfig(ifconfig_text)
    found = interfaces.get(name)
    if found is None:
        return BridgeState(name=name, exists=False), frozenset(interfaces)
    kind = "bridge" if "bridge" in found.groups else (found.groups[0] if found.groups else "unknown")
    state = BridgeState(
        name=name,
        exists=True,
        kind=kind,
        up="UP" in found.flags,
        mtu=found.mtu,
        addresses=sort_addresses(found.addresses),
        members=tuple(sorted(found.members)),
    )
    return state, frozenset(interfaces)


def plan_freebsd(current: BridgeState, desired: DesiredBridge, interfaces: FrozenSet[str]) -> List[List[str]]:
    """Commands (argv lists) that turn ``current`` into ``desired`` with ifconfig, in order."""
    name = desired.name
    if desired.state == "absent":
        if not current.exists:
            return []
        check_removal(current, desired)
        return [["ifconfig", name, "destroy"]]
    _check_present(current, desired, interfaces)
    commands: List[List[str]] = []
    if not current.exists:
        if _FREEBSD_CLONE_RE.match(name):
            commands.append(["ifconfig", name, "create"])
        else:
            # if_bridge only clones bridge<N>; any other name is a rename of a fresh clone.
            commands.append(["ifconfig", "bridge", "create", "name", name])
    if desired.mtu is not None and (not current.exists or desired.mtu != current.mtu):
        commands.append(["ifconfig", name, "mtu", str(desired.mtu)])
    if desired.up and not current.up:
        commands.append(["ifconfig", name, "up"])
    add_members, del_members = _member_changes(current, desired)
    for member in del_members:
        commands.append(["ifconfig", name, "deletem", member])
    for member in add_members:
        commands.append(["ifconfig", name, "addm", member])
        commands.append(["ifconfig", member, "up"])
    add_addresses, del_addresses = _address_changes(current, desired)
    for address in del_addresses:
        iface = ipaddress.ip_interface(address)
        family = "inet" if iface.version == 4 else "inet6"
        commands.append(["ifconfig", name, family, str(iface.ip), "-alias"])
    for address in add_addresses:
        iface = ipaddress.ip_interface(address)
        if iface.version == 4:
            commands.append(["ifconfig", name, "inet", address, "alias"])
        else:
            commands.append(["ifconfig", name, "inet6", str(iface.ip), "prefixlen", str(iface.network.prefixlen), "alias"])
    if not desired.up and current.exists and current.up:
        commands.append(["ifconfig", name, "down"])
    return commands


# --- shared ----------------------------------------------------------------------------

def check_removal(current: BridgeState, desired: DesiredBridge) -> None:
    if not current.is_bridge:
        raise BridgeError("interface %s exists but is not a bridge (kind %s); refusing to remove it" % (current.name, current.kind))
    taps = current.unikernel_taps
    if taps and not desired.force:
        raise BridgeError(
            "bridge %s still has unikernel taps attached: %s; destroy those unikernels first or set force=true"
            % (current.name, ", ".join(taps))
        )


def _check_present(current: BridgeState, desired: DesiredBridge, interfaces: FrozenSet[str]) -> None:
    if current.exists and not current.is_bridge:
        raise BridgeError("interface %s exists but is not a bridge (kind %s)" % (current.name, current.kind))
    missing = [m for m in desired.members or () if m not in interfaces]
    if missing:
        raise BridgeError("member interface(s) %s do not exist" % ", ".join(missing))


def _member_changes(current: BridgeState, desired: DesiredBridge) -> Tuple[List[str], List[str]]:
    """Members to attach and to detach; unikernel taps belong to albatross and are never detached."""
    if desired.members is None:
        return [], []
    have = set(current.members)
    want = set(desired.members)
    add = sorted(want - have)
    remove = sorted(m for m in have - want if not is_unikernel_tap(m))
    return add, remove


def _address_changes(current: BridgeState, desired: DesiredBridge) -> Tuple[List[str], List[str]]:
    if desired.addresses is None:
        return [], []
    have = set(current.addresses)
    want = set(desired.addresses)
    return list(sort_addresses(list(want - have))), list(sort_addresses(list(have - want)))


def predict(current: BridgeState, desired: DesiredBridge) -> BridgeState:
    """The state the planned commands lead to (what check mode reports)."""
    if desired.state == "absent":
        return BridgeState(name=desired.name, exists=False)
    base = current if current.exists else BridgeState(name=desired.name, exists=True)
    members = base.members
    if desired.members is not None:
        members = tuple(sorted(set(desired.members) | set(m for m in base.members if is_unikernel_tap(m))))
    return replace(
        base,
        exists=True,
        up=desired.up,
        mtu=desired.mtu if desired.mtu is not None else base.mtu,
        addresses=desired.addresses if desired.addresses is not None else base.addresses,
        members=members,
    )


def command_string(argv: Sequence[str]) -> str:
    return " ".join(argv)
