#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Console output of a unikernel."""

from __future__ import annotations

DOCUMENTATION = r"""
module: console_info
short_description: Console output of a unikernel on an albatross server
version_added: "1.0.0"
description:
  - Reads the console lines albatross kept for a unikernel (the last 1024 lines), and optionally the lines it prints
    during the next O(wait) seconds.
  - Works for running unikernels and for ones that stopped (albatross keeps their console). For a name albatross has
    no console of, RV(lines) is empty (after O(wait) seconds, in case it starts meanwhile).
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  name:
    description: Name of the unikernel (an albatross label).
    type: str
    required: true
  lines:
    description:
      - The last this many lines (V(0) to V(1024)).
      - Defaults to V(20) when O(since) is not given either.
      - Mutually exclusive with O(since).
    type: int
  since:
    description:
      - Only the lines since this time, in RFC 3339 (V(2024-01-02T03:04:05Z), an offset such as V(+02:00), a fraction
        of seconds). A time without offset is taken as UTC.
      - Mutually exclusive with O(lines).
    type: str
  wait:
    description:
      - Also collect the lines printed during this many seconds after the history.
    type: float
    default: 0
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.actiongroup_api
  - unikernels.albatross.attributes.controller
  - unikernels.albatross.attributes.info_module
seealso:
  - module: unikernels.albatross.unikernel
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Last 50 console lines
  unikernels.albatross.console_info:
    name: web
    lines: 50
  register: console

- name: Lines since the deployment, and five more seconds of output
  unikernels.albatross.console_info:
    name: web
    since: "{{ deployed_at }}"
    wait: 5

- name: Fail when the unikernel logged an error
  ansible.builtin.assert:
    that: console.lines | selectattr('line', 'search', 'ERROR') | list | length == 0
"""

RETURN = r"""
lines:
  description:
    - The console lines, oldest first.
    - Bytes that are not UTF-8 are kept as backslash escapes (V(\\xff)).
  returned: success
  type: list
  elements: dict
  contains:
    timestamp:
      description: When albatross read the line (RFC 3339, UTC, milliseconds).
      type: str
      sample: "2026-01-02T03:04:05.123000Z"
    line:
      description: The text of the line, without the line end.
      type: str
      sample: "2026-01-02T03:04:05-00:00: [INFO] [application] listening on port 80"
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._console import CONSOLE_INFO_SPEC, run_console_info_module


def main() -> None:
    run_as_module(CONSOLE_INFO_SPEC, run_console_info_module)


if __name__ == "__main__":
    main()
