# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Albatross-compatible test server (albatrossd + console + stats + TLS endpoint in one process).

Usage: python tests/server/albatross_server.py --listen 127.0.0.1:0 --state-dir DIR --ready-file F
On first start DIR receives ca.pem/ca.key (root CA, the client trust anchor and signer) and
server.pem/server.key unless --ca-cert/--cert/--key are given.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _collection_path() -> None:
    """Make ``ansible_collections.unikernels.albatross`` importable (same layout as tests/conftest.py)."""
    parents = ROOT.split(os.sep)
    if len(parents) >= 3 and parents[-3] == "ansible_collections":
        sys.path.insert(0, os.sep.join(parents[:-3]))
        return
    collections = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(collections, "ansible_collections", "unikernels", "albatross")
    if not os.path.islink(link) and not os.path.isdir(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    if collections not in sys.path:
        sys.path.insert(0, collections)


if HERE not in sys.path:
    sys.path.insert(0, HERE)
_collection_path()

from albatross_sim.app import Server, ServerOptions  # noqa: E402  pylint: disable=wrong-import-position
from albatross_sim.vmmd import Options  # noqa: E402  pylint: disable=wrong-import-position


def parse_listen(text: str):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError("the test server listens on loopback addresses only, not %s" % host)
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 1025),
                        help="HOST:PORT to listen on (loopback); port 0 picks a free port")
    parser.add_argument("--state-dir", required=True, help="state directory (created if missing)")
    parser.add_argument("--ready-file", help='written as JSON {"host","port","pid"} once listening')
    parser.add_argument("--ca-cert", help="trust anchor PEM (exactly one certificate)")
    parser.add_argument("--cert", help="server certificate PEM")
    parser.add_argument("--key", help="server key PEM")
    parser.add_argument("--ca-cn", default="albatross-test-ca", help="CN of a generated root CA")
    parser.add_argument("--cpus", type=int, default=4, help="host CPUs of the root policy")
    parser.add_argument("--memory", type=int, default=4096, help="host memory (MB) of the root policy")
    parser.add_argument("--block-mb", type=int, default=10240, help="block storage (MB) of the root policy")
    parser.add_argument("--bridges", default="service,br0", help="comma-separated host bridges")
    parser.add_argument("--stats-interval", type=float, default=1.0, help="seconds between statistics samples")
    parser.add_argument("--restart-delay", type=float, default=0.5, help="seconds before a restart-on-fail restart")
    parser.add_argument("--max-subscribers", type=int, default=5, help="console subscribers per unikernel")
    parser.add_argument("--max-chunk", type=int, default=16 << 20, help="largest accepted upload chunk (bytes)")
    parser.add_argument("--max-upload", type=int, default=512 << 20, help="largest accepted image upload (bytes)")
    parser.add_argument("--log-level", default="INFO", help="logging level")
    return parser


def options_from(args: argparse.Namespace) -> ServerOptions:
    bridges = tuple(b for b in (x.strip() for x in args.bridges.split(",")) if b)
    return ServerOptions(
        state_dir=os.path.abspath(args.state_dir), host=args.listen[0], port=args.listen[1], ready_file=args.ready_file,
        ca_cert=args.ca_cert, cert=args.cert, key=args.key, ca_cn=args.ca_cn, stats_interval=args.stats_interval,
        max_subscribers=args.max_subscribers, max_chunk=args.max_chunk, max_upload=args.max_upload,
        vmmd=Options(cpus=args.cpus, memory=args.memory, block_mb=args.block_mb, bridges=bridges,
                     restart_delay=args.restart_delay),
    )


def _quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # failed handshakes (wrong CA, expired certificates) are expected in tests
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError)):
        logging.getLogger("albatross-sim").info("TLS: %s", exc)
        return
    loop.default_exception_handler(context)


LISTEN_FD_ENV = "ALBATROSS_SIM_LISTEN_FD"
LISTEN_PORT_ENV = "ALBATROSS_SIM_LISTEN_PORT"


async def run(options: ServerOptions):
    """Serve until SIGTERM/SIGINT (returns None) or a restart switch fires (returns (fd or None, gap, port))."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_tls_errors)
    server = Server(options)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _host, port = await server.start()
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(server.restart_event.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    restart = server.restart_event.is_set() and not stop.is_set()
    if restart:
        server.prepare_restart()
        if options.ready_file and os.path.exists(options.ready_file):
            # the next process writes it again once it listens (ServerInfo.wait_ready)
            os.unlink(options.ready_file)
    await server.stop()
    return (server.handover_fd, server.restart_gap, port) if restart else None


def restart_process(fd, gap: float, port: int) -> None:
    """Replace this process by a fresh server with the same arguments and state directory.

    With a gap of 0 the listening socket is handed over, so clients wait instead of being refused;
    with a gap the port is closed for that long, as when albatrossd is restarted by hand.
    """
    logging.getLogger("albatross-sim").warning("restarting the server (fault switch), gap %.1f s", gap)
    if gap > 0 or fd is None:
        if fd is not None:
            os.close(fd)
        time.sleep(gap)
        os.environ.pop(LISTEN_FD_ENV, None)
        # the same port again, also when the command line asked for any free port
        os.environ[LISTEN_PORT_ENV] = str(port)
    else:
        os.set_inheritable(fd, True)
        os.environ[LISTEN_FD_ENV] = str(fd)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not (hasattr(ssl.SSLObject, "get_verified_chain") or hasattr(ssl._ssl._SSLSocket, "get_verified_chain")):  # pylint: disable=protected-access
        # the policies live in the client's intermediate certificates: ssl exposes them publicly since
        # 3.13 and on its C socket object since 3.10
        sys.stderr.write("albatross test server needs Python >= 3.10 (the ssl module's verified-chain API)\n")
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(message)s")
    options = options_from(args)
    inherited = os.environ.pop(LISTEN_FD_ENV, None)
    if inherited:
        options.listen_fd = int(inherited)
    port = os.environ.pop(LISTEN_PORT_ENV, None)
    if port:
        options.port = int(port)
    restart = asyncio.run(run(options))
    if restart is not None and argv is None:
        restart_process(*restart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
