# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The skips a test run may have; any other skip fails the run (see tests/conftest.py).

A skip hides a test that did not run, so it must be a known property of the machine,
never a missing file or a broken fixture. Each entry is a regular expression matched
(``re.search``) against the skip reason, with the reason it is acceptable.
"""

from __future__ import annotations

EXPECTED_SKIPS = (
    # Network namespace tests (bridge, host role): creating namespaces needs root; CI runs them
    # as root, a developer account cannot.
    r"^creating network namespaces needs root",
    # The same tests on a non-Linux development machine.
    r"^network namespaces need Linux",
    # Root inside a container without CAP_NET_ADMIN: ip netns add is refused.
    r"^cannot create a network namespace here",
    # Against a real albatross (ALBATROSS_TEST_SERVER) the server certificate name is not ours to know.
    r"^the real server's certificate name is not known",
    # Against a real albatross (make test-real): tests that start a test server of their own (fault
    # switches, state files, simulated images) do not run.
    r"^needs the albatross test server: it starts its own",
    # The liveliness DNS checks need a real DNS server; dnsmasq is a host package, not a Python requirement.
    r"^dnsmasq is not installed",
    # Hosts or containers without an IPv6 loopback address.
    r"^no IPv6 loopback",
)
