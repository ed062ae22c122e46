#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Manage a network bridge on an albatross host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: bridge
short_description: Network bridges for albatross unikernels on the albatross host
version_added: 1.0.0
description:
  - Albatross attaches the network interface of each unikernel (a tap device) to a bridge
    that must already exist on the host; a tenant policy lists the bridges it may use.
    This module keeps such a bridge present or absent, up, with an MTU, IPv4/IPv6 addresses
    and member interfaces (for example the uplink).
  - Unlike the API modules of this collection, this module runs B(on the albatross host)
    (over SSH, usually with C(become)); it takes no albatross connection options and is not
    in the C(group/unikernels.albatross.api) action group.
  - On Linux it reads the state with C(ip -j -d addr show) (iproute2 with JSON output) and
    changes it with C(ip link) and C(ip addr). On FreeBSD it reads C(ifconfig -a) and uses
    C(ifconfig create/addm/deletem/alias/-alias/destroy). Only what differs is changed.
  - Unikernel taps attached to the bridge (Linux C(vmmtap<N>), the names albatross gives
    them, and any interface whose name starts with C(tap), as on FreeBSD) belong to albatross.
    O(members) never detaches them, and O(state=absent) refuses to remove a bridge that still
    has some, naming them, unless O(force=true).
  - The live state does not survive a reboot by itself. On Linux, O(persistent=true) also
    writes systemd-networkd files so networkd recreates the bridge at boot.
author:
  - unikernels.albatross contributors (@unikernels)
requirements:
  - on Linux, C(ip) of iproute2 with JSON output (C(ip -j)); on FreeBSD, C(ifconfig)
  - no Python libraries beyond the standard library on the target
extends_documentation_fragment:
  - unikernels.albatross.attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the host's state and reports the commands that would run in RV(commands).
  diff_mode:
    support: full
    details:
      - The diff shows the bridge (up, MTU, addresses, members) and, with O(persistent=true), the networkd files.
  idempotent:
    support: full
  action_group:
    description: Use C(group/unikernels.albatross.api) in C(module_defaults) to set defaults for this module.
    support: none
    membership: []
    details:
      - This module runs on the albatross host, takes no connection options and is not in C(group/unikernels.albatross.api).
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: [linux, freebsd]
options:
  name:
    description:
      - Name of the bridge, for example C(service) or C(br0); this is the name unikernel
        network interfaces and policies refer to.
      - 1 to 15 characters of C([A-Za-z0-9_.-]), not starting with C(.) or C(-).
      - On FreeBSD a name other than C(bridge<N>) is created as a renamed clone
        (C(ifconfig bridge create name NAME)).
    type: str
    required: true
  state:
    description:
      - V(present) creates the bridge if needed and makes it match the other options.
      - V(absent) removes it. With unikernel taps still attached this fails and lists them,
        unless O(force=true).
    type: str
    choices: [present, absent]
    default: present
  up:
    description:
      - Whether the bridge is administratively up.
      - IPv6 addresses need the bridge up; the kernel removes them from a link that goes down.
    type: bool
    default: true
  mtu:
    description:
      - MTU of the bridge. Left out, the current MTU is kept (a new bridge gets the kernel default).
    type: int
  addresses:
    description:
      - The exact set of IPv4/IPv6 addresses of the bridge in CIDR notation, for example
        V(192.0.2.1/24) or V(2001:db8::1/64). Addresses not listed are removed; V([]) removes all.
      - IPv6 link-local addresses are managed by the kernel and neither compared nor accepted here.
      - Left out, the addresses are not touched.
    type: list
    elements: str
  members:
    description:
      - The exact set of member interfaces, for example the uplink V(eth1). Listed interfaces
        are attached (and brought up); members not listed are detached, except unikernel taps.
      - Every listed interface must exist.
      - Left out, the members are not touched.
    type: list
    elements: str
  force:
    description:
      - With O(state=absent), remove the bridge even if unikernel taps are still attached.
        Those unikernels lose their network until the bridge is back and they are restarted.
    type: bool
    default: false
  persistent:
    description:
      - Linux only. Also write systemd-networkd files into O(networkd_dir) so the bridge is
        recreated at boot, namely C(<name>.netdev) (kind, MTU), C(<name>.network) (addresses,
        C(ConfigureWithoutCarrier=yes), C(ActivationPolicy=down) when O(up=false)) and
        C(<name>-members.network) (C(Bridge=<name>) for the O(members), unikernel taps excepted).
      - Only what the options say is written. Options left out are left out of the files;
        with O(members) left out, the members file is not touched.
      - With O(state=absent) the three files are removed.
      - The live state is changed with C(ip) as always; networkd is not reloaded, the files take
        effect at boot or with C(networkctl reload). networkd uses the first C(.network) file in
        lexical order that matches an interface, so an earlier catch-all file (for example one
        matching C(Name=*)) must not match the bridge or its members.
      - V(false) leaves any existing files alone. On FreeBSD use C(cloned_interfaces) and
        C(ifconfig_<name>) in C(rc.conf) instead; V(true) fails there.
    type: bool
    default: false
  networkd_dir:
    description:
      - Directory for the systemd-networkd files of O(persistent). It must exist.
    type: path
    default: /etc/systemd/network
