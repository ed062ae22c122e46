# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulated solo5 unikernels: deterministic console output, an optional HTTP service, exit codes.

The image steers the simulation with one line ``albatross-test: {json}`` (keys ``exit_code``,
``exit_delay``, ``accept_args``, ``usage_exit``, ``http_status``, ``version``). ``--http=127.0.0.1:PORT``
in argv makes the unikernel answer HTTP on that loopback address while it runs.

``exit_code`` is what a unikernel that ends by itself returns (solo5's test_hello and test_blk
exit 0 once they printed their lines). ``accept_args`` lists the argument prefixes the unikernel
understands; any other argument (albatross's ``--name=<label>`` among them) ends it at once with
``usage_exit`` (default 64, a MirageOS argument error; solo5's test_net exits 1 after
"Error in command line.").
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

LOG = logging.getLogger("albatross-sim")
MARKER = b"albatross-test:"
REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


@dataclass(frozen=True)
class Behaviour:
    exit_code: Optional[int] = None
    exit_delay: float = 0.1
    accept_args: Optional[Tuple[str, ...]] = None
    usage_exit: int = 64
    http_status: int = 200
    version: Optional[str] = None
    error: Optional[str] = None


def behaviour(image: bytes) -> Behaviour:
    pos = image.find(MARKER)
    if pos < 0:
        return Behaviour()
    rest = image[pos + len(MARKER):pos + len(MARKER) + 4096]
    for stop in (b"\n", b"\x00"):
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    try:
        data = json.loads(rest.decode("ascii"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        exit_code = data.get("exit_code")
        accept = data.get("accept_args")
        if accept is not None and not (isinstance(accept, list) and all(isinstance(a, str) for a in accept)):
            raise ValueError("accept_args must be a list of strings")
        return Behaviour(
            exit_code=int(exit_code) if exit_code is not None else None,
            exit_delay=float(data.get("exit_delay", 0.1)),
            accept_args=tuple(accept) if accept is not None else None,
            usage_exit=int(data.get("usage_exit", 64)),
            http_status=int(data.get("http_status", 200)),
            version=str(data["version"]) if data.get("version") is not None else None,
        )
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return Behaviour(error=str(exc))


def http_address(argv: List[str]) -> Optional[str]:
    for arg in argv:
        if arg.startswith("--http="):
            return arg[len("--http="):]
    return None


def parse_loopback(addr: str) -> Tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise ValueError("no port in %r" % addr)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("%s is not a loopback address" % host)
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError("bad port %s" % port)
    return host, number


class Process:
    """One running simulated unikernel."""

    def __init__(self, label: str, memory: int, argv: List[str], image: bytes, digest: bytes,
                 write: Callable[[bytes], None], on_exit: Callable[[int], None]) -> None:
        self.label = label
        self.memory = memory
        self.argv = argv
        self.behaviour = behaviour(image)
        self.version = self.behaviour.version or "sha256:" + digest.hex()[:12]
        self.write = write
        self.on_exit = on_exit
        self.http: Optional[asyncio.base_events.Server] = None
        self.exit_task: Optional[asyncio.Task] = None
        self.running = False

    async def start(self) -> None:
        self.running = True
        self.write(b"Solo5: Bindings version v0.9.0\n")
        self.write(b"Solo5: Memory map: %d MB addressable\n" % self.memory)
        self.write(("arguments: " + " ".join(self.argv) + "\n").encode())
        self.write(("version " + self.version + "\n").encode())
        if self.behaviour.error is not None:
            self.write(("albatross-test: cannot parse behaviour: " + self.behaviour.error + "\n").encode())
        self.write(("hello from " + self.label + ": started\n").encode())
        exit_code = self.behaviour.exit_code
        rejected = self.rejected_argument()
        if rejected is not None:
            self.write(("Error in command line: unknown argument %s\n" % rejected).encode())
            exit_code = self.behaviour.usage_exit
        addr = http_address(self.argv)
        if addr is not None and exit_code is None:
            await self._listen(addr)
        if exit_code is not None:
            self.exit_task = asyncio.get_running_loop().create_task(self._exit_later(exit_code))

    def rejected_argument(self) -> Optional[str]:
        """The first argument the image does not understand (None: all understood)."""
        accept = self.behaviour.accept_args
        if accept is None:
            return None
        for arg in self.argv:
            if not any(arg.startswith(prefix) for prefix in accept):
                return arg
        return None

    async def _listen(self, addr: str) -> None:
        try:
            host, port = parse_loopback(addr)
        except ValueError as exc:
            self.write(("http: refusing %s: %s\n" % (addr, exc)).encode())
            return
        try:
            self.http = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        except OSError as exc:
            self.write(("http: cannot listen on %s: %s\n" % (addr, exc.strerror or exc)).encode())
            return
        self.write(("http: listening on %s\n" % addr).encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("?", "?")
            status = self.behaviour.http_status
            body = b"" if method == "HEAD" else ("%s %s\n" % (self.version, self.label)).encode()
            head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
                status, REASONS.get(status, "Status"), len(("%s %s\n" % (self.version, self.label)).encode()))
            writer.write(head.encode() + body)
            await writer.drain()
            self.write(("http: %s %s %d\n" % (method, target, status)).encode())
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _exit_later(self, code: int) -> None:
        await asyncio.sleep(self.behaviour.exit_delay)
        if not self.running:
            return
        self.write(b"Solo5: solo5_exit(%d) called\n" % code)
        self.stop()
        self.on_exit(code)

    def terminate(self) -> None:
        """albatrossd's SIGTERM (destroy, restart, force-create): solo5-hvt says so on the console."""
        if self.running:
            self.write(b"solo5-hvt: Exiting on signal 15\n")
        self.stop()

    def stop(self) -> None:
        """The process is gone at once; no exit code is reported."""
        self.running = False
        if self.http is not None:
            self.http.close()
            self.http = None
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        if self.exit_task is not None and self.exit_task is not current:
            self.exit_task.cancel()
        self.exit_task = None
