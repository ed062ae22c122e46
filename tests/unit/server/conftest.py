# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server tests: make tests/lib and tests/server importable and provide a shared test server."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "server"):
    if os.path.join(TESTS, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(TESTS, _sub))

from albatross_fixture import start_server  # noqa: E402  pylint: disable=wrong-import-position
from albatross_sim import rawclient  # noqa: E402  pylint: disable=wrong-import-position


@dataclass
class Raw:
    """A running test server plus a bare client signing leafs with the root CA (or a sub-CA)."""

    info: Any
    ca: Any
    ca_key: Any

    @property
    def address(self):
        return (self.info.host, self.info.port)

    def call(self, cn: Optional[str], command=None, chain: Sequence = (), signer=None, upload=None, limit=None,
             extension=None, timeout: float = 10.0, duration=None, **leaf_args):
        issuer, issuer_key = signer or (self.ca, self.ca_key)
        cert, key = rawclient.leaf(issuer, issuer_key, cn, command, extension=extension, **leaf_args)
        return rawclient.call(self.address, self.info.server_ca, [cert, *chain], key, upload=upload, limit=limit,
                              timeout=timeout, duration=duration)

    def sub(self, cn, policy, parent=None, **kwargs):
        issuer, issuer_key = parent or (self.ca, self.ca_key)
        return rawclient.sub_ca(issuer, issuer_key, cn, policy, **kwargs)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    info = start_server(tmp_path_factory.mktemp("srv"), stats_interval=0.2, restart_delay=0.2)
    ca, ca_key = rawclient.load(info.client_cert, info.client_key)
    yield Raw(info, ca, ca_key)
    info.stop()
    # rejections are logged as warnings; a traceback means the server itself broke
    assert "Traceback" not in info.log(), info.log()[-6000:]
