# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""albatross-tls-endpoint: one TLS session = one command taken from the client certificate.

Replies of single commands carry the endpoint header (full name, sequence 0); messages of
streams keep the backend header (sequence = the endpoint's command counter), and a stream
ends with the endpoint's own final message, as in daemon/albatross_tls_endpoint.ml.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import messages
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    ConsoleLine, Data, Failure, Header, Success, Wire,
)

from . import auth, console, names, stats
from .resources import CommandError

LOG = logging.getLogger("albatross-sim")
EXCEPTION_READING = "exception while reading from fd"
QUEUE_LIMIT = 20000


class EndOfUpload(Exception):
    """The client ended the upload with EOF or a broken frame instead of a zero chunk."""


class Session:
    """Framing on one accepted TLS connection.

    ``upload_budget`` and ``reply_budget`` (fault switches, see faults.py) drop the connection once
    that many bytes of the client's upload or of the server's reply have passed; ``restart`` is the
    restart rule to carry out once this session ends.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_chunk: int, timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.max_chunk = max_chunk
        self.timeout = timeout
        self.upload_budget: Optional[int] = None
        self.reply_budget: Optional[int] = None
        self.restart = None

    async def _read(self, size: int) -> bytes:
        if self.upload_budget is not None and size > self.upload_budget:
            if self.upload_budget > 0:
                await asyncio.wait_for(self.reader.readexactly(self.upload_budget), self.timeout)
            self.upload_budget = 0
            await self.drop()
            raise EndOfUpload("connection dropped by a fault switch")
        if self.upload_budget is not None:
            self.upload_budget -= size
        return await asyncio.wait_for(self.reader.readexactly(size), self.timeout)

    async def read_chunk(self) -> Optional[bytes]:
        """One upload chunk; None for the end marker (length <= 0)."""
        try:
            head = await self._read(4)
            length = int.from_bytes(head, "big", signed=True)
            if length <= 0:
                return None
            if length > self.max_chunk:
                raise EndOfUpload("chunk of %d bytes too large" % length)
            return await self._read(length)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError) as exc:
            raise EndOfUpload(str(exc) or type(exc).__name__) from None

    async def send(self, name: names.Name, payload, sequence: int = 0, header_name: Optional[str] = None) -> None:
        text = header_name if header_name is not None else names.to_string(name)
        data = messages.encode_wire(Wire(Header(name=text, sequence=sequence, version=5), payload))
        await self.send_raw(len(data).to_bytes(4, "big") + data)

    async def send_raw(self, data: bytes) -> None:
        if self.reply_budget is not None and len(data) > self.reply_budget:
            self.writer.write(data[:self.reply_budget])
            self.reply_budget = 0
            await self.drop()
            raise ConnectionAbortedError("reply dropped by a fault switch")
        if self.reply_budget is not None:
            self.reply_budget -= len(data)
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.timeout)

    async def drop(self) -> None:
        """Cut the connection without TLS close_notify, once what was written has left."""
        transport = self.writer.transport
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        transport.abort()

    async def wait_eof(self) -> None:
        try:
            while await self.reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass


class QueueSubscriber(console.Subscriber, stats.StatsSubscriber):
    """Bridges the console/stats daemons to a streaming session."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.dropped = False

    def _put(self, item) -> None:
        if self.dropped:
            return
        if self.queue.qsize() > QUEUE_LIMIT:
            self.drop()
            return
        self.queue.put_nowait(item)

    def push(self, name, *args) -> None:  # console: (name, ts, line); stats: (name, stats)
        if len(args) == 2:
            self._put((name, Data("console", ConsoleLine(args[0], args[1]))))
        else:
            self._put((name, Data("statistics", args[0])))

    def drop(self) -> None:
        if not self.dropped:
            self.queue.put_nowait(None)
        self.dropped = True


