# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A builder-web stand-in for tests: the real endpoints and JSON shapes, builds from a catalogue.

Endpoints follow robur-coop/builder-web (``url/url.ml``, ``lib/builder_web.ml``, ``lib/views.ml``):
``/hash?sha256=``, ``/job/J``, ``/job/J/build/latest[/PATH]``, ``/job/J/build/UUID`` (JSON with
``Accept: application/json``, else a small HTML page), ``/job/J/build/UUID/main-binary`` (redirect to
``/job/J/build/UUID/f/bin/NAME``, served with ``ETag`` = base64 of the SHA-256), ``/compare/A/B``.
Unknown things give an HTML 404, as builder-web does.

The catalogue is a JSON file, re-read whenever it changes, so a test publishes a new build by
rewriting it::

    {"jobs": {"web": {"builds": [
        {"uuid": "…", "platform": "ubuntu-22.04", "start_time": "2025-01-01T00:00:00Z",
         "finish_time": "2025-01-01T00:05:00Z", "main_binary": "web-v1.hvt", "binary_name": "web.hvt",
         "opam_packages": {"mirage": "4.5.0"}, "system_packages": {}, "env": {}}]}}}

``main_binary`` is a file path relative to the catalogue (or null for a failed build).

Failures on demand: ``POST /_control`` with JSON ``{"status": 503, "times": N, "delay": S}`` (``times``
absent = until cleared, ``{}`` clears), or the same JSON in the ``--control-file``; ``set_failure()`` does
the same from Python. ``{"refuse": true}`` closes every connection right after accept, without an answer
(``/_control`` included: clear it with ``set_failure({})`` or the control file); ``stop()`` closes the
port, so connections are refused. Every request is
counted; ``GET /_control`` returns ``{"requests": N, "paths": [...]}``.

