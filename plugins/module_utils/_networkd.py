# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""systemd-networkd files that recreate a bridge at boot (PRIVATE to the collection).

Pure functions, no Ansible imports; used by the bridge module for ``persistent: true``.
Runs on albatross hosts, so Python 3.8 syntax.
"""

from __future__ import annotations

from typing import Dict, Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._bridge import DesiredBridge, is_unikernel_tap


NETWORKD_HEADER = "# Managed by unikernels.albatross.bridge: local changes are overwritten.\n"


def networkd_files(desired: DesiredBridge) -> Dict[str, Optional[str]]:
    """File name -> content (``None``: the file must not exist) that make networkd recreate the bridge at boot.

    Only what the options say is written: an option left out (``mtu``, ``addresses``)
    is left out of the files too. With ``members`` left out, the members file is not
    in the result, so it stays as it is.
    """
    name = desired.name
    stems = {"netdev": "%s.netdev" % name, "network": "%s.network" % name, "members": "%s-members.network" % name}
    if desired.state == "absent":
        return {stems["netdev"]: None, stems["network"]: None, stems["members"]: None}
    netdev = [NETWORKD_HEADER, "[NetDev]\n", "Name=%s\n" % name, "Kind=bridge\n"]
    if desired.mtu is not None:
        netdev.append("MTUBytes=%d\n" % desired.mtu)
    network = [NETWORKD_HEADER, "[Match]\n", "Name=%s\n" % name, "\n"]
    if not desired.up:
        network += ["[Link]\n", "ActivationPolicy=down\n", "\n"]
    # A bridge without members (or with only unikernel taps, which come and go) has no
    # carrier; configure it anyway so the addresses are there for the unikernels.
    network += ["[Network]\n", "ConfigureWithoutCarrier=yes\n"]
    network += ["Address=%s\n" % address for address in desired.addresses or ()]
    files: Dict[str, Optional[str]] = {stems["netdev"]: "".join(netdev), stems["network"]: "".join(network)}
    if desired.members is not None:
        members = [m for m in desired.members if not is_unikernel_tap(m)]
        if members:
            files[stems["members"]] = "".join(
                [NETWORKD_HEADER, "[Match]\n", "Name=%s\n" % " ".join(members), "\n", "[Network]\n", "Bridge=%s\n" % name]
            )
        else:
            files[stems["members"]] = None
    return files