notes:
  - Needs root on the host; use C(become).
  - Linux needs iproute2 with JSON output (C(ip -j), iproute2 4.14 or newer).
seealso:
  - name: albatross
    description: Albatross, the orchestration of MirageOS unikernels with solo5.
    link: https://github.com/robur-coop/albatross
  - name: systemd.netdev
    description: The systemd-networkd virtual network device files written by O(persistent).
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.netdev.html
"""

EXAMPLES = r"""
- name: A bridge for the unikernels with an uplink and addresses
  become: true
  unikernels.albatross.bridge:
    name: service
    addresses:
      - 192.0.2.1/24
      - 2001:db8::1/64
    members:
      - eth1
    persistent: true

- name: An internal bridge without uplink
  become: true
  unikernels.albatross.bridge:
    name: private
    mtu: 9000

- name: Remove a bridge (fails while unikernels are attached)
  become: true
  unikernels.albatross.bridge:
    name: old
    state: absent
    persistent: true
"""

RETURN = r"""
bridge:
  description: The bridge as the host now has it (in check mode, as it would have it).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the bridge.
      type: str
      sample: service
    state:
      description: V(present) or V(absent).
      type: str
      sample: present
    up:
      description: Whether the bridge is administratively up.
      type: bool
      returned: when present
      sample: true
    mtu:
      description: MTU of the bridge.
      type: int
      returned: when present and known
      sample: 1500
    addresses:
      description: Addresses in CIDR notation (IPv6 link-local ones left out).
      type: list
      elements: str
      returned: when present
      sample: ['192.0.2.1/24', '2001:db8::1/64']
    members:
      description: All member interfaces, unikernel taps included.
      type: list
      elements: str
      returned: when present
      sample: [eth1, vmmtap0]
    unikernel_taps:
      description: The members that are unikernel taps.
      type: list
      elements: str
      returned: when present
      sample: [vmmtap0]
commands:
  description: The commands run (in check mode, the commands that would run), in order.
  returned: always
  type: list
  elements: str
  sample: [ip link add name service type bridge, ip link set dev service up, ip addr add 192.0.2.1/24 dev service]
networkd_files:
  description: The systemd-networkd files written or removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/network/service.netdev, /etc/systemd/network/service.network]
