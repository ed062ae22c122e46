#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource statistics of running unikernels."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stats_info
short_description: Resource statistics of unikernels on an albatross server
version_added: "1.0.0"
description:
  - Reads one statistics sample (CPU time, memory, network counters) per running unikernel from albatross-stats.
  - albatross-stats samples every few seconds (10 by default, its C(--interval)), so the module may wait that long.
    It waits at most O(timeout) seconds; a unikernel that sends no sample by then is left out.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  name:
    description:
      - Only this unikernel (an albatross label). RV(stats) is empty when it is not running.
      - Left out, every running unikernel under the path of the credentials.
    type: str
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
  - unikernels.albatross.attributes.info_module
notes:
  - On Linux, albatross-stats reports C(maxrss), C(rss), C(tsize), C(dsize) and C(ssize) in pages, and several rusage
    counters are always V(0).
seealso:
  - module: unikernels.albatross.unikernel_info
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Statistics of every unikernel
  unikernels.albatross.stats_info:
  register: stats

- name: Bytes received per unikernel and bridge
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.interfaces | map(attribute='input_bytes') | sum }} bytes in"
  loop: "{{ stats.stats }}"
"""

RETURN = r"""
stats:
  description: One sample per running unikernel, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Full albatross name of the unikernel.
      type: str
      sample: ":web"
    rusage:
      description: Resource usage of the unikernel's process (C(getrusage)); times in seconds.
      type: dict
      sample: {"utime": 0.25, "stime": 0.5, "maxrss": 3072, "ixrss": 0, "idrss": 0, "isrss": 0, "minflt": 120,
               "majflt": 0, "nswap": 0, "inblock": 0, "outblock": 0, "msgsnd": 0, "msgrcv": 0, "nsignals": 0,
               "nvcsw": 10, "nivcsw": 2}
    memory:
      description:
        - Memory of the process (kinfo_mem), when albatross-stats could read it.
        - C(vsize) in bytes; C(rss), C(tsize), C(dsize), C(ssize) in pages; C(runtime) in microseconds; C(start) in
          seconds since the epoch.
      returned: when present
      type: dict
      sample: {"vsize": 10485760, "rss": 2048, "tsize": 100, "dsize": 200, "ssize": 200, "runtime": 750000, "cow": 0,
               "start": 1767323045.0}
    vmm:
      description: bhyve counters (FreeBSD with C(--gather-bhyve-stats) only), name to value.
      returned: when present
      type: dict
      sample: {"vcpu0 number of exits": 1000}
    interfaces:
      description: Counters of each network interface of the unikernel.
      type: list
      elements: dict
      contains:
        name:
          description: Interface name in the unikernel (its manifest).
          type: str
          sample: service
        bridge:
          description: Host bridge of the interface, from the unikernel's info; V(null) if unknown.
          type: str
          sample: br0
        input_bytes:
          description: Bytes received.
          type: int
          sample: 4096
        output_bytes:
          description: Bytes sent.
          type: int
          sample: 2048
        input_packets:
          description: Packets received.
          type: int
          sample: 40
        output_packets:
          description: Packets sent.
          type: int
          sample: 20
        input_errors:
          description: Receive errors.
          type: int
          sample: 0
        output_errors:
          description: Send errors.
          type: int
          sample: 0
        input_dropped:
          description: Received packets dropped.
          type: int
          sample: 0
        output_dropped:
          description: Sent packets dropped.
          type: int
          sample: 0
        input_mcast:
          description: Multicast packets received.
          type: int
          sample: 0
        output_mcast:
          description: Multicast packets sent.
          type: int
          sample: 0
        collisions:
          description: Collisions.
          type: int
          sample: 0
        flags:
          description: Interface flags.
          type: int
          sample: 4163
        mtu:
          description: MTU.
          type: int
          sample: 1500
        baudrate:
          description: Line speed.
          type: int
          sample: 0
        send_length:
          description: Length of the send queue.
          type: int
          sample: 0
        max_send_length:
          description: Maximum length of the send queue.
          type: int
          sample: 0
        send_drops:
          description: Packets dropped from the send queue.
          type: int
          sample: 0
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._console import STATS_INFO_SPEC, run_stats_info_module


def main() -> None:
    run_as_module(STATS_INFO_SPEC, run_stats_info_module)


if __name__ == "__main__":
    main()
