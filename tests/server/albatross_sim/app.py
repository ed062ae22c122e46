# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole test server: daemons wired together, state restore, listener and timers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Optional, Tuple

from cryptography import x509

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Success

from . import names, pki
from .blocks import Blocks
from .console import Console
from .endpoint import Endpoint, Session
from .faults import Faults
from .resources import CommandError
from .stats import Stats
from .store import Store
from .vmmd import Options, Vmmd

LOG = logging.getLogger("albatross-sim")


@dataclass
class ServerOptions:
    state_dir: str
    host: str = "127.0.0.1"
    port: int = 1025
    ready_file: Optional[str] = None
    ca_cert: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    ca_cn: str = "albatross-test-ca"
    stats_interval: float = 1.0
    max_subscribers: int = 5
    max_chunk: int = 16 << 20
    max_upload: int = 512 << 20
    io_timeout: float = 120.0
    #: an inherited listening socket (a restart by fault switch hands it over, see albatross_server.py)
    listen_fd: Optional[int] = None
    vmmd: Options = field(default_factory=Options)


class Server:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        os.makedirs(options.state_dir, mode=0o700, exist_ok=True)
        if options.ca_cert and options.cert and options.key:
            ca_file, cert_file, key_file = options.ca_cert, options.cert, options.key
        else:
            ca_file, _ca_key, cert_file, key_file = pki.ensure_credentials(options.state_dir, options.ca_cn)
        self.ssl = pki.server_context(ca_file, cert_file, key_file)
        with open(ca_file, "rb") as handle:
            self.anchor = x509.load_pem_x509_certificate(handle.read())
        self.store = Store(options.state_dir)
        self.console = Console(options.max_subscribers)
        self.stats = Stats()
        self.vmmd = Vmmd(options.vmmd, self.console, self.stats)
        self.vmmd.dump = self.dump
        self.blocks = Blocks(self.vmmd.res, self.store.block_dir)
        self.endpoint = Endpoint(self)
        self.faults = Faults(options.state_dir)
        self.listener: Optional[asyncio.base_events.Server] = None
        #: set when a restart switch fired: (listening fd kept for the next process or None, pause in seconds)
        self.restart_event = asyncio.Event()
        self.restart_gap = 0.0
        self.handover_fd: Optional[int] = None
        self.tasks = []
        self.sessions = set()
        self.restoring = False

    def dump(self) -> None:
        if self.restoring:
            return
        res = self.vmmd.res
        self.store.save(res.policies, res.unikernels, res.blocks)

    # ------------------------------------------------------------------ commands
    async def command(self, name: names.Name, command):
        """Single-reply vmmd commands (the lock is held by the caller)."""
        kind, arg = command.kind, command.arg
        vmmd = self.vmmd
        if kind == "policy_info":
            return vmmd.policy_info(name)
        if kind == "unikernel_info":
            return vmmd.info(name)
        if kind in ("unikernel_info_old4", "unikernel_info_old5"):
            return vmmd.info(name, {"unikernel_info_old4": "old_unikernel_info4", "unikernel_info_old5": "old_unikernel_info5"}[kind])
        if kind == "unikernel_get":
            return vmmd.get(name, arg)
        if kind in ("unikernel_create", "unikernel_create_old", "unikernel_create_old2"):
            return Success("string", await vmmd.create(name, arg))
        if kind in ("unikernel_force_create", "unikernel_force_create_old", "unikernel_force_create_old2"):
            return Success("string", await vmmd.force_create(name, arg))
        if kind == "unikernel_destroy":
            return Success("string", await vmmd.destroy(name))
        if kind == "unikernel_restart":
            return Success("string", await vmmd.restart(name, arg))
        if kind == "block_info":
            return self.blocks.info(name)
        if kind == "block_add":
            result = self.blocks.add(name, arg)
        elif kind == "block_add_old":
            size, compressed, data = arg
            result = self.blocks.add(name, size, data, compressed, old=True)
        elif kind == "block_remove":
            result = self.blocks.remove(name)
        elif kind == "block_set_old":
            compressed, data = arg
            result = self.blocks.set_old(name, compressed, data)
        elif kind == "block_dump_old":
            return self.blocks.dump_old(name, arg)
        else:
            raise CommandError("unknown command")
        self.dump()
        return Success("string", result)

    # ------------------------------------------------------------------ lifecycle
    async def restore(self) -> None:
        policies, unikernels, blocks = self.store.load()
        self.console.restore(self.store.load_console())
        for name, size in blocks.items():
            self.vmmd.res.blocks[name] = [size, False]
        for path, policy in policies:
            try:
                self.vmmd.res.insert_policy(path, policy)
            except CommandError as exc:
                LOG.error("couldn't insert policy for %s: %s", names.path_to_string(path), exc)
        unikernels.sort(key=lambda item: item[1].startup if item[1].startup is not None else 50)
        for name, config in unikernels:
            async with self.vmmd.lock:
                try:
                    await self.vmmd.create(name, config)
                except CommandError as exc:
                    LOG.error("failed to restore %s: %s", names.to_string(name), exc)
        self.dump()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.sessions.add(task)
        session = Session(reader, writer, self.options.max_chunk, self.options.io_timeout)
        try:
            # TLS starts here rather than in the listener, so that fault switches can act before the handshake
            fault = self.faults.take("accept")
            if fault is not None:
                await self._accept_fault(writer, fault)
                return
            await writer.start_tls(self.ssl, ssl_handshake_timeout=30)
            sslobj = writer.get_extra_info("ssl_object")
            verified = [_der(c) for c in (_chain(sslobj, "get_verified_chain") or [])]
            presented = [_der(c) for c in (_chain(sslobj, "get_unverified_chain") or [])]
            await self.endpoint.handle(session, verified, presented)
        except (ConnectionError, asyncio.TimeoutError, ssl.SSLError, OSError) as exc:
            LOG.info("connection ended: %s", exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # a test server must survive anything a client sends
            LOG.exception("error while handling a connection")
        finally:
            self.sessions.discard(task)
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (ConnectionError, asyncio.TimeoutError, ssl.SSLError, OSError, asyncio.CancelledError):
                pass
            if session.restart is not None:
                self.restart_gap = session.restart.seconds
                self.restart_event.set()

    async def _accept_fault(self, writer: asyncio.StreamWriter, fault) -> None:
        """Fault switches of stage accept: the TCP connection is there, TLS is not."""
        LOG.warning("fault switch: %s before the TLS handshake", fault.fault)
        if fault.fault == "stall":
            await asyncio.sleep(fault.seconds)
        elif fault.fault == "garbage":
            writer.write(fault.data)
            await asyncio.wait_for(writer.drain(), 5)
        # refuse: close right away

    def prepare_restart(self) -> None:
        """Stop accepting at once; connections arriving meanwhile wait in the backlog of the kept socket."""
        if self.listener is None or self.handover_fd is not None:
            return
        self.handover_fd = os.dup(self.listener.sockets[0].fileno())
        self.listener.close()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.options.stats_interval)
            self.stats.tick()

    async def _console_saver(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.save_console()

    def save_console(self) -> None:
        if self.console.changed:
            self.console.changed = False
            self.store.save_console(self.console.dump())

    async def start(self) -> Tuple[str, int]:
        self.restoring = True
        try:
            await self.restore()
        finally:
            self.restoring = False
        self.dump()
        if self.options.listen_fd is not None:
            sock = socket.socket(fileno=self.options.listen_fd)
            self.listener = await asyncio.start_server(self._accept, sock=sock)
        else:
            self.listener = await asyncio.start_server(self._accept, self.options.host, self.options.port, reuse_address=True)
        host, port = self.listener.sockets[0].getsockname()[:2]
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._ticker()), loop.create_task(self._console_saver())]
        if self.options.ready_file:
            tmp = self.options.ready_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"host": host, "port": port, "pid": os.getpid()}, handle)
            os.replace(tmp, self.options.ready_file)
        LOG.info("listening on %s:%d", host, port)
        return host, port

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for task in self.tasks + list(self.sessions):
            task.cancel()
        await self.vmmd.shutdown()
        self.save_console()


def _chain(sslobj, method: str):
    """The peer's certificate chain: public in Python 3.13, the same call of the C object since 3.10."""
    call = getattr(sslobj, method, None) or getattr(sslobj._sslobj, method)  # pylint: disable=protected-access
    return call()


def _der(cert) -> bytes:
    if isinstance(cert, (bytes, bytearray)):
        return bytes(cert)
    return cert.public_bytes(ssl._ssl.ENCODING_DER)  # pylint: disable=protected-access
