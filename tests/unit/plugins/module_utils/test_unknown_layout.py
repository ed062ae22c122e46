# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Replies from a newer albatross: one clear error naming the reply, the command and the
supported releases, instead of "malformed message".

Albatross 2.8 changed the statistics reply and re-added event subscriptions; its encoding
could not be checked, so these replies are built from the real 2.7 vectors by changing
what a newer release would change: a tag nobody sends yet, or the order of the
statistics fields (reportedly rusage, kinfo_mem, ifdata in 2.8).
"""

from __future__ import annotations

import pickle

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import transport
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.asn1 import read_header
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ProtocolError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.fast_wire import _tlv
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.messages import (
    SUPPORTED_SERVERS,
    UnknownLayout,
    decode_wire,
    decode_wire_reference,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Data
from ansible_collections.unikernels.albatross.tests.unit.plugins.module_utils import golden

SUPPORTED = "(supported: albatross 2.5 to 2.7, wire version 5)"


def _children(data: bytes, start: int, stop: int) -> list:
    found = []
    while start < stop:
        element = read_header(data, start, stop)
        found.append(data[start:element[2]])
        start = element[2]
    return found


def _content(element: bytes) -> bytes:
    _tag, start, stop = read_header(element, 0, len(element))
    return element[start:stop]


def _header_of(message: bytes) -> bytes:
    return _children(message, *read_header(message, 0, len(message))[1:])[0]


def stats_sample() -> bytes:
    """A statistics data message of the real albatross-stats (2.7)."""
    return golden.hex_lines("replies", "stats_net.reply.hex")[1]


def stats_reordered() -> bytes:
    """The real statistics sample with the fields in the order reported for albatross 2.8:
    rusage, kinfo_mem (a plain SEQUENCE), ifdata."""
    message = stats_sample()
    header, data = _children(message, *read_header(message, 0, len(message))[1:])
    statistics = read_header(data, *read_header(data, 0, len(data))[1:])  # [3] { [1] { ... } }
    sequence = data[statistics[1]:statistics[2]]
    rusage, ifdata, kinfo = _children(sequence, *read_header(sequence, 0, len(sequence))[1:])
    assert kinfo[0] == 0xA1  # IMPLICIT [1] in 2.7
    body = _tlv(0x30, rusage + _tlv(0x30, _content(kinfo)) + ifdata)
    return _tlv(0x30, header + _tlv(0xA3, _tlv(0xA1, body)))


def message_with(payload_tag: int, inner: bytes) -> bytes:
    return _tlv(0x30, _header_of(stats_sample()) + _tlv(payload_tag, inner))


CASES = {
    "statistics": (stats_reordered, "statistics reply"),
    "success [14]": (lambda: message_with(0xA1, _tlv(0xAE, b"\x05\x00")), "success reply with tag [14]"),
    "success [30]": (lambda: message_with(0xA1, _tlv(0xBE, _tlv(0x30, b""))), "success reply with tag [30]"),
    "data [5]": (lambda: message_with(0xA3, _tlv(0xA5, _tlv(0x30, b"\x02\x01\x01"))), "data reply with tag [5]"),
    "payload [4]": (lambda: message_with(0xA4, _tlv(0x30, b"")), "reply with payload tag [4]"),
    "wire version 6": (lambda: stats_sample().replace(b"\x02\x01\x05", b"\x02\x01\x06", 1), "message with wire version 6"),
}


def expected(what: str, command: str = "") -> str:
    to = " to %s" % command if command else ""
    return ("the %s of this albatross server%s has a layout this collection does not know %s; "
            "the server probably runs a newer albatross release" % (what, to, SUPPORTED))


def test_real_statistics_still_decode():
    wire = decode_wire(stats_sample())
    assert isinstance(wire.payload, Data) and wire.payload.kind == "statistics"
    assert SUPPORTED_SERVERS in SUPPORTED


@pytest.mark.parametrize("case", sorted(CASES))
def test_unknown_layout_message(case):
    make, what = CASES[case]
    data = make()
    for decoder in (decode_wire, decode_wire_reference):
        with pytest.raises(UnknownLayout) as info:
            decoder(data)
        assert str(info.value) == expected(what)
        assert isinstance(info.value, ProtocolError) and info.value.what == what
        with pytest.raises(UnknownLayout) as info:
            decoder(data, "stats subscribe")
        assert str(info.value) == expected(what, "stats subscribe")


class _Peer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def settimeout(self, _timeout) -> None:
        pass

    def recv(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece

    def close(self) -> None:
        pass


@pytest.mark.parametrize("case", sorted(CASES))
def test_connection_names_the_command(case):
    make, what = CASES[case]
    data = make()
    conn = transport.Connection(_Peer(len(data).to_bytes(4, "big") + data), "127.0.0.1:1025", 5.0, what="stats subscribe")
    with pytest.raises(UnknownLayout) as info:
        conn.read_message()
    assert str(info.value) == expected(what, "stats subscribe")


def test_unknown_layout_survives_pickling():
    error = UnknownLayout("statistics reply", "stats subscribe")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.what, again.command) == (UnknownLayout, str(error), error.what, error.command)


def test_statistics_extension_fields_are_tolerated():
    # A newer server appending a higher context tag ([2]) to the 2.7 layout is still read.
    message = stats_sample()
    header, data = _children(message, *read_header(message, 0, len(message))[1:])
    statistics = read_header(data, *read_header(data, 0, len(data))[1:])
    sequence = data[statistics[1]:statistics[2]]
    extended = _tlv(0x30, _content(sequence) + _tlv(0xA2, b"\x02\x01\x07"))
    wire = decode_wire(_tlv(0x30, header + _tlv(0xA3, _tlv(0xA1, extended))))
    assert wire.payload == decode_wire(message).payload


def test_malformed_messages_are_not_called_a_new_layout():
    # Broken DER is a broken message, whatever albatross release sent it.
    data = stats_sample()
    with pytest.raises(ProtocolError) as info:
        decode_wire(data[:-1])
    assert not isinstance(info.value, UnknownLayout)