CLI: ``python tests/server/builder_web_server.py --listen 127.0.0.1:0 --catalogue C.json
[--ready-file F] [--control-file F]``. The ready file gets ``HOST:PORT`` once the socket listens.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import html
import json
import os
import sys
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, quote, unquote, urlsplit


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Catalogue:
    """Builds of the catalogue file, reloaded when its mtime or size changes."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._stamp: Optional[Tuple[float, int]] = None
        self._builds: List[Dict[str, Any]] = []
        self._lock = threading.Lock()

    def builds(self) -> List[Dict[str, Any]]:
        with self._lock:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime, stat.st_size)
            if stamp != self._stamp:
                self._builds = self._load()
                self._stamp = stamp
            return self._builds

    def _load(self) -> List[Dict[str, Any]]:
        with open(self.path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
        base = os.path.dirname(self.path)
        builds = []
        for job, spec in data.get("jobs", {}).items():
            for entry in spec.get("builds", []):
                build = dict(entry, job=job, uuid=str(uuidlib.UUID(entry["uuid"])))
                build.setdefault("platform", "ubuntu-22.04")
                build.setdefault("start_time", "2025-01-01T00:00:00Z")
                build.setdefault("finish_time", build["start_time"])
                binary = entry.get("main_binary")
                if binary:
                    with open(os.path.join(base, binary), "rb") as handle:
                        content = handle.read()
                    build["binary"] = content
                    build["sha256"] = hashlib.sha256(content).digest()
                    build.setdefault("binary_name", os.path.basename(binary))
                else:
                    build["binary"] = None
                builds.append(build)
        builds.sort(key=lambda b: _time(b["start_time"]), reverse=True)
        return builds

    def by_uuid(self, value: str) -> Optional[Dict[str, Any]]:
        try:
            wanted = str(uuidlib.UUID(value))
        except ValueError:
            return None
        return next((b for b in self.builds() if b["uuid"] == wanted), None)

    def of_job(self, job: str, platform: Optional[str] = None) -> List[Dict[str, Any]]:
        return [b for b in self.builds() if b["job"] == job and (platform is None or b["platform"] == platform)]


def _diff_map(left: Dict[str, str], right: Dict[str, str]) -> Dict[str, Any]:
    return {
        "left_packages": [{"name": k, "version": v} for k, v in sorted(left.items()) if k not in right],
        "right_packages": [{"name": k, "version": v} for k, v in sorted(right.items()) if k not in left],
        "different_versions": [{"name": k, "version_left": v, "version_right": right[k]}
                               for k, v in sorted(left.items()) if k in right and right[k] != v],
    }


def _opam_diff(left: Dict[str, str], right: Dict[str, str]) -> Dict[str, Any]:
    changed = [{"name": k, "version_left": v, "version_right": right[k]} for k, v in sorted(left.items()) if k in right and right[k] != v]
    return {
        "opam_diff": [{"package_version": "%s.%s" % (c["name"], c["version_right"]), "effectively_equal": False, "diff": ""} for c in changed],
        "version_diff": changed,
        "only_in_left": [{"name": k, "version": v} for k, v in sorted(left.items()) if k not in right],
        "only_in_right": [{"name": k, "version": v} for k, v in sorted(right.items()) if k not in left],
        "duniverse_diff": {"left": [], "right": [], "detailed_diff": []},
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "builder-web-test"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> "BuilderWebServer":
        return self.server  # type: ignore[return-value]

    def handle(self) -> None:
        # "refuse": the connection closes before the request is read, like a proxy whose backend is gone
        if self.state.take_refusal():
            return
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.state.verbose:
            sys.stderr.write("builder-web-test: " + (format % args) + "\n")

    # --- responses -------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._send(200, json.dumps(value).encode(), "application/json")

    def _not_found(self) -> None:
        page = "<html><body><h1>Resource not found</h1><p>%s</p></body></html>" % html.escape(self.path)
        self._send(404, page.encode(), "text/html; charset=utf-8")

    def _redirect(self, location: str, status: int = 307) -> None:
        self._send(status, b"", headers={"Location": location})

    def _wants_json(self) -> bool:
        return "application/json" in self.headers.get("Accept", "")

    # --- dispatch --------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        if urlsplit(self.path).path != "/_control":
            self._not_found()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        self.state.set_failure(json.loads(body or b"{}"))
        self._json({"ok": True})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/_control":
            self._json({"requests": self.state.requests, "paths": list(self.state.paths)})
            return
        self.state.count(self.path)
        failure = self.state.take_failure()
        if failure.get("delay"):
            time.sleep(float(failure["delay"]))
        if failure.get("status"):
            self._send(int(failure["status"]), b"Service Unavailable\n")
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        try:
            self._route(parts, query)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, parts: List[str], query: Dict[str, str]) -> None:
        cat = self.state.catalogue
        if parts == ["hash"]:
            return self._hash(query.get("sha256", ""))
        if len(parts) == 3 and parts[0] == "compare":
            return self._compare(parts[1], parts[2])
        if len(parts) < 2 or parts[0] != "job":
            return self._not_found()
        job = parts[1]
        rest = parts[2:]
        if not rest:
            return self._job(job, query.get("platform"))
        if rest[0] != "build" or len(rest) < 2:
            return self._not_found()
        if rest[1] == "latest":
            builds = [b for b in cat.of_job(job, query.get("platform")) if b["binary"] is not None]
            if not builds:
                return self._not_found()
            location = "/job/%s/build/%s" % (quote(job, safe=""), builds[0]["uuid"])
            return self._redirect(location + "".join("/" + quote(p) for p in rest[2:]))
        build = cat.by_uuid(rest[1])
        if build is None:
            return self._not_found()
        if len(rest) == 2:
            return self._build(job, build)
        if rest[2:] == ["main-binary"]:
            if build["binary"] is None:
                return self._not_found()
            return self._redirect("/job/%s/build/%s/f/bin/%s" % (quote(job, safe=""), build["uuid"], quote(build["binary_name"])))
        if rest[2:] == ["f", "bin", build.get("binary_name")] and build["binary"] is not None:
            return self._file(build)
        return self._not_found()

    def _hash(self, value: str) -> None:
        try:
            wanted = bytes.fromhex(value)
        except ValueError:
            return self._not_found()
        for build in self.state.catalogue.builds():
            if build.get("sha256") == wanted:
                return self._redirect("/job/%s/build/%s" % (quote(build["job"], safe=""), build["uuid"]))
        return self._not_found()

    def _job(self, job: str, platform: Optional[str]) -> None:
        builds = self.state.catalogue.of_job(job, platform)
        if not self.state.catalogue.of_job(job):
            return self._not_found()
        seen = set()
        entries = []
        for build in builds:
            if build["binary"] is None or build["sha256"] in seen:
                continue
            seen.add(build["sha256"])
            entries.append({"uuid": build["uuid"], "main_binary": {
                "filename": build["binary_name"], "sha256": build["sha256"].hex(), "size": len(build["binary"])}})
        if not self._wants_json():
            return self._send(200, ("<html><body>Job %s</body></html>" % html.escape(job)).encode(), "text/html; charset=utf-8")
        self._json({"builds": entries})

    @staticmethod
    def _build_json(job: str, build: Dict[str, Any]) -> Dict[str, Any]:
        return {"job": job, "uuid": build["uuid"], "platform": build["platform"], "start_time": build["start_time"],
                "finish_time": build["finish_time"], "main_binary": build["binary"] is not None}

    def _build(self, job: str, build: Dict[str, Any]) -> None:
        if not self._wants_json():
            return self._send(200, ("<html><body>Build %s</body></html>" % build["uuid"]).encode(), "text/html; charset=utf-8")
        self._json(self._build_json(job, build))

    def _file(self, build: Dict[str, Any]) -> None:
        etag = base64.b64encode(build["sha256"]).decode()
        if self.headers.get("If-None-Match") == etag:
            return self._send(304)
        body = build["binary"]
        truncate = self.state.failure.get("truncate")
        if truncate:
            # Announce the full length, send less, then close: a broken download.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body[:int(truncate)])
            self.close_connection = True
            return
        self._send(200, body, "application/octet-stream", {"ETag": etag})

    def _compare(self, left_uuid: str, right_uuid: str) -> None:
        cat = self.state.catalogue
        left, right = cat.by_uuid(left_uuid), cat.by_uuid(right_uuid)
        if left is None or right is None:
            return self._not_found()
        if not self._wants_json():
            return self._send(200, b"<html><body>Compare</body></html>", "text/html; charset=utf-8")

        def side(build: Dict[str, Any]) -> Dict[str, Any]:
            value = self._build_json(build["job"], build)
            value["main_binary_size"] = len(build["binary"]) if build["binary"] is not None else None
            return value

        self._json({
            "left": side(left),
            "right": side(right),
            "env_diff": _diff_map(left.get("env", {}), right.get("env", {})),
            "package_diff": _diff_map(left.get("system_packages", {}), right.get("system_packages", {})),
            "opam_diff": _opam_diff(left.get("opam_packages", {}), right.get("opam_packages", {})),
        })


class BuilderWebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Tuple[str, int], catalogue: str, control_file: Optional[str] = None, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.catalogue = Catalogue(catalogue)
        self.control_file = control_file
        self.verbose = verbose
        self.requests = 0
        self.paths: List[str] = []
        self.failure: Dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)

    def count(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.paths.append(path)

    def set_failure(self, failure: Dict[str, Any]) -> None:
        with self._lock:
            self.failure = dict(failure)

    def take_refusal(self) -> bool:
        """Whether the current failure refuses connections (``times`` counts down as for requests)."""
        with self._lock:
            peek = self._read_control_file() if self.control_file else self.failure
            if not peek.get("refuse"):
                return False
        return bool(self.take_failure().get("refuse"))

    def _read_control_file(self) -> Dict[str, Any]:
        if not os.path.exists(self.control_file or ""):
            return {}
        with open(self.control_file, "r", encoding="utf-8") as handle:
            text = handle.read().strip()
        return json.loads(text) if text else {}

    def stop(self) -> None:
        """Stop serving and close the port: clients now get "connection refused"."""
        self.shutdown()
        self.server_close()

    def take_failure(self) -> Dict[str, Any]:
        """The failure to apply to this request (``times`` counts down)."""
        with self._lock:
            if self.control_file and os.path.exists(self.control_file):
                with open(self.control_file, "r", encoding="utf-8") as handle:
                    text = handle.read().strip()
                return json.loads(text) if text else {}
            failure = dict(self.failure)
            times = self.failure.get("times")
            if times is not None:
                if times <= 0:
                    self.failure = {}
                    return {}
                self.failure["times"] = times - 1
            return failure


def start_in_thread(catalogue: str, host: str = "127.0.0.1", control_file: Optional[str] = None) -> BuilderWebServer:
    """Start a server on a free loopback port in a daemon thread; call ``shutdown()`` to stop it."""
    server = BuilderWebServer((host, 0), catalogue, control_file)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 = any free port)")
    parser.add_argument("--catalogue", required=True)
    parser.add_argument("--ready-file")
    parser.add_argument("--control-file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    server = BuilderWebServer((host.strip("[]"), int(port)), args.catalogue, args.control_file, args.verbose)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("%s:%d\n" % server.server_address[:2])
        os.replace(tmp, args.ready_file)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