"""

import os
import platform
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.unikernels.albatross.plugins.module_utils import _bridge, _networkd
from ansible_collections.unikernels.albatross.plugins.module_utils._files import LocalFileError, atomic_write_bytes


class BridgeModule:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.system = platform.system()
        if self.system not in ("Linux", "FreeBSD"):
            module.fail_json(msg="the bridge module supports Linux and FreeBSD, not %s" % self.system)
        self.tool = module.get_bin_path("ip" if self.system == "Linux" else "ifconfig", required=True)

    def read(self, name: str):
        if self.system == "Linux":
            out = self._run([self.tool, "-j", "-d", "addr", "show"])
            return _bridge.linux_state(out, name)
        return _bridge.freebsd_state(self._run([self.tool, "-a"]), name)

    def plan(self, current, desired, interfaces):
        if self.system == "Linux":
            return _bridge.plan_linux(current, desired, interfaces)
        return _bridge.plan_freebsd(current, desired, interfaces)

    def apply(self, commands, done) -> None:
        for argv in commands:
            self._run([self.tool] + argv[1:], done=done)
            done.append(_bridge.command_string(argv))

    def _run(self, argv, done=None) -> str:
        rc, out, err = self.module.run_command(argv, environ_update={"LC_ALL": "C"})
        if rc != 0:
            self.module.fail_json(
                msg="command %s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()),
                commands=done or [],
            )
        return out


def persistence_plan(desired, directory: str):
    """(path, old content or None, new content or None) for every file that differs."""
    changes = []
    for file_name, content in sorted(_networkd.networkd_files(desired).items()):
        path = os.path.join(directory, file_name)
        try:
            with open(path, "r", encoding="utf-8") as handle:
                old = handle.read()
        except FileNotFoundError:
            old = None
        if old != content:
            changes.append((path, old, content))
    return changes


def run_module() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            up=dict(type="bool", default=True),
            mtu=dict(type="int"),
            addresses=dict(type="list", elements="str"),
            members=dict(type="list", elements="str"),
            force=dict(type="bool", default=False),
            persistent=dict(type="bool", default=False),
            networkd_dir=dict(type="path", default="/etc/systemd/network"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        desired = _bridge.build_desired(
            params["name"], params["state"], params["up"], params["mtu"], params["addresses"], params["members"], params["force"]
        )
    except _bridge.BridgeError as exc:
        module.fail_json(msg=to_native(exc))
    runner = BridgeModule(module)
    if params["persistent"] and runner.system != "Linux":
        module.fail_json(msg="persistent=true writes systemd-networkd files and is Linux only; on FreeBSD use cloned_interfaces in rc.conf")
    if params["persistent"] and not os.path.isdir(params["networkd_dir"]):
        module.fail_json(msg="networkd_dir %s does not exist" % params["networkd_dir"])

    current, interfaces = runner.read(desired.name)
    try:
        commands = runner.plan(current, desired, interfaces)
    except _bridge.BridgeError as exc:
        module.fail_json(msg=to_native(exc), bridge=current.as_dict(), commands=[])
    files = persistence_plan(desired, params["networkd_dir"]) if params["persistent"] else []
    predicted = _bridge.predict(current, desired) if commands else current

    before = current.as_dict()
    after = predicted.as_dict()
    if files:
        before["networkd_files"] = dict((path, old) for path, old, dummy in files)
        after["networkd_files"] = dict((path, new) for path, dummy, new in files)
    changed = bool(commands or files)
    result = dict(
        changed=changed,
        commands=[_bridge.command_string(c) for c in commands],
        networkd_files=[path for path, dummy, dummy2 in files],
        bridge=after,
    )
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if desired.state == "absent" and current.exists and current.unikernel_taps:
        module.warn("bridge %s is removed although unikernel taps are attached: %s" % (desired.name, ", ".join(current.unikernel_taps)))

    if module.check_mode or not changed:
        module.exit_json(**result)

    done = []
    runner.apply(commands, done)
    for path, dummy, content in files:
        try:
            if content is None:
                os.unlink(path)
            else:
                atomic_write_bytes(path, content.encode("utf-8"), 0o644)
        except (OSError, LocalFileError) as exc:
            module.fail_json(msg="cannot update %s: %s" % (path, to_native(exc)), commands=done, exception=traceback.format_exc())
    result["bridge"] = runner.read(desired.name)[0].as_dict()
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