async def pump(session: Session, sub: QueueSubscriber, name: names.Name) -> bool:
    """Forward queued data until the daemon drops us (True) or the client leaves (False)."""
    eof = asyncio.ensure_future(session.wait_eof())
    try:
        while True:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _pending = await asyncio.wait({getter, eof}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return False
            item = getter.result()
            if item is None:
                await session.send(name, Failure(EXCEPTION_READING))
                return True
            await session.send(item[0], item[1])
    finally:
        eof.cancel()


class Endpoint:
    def __init__(self, server) -> None:
        self.server = server
        self.counter = 0

    def _next(self) -> int:
        """The endpoint's command counter (starts at 0), used as sequence of backend requests."""
        current = self.counter
        self.counter += 1
        return current

    async def handle(self, session: Session, verified, presented) -> None:
        srv = self.server
        try:
            granted = auth.authorize(verified, presented, srv.anchor, messages.decode_cert_extension)
        except auth.Rejected as exc:
            LOG.warning("failed to handle TLS connection %s", exc)
            return
        name, command = granted.name, granted.command
        kind = command.kind
        LOG.info("%s: %s", names.to_string(name), kind)
        fault = srv.faults.take("command", kind)
        if fault is not None and not await self._fault(session, name, command, fault):
            return
        if kind in UPLOADS and not command.arg.image:
            image = bytearray()
            try:
                while True:
                    chunk = await session.read_chunk()
                    if chunk is None:
                        break
                    image += chunk
                    if len(image) > srv.options.max_upload:
                        raise EndOfUpload("image too large")
            except EndOfUpload as exc:
                LOG.error("error while handle() error retrieving unikernel image: %s", exc)
                return
            command = type(command)(kind, _with_image(command.arg, bytes(image)))
        if kind.startswith("console_"):
            await self._console(session, name, command)
        elif kind == "stats_subscribe":
            await self._stats(session, name)
        else:
            await self._vmmd(session, granted, command)
        if session.reply_budget is not None:
            # the whole reply fitted into the budget: still drop instead of a clean close
            await session.drop()

    # ------------------------------------------------------------------ fault switches
    async def _fault(self, session: Session, name: names.Name, command, fault) -> bool:
        """Apply a fault rule that fired for this command; False when the command must not run."""
        LOG.warning("fault switch: %s for %s", fault.fault, command.kind)
        if fault.fault == "refuse":
            return False
        if fault.fault == "stall":
            # bounded, so a forgotten switch cannot keep a test waiting forever
            await asyncio.sleep(fault.seconds)
            return False
        if fault.fault == "garbage":
            await session.send_raw(fault.data)
            return False
        if fault.fault == "fail":
            if _streams_upload(command):
                try:
                    while await session.read_chunk() is not None:
                        pass
                except EndOfUpload:
                    return False
            await session.send(name, Failure(fault.message))
            return False
        if fault.fault == "drop_upload":
            if not _streams_upload(command):
                await session.drop()
                return False
            session.upload_budget = fault.after_bytes
        elif fault.fault == "drop_reply":
            session.reply_budget = fault.after_bytes
        elif fault.fault == "restart":
            # stop accepting now, so that the client's next command meets the restarted server
            self.server.prepare_restart()
            session.restart = fault
        return True

    # ------------------------------------------------------------------ vmmd
    async def _vmmd(self, session: Session, granted: auth.Authorized, command) -> None:
        srv = self.server
        name = granted.name
        for path, policy in granted.policies:
            self._next()
            async with srv.vmmd.lock:
                try:
                    srv.vmmd.policy_add(path, policy)
                except CommandError as exc:
                    text = "expected success when adding policy, got: host %s: command failed %s" % (names.pp((path, None)), exc)
                    await session.send(name, Failure(text))
                    return
        sequence = self._next()
        kind = command.kind
        if kind == "block_dump":
            await self._dump(session, name, command.arg, sequence)
            return
        if kind == "block_set":
            await self._block_set(session, name, bool(command.arg))
            return
        if (kind == "block_set_old" and command.arg[1] == b"") or (kind == "block_add_old" and command.arg[2] == b""):
            # the endpoint streams for these old forms too, although vmmd answers them at once
            try:
                while await session.read_chunk() is not None:
                    pass
            except EndOfUpload:
                return
        async with srv.vmmd.lock:
            try:
                reply = await srv.command(name, command)
            except CommandError as exc:
                reply = Failure(str(exc))
            except ConnectionAbortedError:
                reply = Failure("error reading from fd")
        await session.send(name, reply)

    async def _block_set(self, session: Session, name: names.Name, compressed: bool) -> None:
        """Upload stream: vmmd's name checks first, the whole stream is read before the reply."""
        writer = None
        reply = None
        async with self.server.vmmd.lock:
            try:
                writer = self.server.blocks.set_begin(name, compressed)
            except CommandError as exc:
                reply = Failure(str(exc))
        try:
            while True:
                chunk = await session.read_chunk()
                if chunk is None:
                    break
                if writer is not None:
                    await asyncio.to_thread(writer.feed, chunk)
        except EndOfUpload:
            if writer is not None:
                # The real endpoint answers "reading tls chunk" to a client that is gone and closes its
                # socket to vmmd, which reads that EOF like the end marker (albatrossd.ml Recv_stream:
                # `Error `Eof -> p#close; Ok ()`): the data so far stays in the recreated file and a plain
                # stream is then truncated to the volume size as after a complete upload (see BlockWriter).
                _quietly(writer.finish)
            return
        if writer is not None:
            try:
                reply = Success("string", writer.finish())
            except CommandError as exc:
                reply = Failure(str(exc))
        await session.send(name, reply)

    async def _dump(self, session: Session, name: names.Name, level: int, sequence: int) -> None:
        srv = self.server
        async with srv.vmmd.lock:
            try:
                compressed, chunks = srv.blocks.dump(name, level)
            except CommandError as exc:
                await session.send(name, Failure(str(exc)), sequence)
                await session.send(name, Failure(EXCEPTION_READING))
                return
            except ConnectionAbortedError:
                await session.send(name, Failure(EXCEPTION_READING))
                return
        await session.send(name, Success("block_device_image", compressed), sequence)
        for chunk in chunks:
            await session.send(name, Data("block", chunk), sequence)
        await session.send(name, Data("block", None))

    # ------------------------------------------------------------------ console
    async def _console(self, session: Session, name: names.Name, command) -> None:
        srv = self.server
        sequence = self._next()
        if command.kind == "console_list_inactive":
            if name[1] is not None:
                await session.send(name, Failure("name used"))
            else:
                await session.send(name, Success("consoles", tuple(srv.console.list_inactive(name[0]))))
            return
        if name[1] is None:
            await session.send(name, Failure("path used instead of name"), sequence)
            await session.send(name, Failure(EXCEPTION_READING))
            return
        sub = QueueSubscriber()
        ring, text = srv.console.subscribe(sub, name)
        try:
            await session.send(name, Success("string", text), sequence)
            if ring is not None:
                selector = command.arg
                for when, line in console.history(ring, selector.count, selector.since):
                    await session.send(name, Data("console", ConsoleLine(when, line)))
            await pump(session, sub, name)
        finally:
            srv.console.unsubscribe(sub, name)

    # ------------------------------------------------------------------ stats
    async def _stats(self, session: Session, name: names.Name) -> None:
        srv = self.server
        sequence = self._next()
        sub = QueueSubscriber()
        srv.stats.subscribe(name, sub)
        try:
            await session.send(name, Success("string", "subscribed"), sequence)
            await pump(session, sub, name)
        finally:
            srv.stats.unsubscribe(name, sub)


UPLOADS = ("unikernel_create", "unikernel_force_create", "unikernel_create_old", "unikernel_force_create_old",
           "unikernel_create_old2", "unikernel_force_create_old2")


def _streams_upload(command) -> bool:
    """Whether the client streams data after the handshake for this command."""
    kind = command.kind
    if kind in UPLOADS:
        return not command.arg.image
    if kind == "block_set":
        return True
    return (kind == "block_set_old" and command.arg[1] == b"") or (kind == "block_add_old" and command.arg[2] == b"")


def _with_image(config, image: bytes):
    return dataclasses.replace(config, image=image)


def _quietly(func) -> None:
    try:
        func()
    except CommandError:
        pass
