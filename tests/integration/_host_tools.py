# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the host-side tests: throw-away network namespaces."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest


def namespace_skip_reason() -> Optional[str]:
    """Why network namespace tests cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CI runs these tests as root)"
    if shutil.which("ip") is None:
        return "the ip command is missing (install iproute2)"
    return None


def require_namespaces() -> None:
    reason = namespace_skip_reason()
    if reason:
        pytest.skip(reason)


class Namespace:
    """A throw-away network namespace; nothing done inside touches the host's interfaces."""

    def __init__(self) -> None:
        self.name = "albtest-" + secrets.token_hex(4)
        proc = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip("cannot create a network namespace here: %s" % proc.stderr.strip())
        self.ip("link", "set", "dev", "lo", "up")

    def prefix(self) -> List[str]:
        return ["ip", "netns", "exec", self.name]

    def ip(self, *args: str) -> str:
        proc = subprocess.run(self.prefix() + ["ip"] + list(args), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError("ip %s failed: %s" % (" ".join(args), proc.stderr.strip()))
        return proc.stdout

    def links(self) -> Dict[str, Dict[str, Any]]:
        return {link["ifname"]: link for link in json.loads(self.ip("-j", "-d", "addr", "show"))}

    def addresses(self, name: str) -> List[str]:
        link = self.links()[name]
        return sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", []) if a.get("scope") != "link")

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
