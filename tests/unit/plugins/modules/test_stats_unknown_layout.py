# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""stats_info against a server whose replies have a layout this collection does not know.

The real Client reads scripted replies (the real albatross 2.7 bytes, or a variant as
albatross 2.8 may send it) through a real Connection, so the module's message is the one
a user would see.
"""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _console
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils.test_unknown_layout import (
    expected,
    message_with,
    stats_reordered,
    stats_sample,
)
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules.fake_albatross import Signer, run

INFO = golden.hex_lines("replies", "unikernel_info_net.reply.hex")[0]
SUBSCRIBED = golden.hex_lines("replies", "stats_net.reply.hex")[0]


class _Peer:
    """The server side of one session: sends ``data`` and closes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def settimeout(self, _timeout) -> None:
        pass

    def recv(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece

    def sendall(self, _data) -> None:
        pass

    def close(self) -> None:
        pass


def scripted_client(replies: dict) -> Client:
    """A Client whose sessions get ``replies[command kind]`` (a list of messages)."""
    client = Client("127.0.0.1:1025", b"", Signer(), timeout=5.0)

    def session(command, cn, _signer=None):
        frames = b"".join(len(m).to_bytes(4, "big") + m for m in replies[command.kind])
        return transport.Connection(_Peer(frames), client.server, client.timeout, what=command.kind.replace("_", " "), cn=cn)
    client._open = session  # pylint: disable=protected-access
    return client


def stats(client, **args):
    return run(_console.run_stats_info, _console.STATS_INFO_SPEC, client, **args)


def test_real_reply_is_read():
    result = stats(scripted_client({"unikernel_info": [INFO], "stats_subscribe": [SUBSCRIBED, stats_sample()]}), name="net")
    assert not result.get("failed"), result
    assert [entry["name"] for entry in result["stats"]] == [":net"]


@pytest.mark.parametrize("reply, what", [
    (stats_reordered, "statistics reply"),
    (lambda: message_with(0xA3, b"\xa5\x02\x05\x00"), "data reply with tag [5]"),
])
def test_newer_statistics_reply_fails_clearly(reply, what):
    result = stats(scripted_client({"unikernel_info": [INFO], "stats_subscribe": [SUBSCRIBED, reply()]}), name="net")
    assert result["failed"]
    assert expected(what, "stats subscribe") in result["msg"]


def test_newer_subscription_reply_fails_clearly():
    # The first reply of the subscription carries a success tag no 2.7 server sends.
    result = stats(scripted_client({"unikernel_info": [INFO], "stats_subscribe": [message_with(0xA1, b"\xae\x02\x05\x00")]}), name="net")
    assert result["failed"]
    assert expected("success reply with tag [14]", "stats subscribe") in result["msg"]
