#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait until the services of a unikernel answer."""

from __future__ import annotations

DOCUMENTATION = r"""
module: liveliness_check
short_description: Wait until a service answers over HTTP, DNS or TCP
version_added: "1.0.0"
description:
  - Runs HTTP, DNS and TCP checks against the services a unikernel offers, in rounds, until one round in which
    every check passes. Between rounds it waits O(delay) seconds; it gives up after O(retries) further rounds or
    when O(timeout) seconds have passed, whichever comes first, and then fails listing the checks that failed.
  - The checks cover what Mollymawk checks before and after an update (an HTTP GET answered with 2xx, a DNS C(A)
    lookup with any answer), and can also demand status codes, a body pattern, exact DNS answers or an open TCP port.
  - The checks are made from the controller, so the controller must reach the service addresses.
  - It changes nothing, so check mode runs the checks as well.
requirements:
  - requests >= 2.28.0 on the controller, for O(http) checks
  - dnspython >= 2.4.0 on the controller, for O(dns) checks
options:
  http:
    description:
      - One HTTP check (a dictionary) or several (a list of dictionaries).
      - The request is made with the Python C(requests) library, following its proxy environment variables.
    type: raw
    suboptions:
      url:
        description: The URL to request (V(http://) or V(https://)).
        type: str
        required: true
      method:
        description: The HTTP method.
        type: str
        default: GET
      status_code:
        description:
          - Status codes that pass. Mollymawk accepts any 2xx; list them to do the same.
        type: list
        elements: int
        default: [200]
      body_regex:
        description:
          - A Python regular expression that must match somewhere in the body (multi-line mode).
          - At most the first MiB of the body is searched.
        type: str
      ca_path:
        description:
          - A PEM file of CA certificates to verify the server with, instead of the system's.
          - The server certificate of V(https://) URLs is always verified; for a service with a
            self-signed certificate, give that certificate (or its CA) here.
        type: path
      headers:
        description:
          - Extra request headers.
          - They are part of the task's arguments; use C(no_log) on the task if they carry secrets.
        type: dict
        default: {}
      follow_redirects:
        description: Follow redirects (as Mollymawk does); the status of the last answer is checked.
        type: bool
        default: true
      timeout:
        description: Seconds for one attempt of this check (connect plus reading the answer).
        type: float
        default: 5.0
  dns:
    description:
      - One DNS check (a dictionary) or several (a list of dictionaries).
      - The query goes straight to O(dns.server), not through the controller's resolver, so it tests the
        unikernel's own DNS service.
    type: raw
    suboptions:
      server:
        description: IP address (IPv4 or IPv6) of the DNS server to ask.
        type: str
        required: true
      port:
        description: Port of the DNS server.
        type: int
        default: 53
      name:
        description: The name to look up.
        type: str
        required: true
      type:
        description: The record type to ask for (V(A), V(AAAA), V(TXT), V(CNAME), V(MX), V(SOA), ...).
        type: str
        default: A
      expected:
        description:
          - The answers that must come back, as a set (order and duplicates do not matter; addresses are compared
            as addresses, names without the trailing dot and case-insensitively, TXT without the quotes).
          - When left out, any non-empty answer of the asked type passes (what Mollymawk checks).
        type: list
        elements: str
      tcp:
        description: Ask over TCP. Otherwise UDP is used, falling back to TCP for truncated answers.
        type: bool
        default: false
      timeout:
        description: Seconds for one attempt of this check.
        type: float
        default: 5.0
  tcp:
    description: One TCP connect check (a dictionary) or several (a list of dictionaries).
    type: raw
    suboptions:
      host:
        description: Host name or IP address to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      timeout:
        description: Seconds for one connection attempt.
        type: float
        default: 5.0
  retries:
    description:
      - How many more rounds to run after the first round fails. V(0) runs the checks once.
    type: int
    default: 10
  delay:
    description: Seconds to wait between rounds.
    type: float
    default: 2.0
  timeout:
    description:
      - Overall limit in seconds. No round starts after it, and each check's own timeout is cut to what is left.
      - The first round always runs.
    type: float
    default: 60.0
extends_documentation_fragment:
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.controller
attributes:
  check_mode:
    support: full
    details:
      - The checks only read, so they run in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
  action_group:
    description: Use C(group/unikernels.albatross.api) in C(module_defaults) to set defaults for this module.
    support: none
    membership: []
    details:
      - This module takes no connection options and is not in C(group/unikernels.albatross.api).
notes:
  - At least one of O(http), O(dns) and O(tcp) is required.
  - All checks of a round must pass in that same round; a service that answers only now and then fails.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
  - module: unikernels.albatross.unikernel
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Wait until the web unikernel answers (any 2xx, like Mollymawk)
  unikernels.albatross.liveliness_check:
    http:
      url: http://10.0.0.2/
      status_code: [200, 201, 202, 203, 204, 206]

- name: HTTPS with our own CA, a version in the body, and the DNS service
  unikernels.albatross.liveliness_check:
    http:
      url: https://www.example.org/version
      ca_path: /etc/ssl/local-ca.pem
      body_regex: '"version":\s*"2\.'
    dns:
      - server: 10.0.0.3
        name: www.example.org
        expected: [10.0.0.2]
      - server: 10.0.0.3
        name: example.org
        type: MX
    retries: 20
    delay: 3
    timeout: 120

- name: The database port is open
  unikernels.albatross.liveliness_check:
    tcp:
      host: 10.0.0.4
      port: 5432
    retries: 0
  register: db_up
  ignore_errors: true
"""

RETURN = r"""
ok:
  description: Whether a round passed completely.
  returned: always
  type: bool
  sample: true
rounds:
  description: How many rounds ran.
  returned: always
  type: int
  sample: 2
elapsed:
  description: Seconds from the start of the first round to the end.
  returned: always
  type: float
  sample: 2.131
failed_checks:
  description: The checks that failed in the last round, with the reason (empty when RV(ok) is true).
  returned: always
  type: list
  elements: str
  sample: ["HTTP GET http://10.0.0.2/: status 503 Service Unavailable, expected 200"]
attempts:
  description: Every single check attempt, in order.
  returned: always
  type: list
  elements: dict
  contains:
    round:
      description: The round of this attempt, from 1.
      type: int
      sample: 1
    timestamp:
      description: When the attempt started (RFC 3339, UTC).
      type: str
      sample: "2025-06-01T12:00:00.000Z"
    check:
      description: The kind of check.
      type: str
      sample: http
    target:
      description: What was checked.
      type: str
      sample: HTTP GET http://10.0.0.2/
    ok:
      description: Whether the attempt passed.
      type: bool
      sample: false
    detail:
      description: What was seen (status, answer) or why it failed.
      type: str
      sample: "status 503 Service Unavailable, expected 200"
    elapsed:
      description: Seconds the attempt took.
      type: float
      sample: 0.012
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._liveliness_check import MODULE_SPEC, run_module


def main() -> None:
    run_as_module(MODULE_SPEC, run_module)


if __name__ == "__main__":
    main()
