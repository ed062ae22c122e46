# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client of a builder-web instance (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.
No Ansible imports: modules, the lookup plugin and the roles' helpers share it.

Endpoints (robur-coop/builder-web, ``url/url.ml`` and ``lib/builder_web.ml``), all asked for
with ``Accept: application/json``:

* ``GET /hash?sha256=HEX`` redirects to ``/job/JOB/build/UUID`` of the newest build that has an
  artifact with that hash; 404 when there is none.
* ``GET /job/JOB/build/latest[?platform=P]`` redirects to the newest build with a main binary.
* ``GET /job/JOB/build/UUID`` gives ``{job, uuid, platform, start_time, finish_time, main_binary
  (bool), solo5_manifest?, solo5_abi?}``. It does not carry the binary's hash.
* ``GET /job/JOB[?platform=P]`` lists, newest first, one build per distinct main binary with
  ``main_binary {filename, sha256, size}``: the source of the hash of a build.
* ``GET /job/JOB/build/UUID/main-binary`` redirects to ``/job/JOB/build/UUID/f/PATH``, which serves
  the file with ``ETag`` = base64 of its SHA-256 (the fallback source of the hash).
* ``GET /compare/UUID_A/UUID_B`` gives the difference of two builds.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import time
import typing as t
import uuid as uuidlib
from urllib.parse import quote

try:
    import requests
except ImportError as exc:  # pragma: no cover - exercised by ansible-test's import sanity
    requests = None
    REQUESTS_IMPORT_ERROR: ImportError | None = exc
else:
    REQUESTS_IMPORT_ERROR = None

DEFAULT_URL = "https://builds.robur.coop"
USER_AGENT = "unikernels.albatross builder-web client"
_CHUNK = 1 << 16
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_JSON = 64 << 20


class BuilderWebError(Exception):
    """Base of the errors of this client."""


class InvalidReference(BuilderWebError, ValueError):
    """A job, uuid or hash that cannot name anything on builder-web."""


class UnknownBuild(BuilderWebError):
    """builder-web answered 404: no such job, build or hash."""


class BuildServerUnreachable(BuilderWebError):
    """Connection failures, timeouts or 5xx answers, after all retries."""


class BadResponse(BuilderWebError):
    """An answer that is not what builder-web sends (status, JSON shape)."""


class ChecksumMismatch(BadResponse):
    """The downloaded binary does not have the expected SHA-256 or size."""


@dataclasses.dataclass(frozen=True)
class Build:
    """A build as builder-web describes it; ``main_binary_sha256`` is hex or None if unknown."""

    job: str
    uuid: str
    platform: str = ""
    start_time: str = ""
    finish_time: str = ""
    main_binary: bool = False
    main_binary_sha256: str | None = None
    main_binary_size: int | None = None
    main_binary_filename: str | None = None
    solo5_manifest: dict | None = None
    solo5_abi: dict | None = None
    url: str = ""

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Download:
    job: str
    uuid: str
    sha256: str
    size: int
    url: str


def check_uuid(value: str) -> str:
    try:
        return str(uuidlib.UUID(str(value).strip()))
    except ValueError:
        raise InvalidReference("not a build uuid: %r" % (value,)) from None


def check_sha256(value: str) -> str:
    text = str(value).strip().lower()
    if not _SHA256_RE.match(text):
        raise InvalidReference("not a SHA-256 in hex: %r" % (value,))
    return text


def check_job(value: str) -> str:
    text = str(value)
    if not text or "/" in text or text in (".", ".."):
        raise InvalidReference("not a job name: %r" % (value,))
    return text


def _etag_sha256(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _network_reason(exc: BaseException, timeout: float) -> str:
    """Why a request did not get an answer, without the HTTP library's exception names."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer within %g s" % timeout
    seen = 0
    while seen < 10 and (exc.__cause__ is not None or exc.__context__ is not None):
        exc = exc.__cause__ or exc.__context__
        seen += 1
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror.lower()
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower()
    return "the connection failed"


class BuilderWeb:
    """One builder-web instance. ``verify`` is True or the path of a CA bundle (never off)."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 30.0, retries: int = 3, verify: bool | str = True,
                 backoff: float = 0.5, session: t.Any = None) -> None:
        if requests is None:
            raise BuilderWebError("the Python library requests is required to talk to builder-web: %s" % REQUESTS_IMPORT_ERROR)
        if verify is False:
            raise ValueError("TLS verification of builder-web cannot be turned off; give a CA bundle instead")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.session = session or requests.Session()
        self.session.verify = verify
        self.session.headers.update({"User-Agent": USER_AGENT})

    # --- transport -------------------------------------------------------------------

    def _request(self, path: str, params: dict | None = None, stream: bool = False, json_accept: bool = True) -> t.Any:
        """GET with redirects; retries connection errors, timeouts and 5xx with exponential backoff."""
        url = self.url + path
        headers = {"Accept": "application/json"} if json_accept else {}
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * (2 ** (attempt - 1)), 10.0))
            try:
                response = self.session.get(url, params=params, headers=headers, timeout=self.timeout, stream=stream, allow_redirects=True)
            except requests.exceptions.SSLError as exc:
                raise BuildServerUnreachable("TLS error talking to %s: %s" % (url, exc)) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                last = _network_reason(exc, self.timeout)
                continue
            except requests.exceptions.RequestException as exc:
                raise BadResponse("request to %s failed: %s" % (url, exc)) from None
            if response.status_code >= 500:
                last = "HTTP %d %s" % (response.status_code, response.reason)
                response.close()
                continue
            if response.status_code == 404:
                response.close()
                raise UnknownBuild("%s: 404 Not Found" % response.url)
            if not 200 <= response.status_code < 300:
                response.close()
                raise BadResponse("accessing %s resulted in an error: %d %s" % (response.url, response.status_code, response.reason))
            return response
        tries = "1 attempt" if not self.retries else "%d attempts" % (self.retries + 1)
        if last.startswith("HTTP "):
            raise BuildServerUnreachable(
                "builder-web answered %s to %s (%s); it may be restarting or upgrading, try again later" % (last[5:], url, tries)
            )
        raise BuildServerUnreachable("cannot reach builder-web at %s (%s): %s" % (url, tries, last))

    def _json(self, path: str, params: dict | None = None) -> tuple[t.Any, str]:
        response = self._request(path, params, stream=True)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > _MAX_JSON:
                    raise BadResponse("answer of %s is larger than %d bytes" % (response.url, _MAX_JSON))
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise BuildServerUnreachable("reading %s failed: %s" % (response.url, exc)) from None
        finally:
            response.close()
        try:
            return json.loads(b"".join(chunks)), response.url
        except ValueError:
            raise BadResponse("%s did not answer with JSON (content type %s)" % (response.url, response.headers.get("Content-Type"))) from None

    # --- builds ----------------------------------------------------------------------

    def _build_of_json(self, data: t.Any, url: str) -> Build:
        if not isinstance(data, dict):
            raise BadResponse("%s: expected a JSON object describing a build" % url)
        try:
            job = data["job"]
            build_uuid = check_uuid(data["uuid"])
            if not isinstance(job, str):
                raise TypeError("job")
        except (KeyError, TypeError, InvalidReference) as exc:
            raise BadResponse("%s: build without valid job/uuid (%s)" % (url, exc)) from None
        size = data.get("main_binary_size")
        return Build(
            job=job,
            uuid=build_uuid,
            platform=str(data.get("platform") or ""),
            start_time=str(data.get("start_time") or ""),
            finish_time=str(data.get("finish_time") or ""),
            main_binary=bool(data.get("main_binary")),
            main_binary_size=size if isinstance(size, int) else None,
            solo5_manifest=data.get("solo5_manifest") if isinstance(data.get("solo5_manifest"), dict) else None,
            solo5_abi=data.get("solo5_abi") if isinstance(data.get("solo5_abi"), dict) else None,
            url=self.url + "/job/%s/build/%s" % (quote(job, safe=""), build_uuid),
        )

    def _with_binary(self, build: Build, platform: str | None = None) -> Build:
        if not build.main_binary:
            return build
        info = self.main_binary_info(build.job, build.uuid, platform or build.platform or None)
        if info is None:
            return build
        return dataclasses.replace(build, main_binary_sha256=info["sha256"], main_binary_size=info.get("size", build.main_binary_size),
                                   main_binary_filename=info.get("filename"))

    def build(self, job: str, build_uuid: str) -> Build:
        path = "/job/%s/build/%s" % (quote(check_job(job), safe=""), check_uuid(build_uuid))
        data, url = self._json(path)
        return self._with_binary(self._build_of_json(data, url))

    def latest_build(self, job: str, platform: str | None = None) -> Build:
        params = {"platform": platform} if platform else None
        data, url = self._json("/job/%s/build/latest" % quote(check_job(job), safe=""), params)
        return self._with_binary(self._build_of_json(data, url), platform)

    def build_by_hash(self, sha256_hex: str) -> Build:
        data, url = self._json("/hash", {"sha256": check_sha256(sha256_hex)})
        return self._with_binary(self._build_of_json(data, url))

    def job_builds(self, job: str, platform: str | None = None) -> list[dict[str, t.Any]]:
        """One entry per distinct main binary, newest first: ``{uuid, main_binary: {filename, sha256, size} | None}``."""
        params = {"platform": platform} if platform else None
        data, url = self._json("/job/%s" % quote(check_job(job), safe=""), params)
        builds = data.get("builds") if isinstance(data, dict) else None
        if not isinstance(builds, list):
            raise BadResponse("%s: expected {\"builds\": [...]}" % url)
        result = []
        for entry in builds:
            if not isinstance(entry, dict) or not isinstance(entry.get("uuid"), str):
                raise BadResponse("%s: malformed build entry" % url)
            binary = entry.get("main_binary")
            if isinstance(binary, dict) and isinstance(binary.get("sha256"), str):
                binary = {"filename": binary.get("filename"), "sha256": binary["sha256"].lower(), "size": binary.get("size")}
            else:
                binary = None
            result.append({"uuid": entry["uuid"].lower(), "main_binary": binary})
        return result

    def main_binary_info(self, job: str, build_uuid: str, platform: str | None = None) -> dict[str, t.Any] | None:
        """``{sha256, size, filename}`` of a build's main binary without downloading it, or None."""
        build_uuid = check_uuid(build_uuid)
        for entry in self.job_builds(job, platform):
            if entry["uuid"] == build_uuid and entry["main_binary"]:
                return entry["main_binary"]
        # Not the newest build of its binary: the file's ETag carries the hash; read headers only.
        response = self._request(self._binary_path(job, build_uuid), stream=True, json_accept=False)
        try:
            sha = _etag_sha256(response.headers.get("ETag"))
            length = response.headers.get("Content-Length")
            name = response.url.rsplit("/", 1)[-1]
        finally:
            response.close()
        if sha is None:
            return None
        return {"sha256": sha, "size": int(length) if length and length.isdigit() else None, "filename": name}

    @staticmethod
    def _binary_path(job: str, build_uuid: str) -> str:
        return "/job/%s/build/%s/main-binary" % (quote(check_job(job), safe=""), check_uuid(build_uuid))

    # --- download --------------------------------------------------------------------

    def download_main_binary(self, job: str, build_uuid: str, dest: t.Any, expected_sha256: str | None = None,
                             expected_size: int | None = None, platform: str | None = None) -> Download:
        """Download the main binary of a build (``build_uuid`` may be ``"latest"``).

        ``dest`` is a file path (written atomically with mode 0600, only once the hash is
        verified) or a binary file object. The SHA-256 is checked against ``expected_sha256``,
        else against the ETag builder-web sends; the size against ``Content-Length``.
        """
        if build_uuid == "latest":
            build_uuid = self.latest_build(job, platform).uuid
        expected = check_sha256(expected_sha256) if expected_sha256 else None
        if isinstance(dest, (str, os.PathLike)):
            return self._download_to_path(job, build_uuid, os.fspath(dest), expected, expected_size)
        return self._download(job, build_uuid, dest, expected, expected_size)

    def _download_to_path(self, job: str, build_uuid: str, path: str, expected: str | None, expected_size: int | None) -> Download:
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                result = self._download(job, build_uuid, handle, expected, expected_size)
            os.replace(tmp, path)
            tmp = ""
            return result
        finally:
            if tmp:
                os.unlink(tmp)

    def _download(self, job: str, build_uuid: str, out: t.BinaryIO, expected: str | None, expected_size: int | None) -> Download:
        response = self._request(self._binary_path(job, build_uuid), stream=True, json_accept=False)
        digest = hashlib.sha256()
        size = 0
        try:
            announced = _etag_sha256(response.headers.get("ETag"))
            length = response.headers.get("Content-Length")
            encoded = response.headers.get("Content-Encoding", "identity") not in ("", "identity")
            for chunk in response.iter_content(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise BuildServerUnreachable("download of %s broke off after %d bytes: %s" % (response.url, size, exc)) from None
        finally:
            response.close()
        actual = digest.hexdigest()
        if length and length.isdigit() and not encoded and int(length) != size:
            raise ChecksumMismatch("%s: received %d bytes, announced %s" % (response.url, size, length))
        if expected_size is not None and size != expected_size:
            raise ChecksumMismatch("%s: received %d bytes, expected %d" % (response.url, size, expected_size))
        wanted = expected or announced
        if wanted is not None and actual != wanted:
            raise ChecksumMismatch("%s: SHA-256 is %s, expected %s" % (response.url, actual, wanted))
        if size == 0:
            raise BadResponse("%s: the main binary is empty" % response.url)
        return Download(job=job, uuid=check_uuid(build_uuid), sha256=actual, size=size, url=response.url)

    # --- compare ---------------------------------------------------------------------

    def compare(self, old_uuid: str, new_uuid: str) -> dict[str, t.Any]:
        """Summary of ``/compare/OLD/NEW``: both builds, and what was added, removed and changed."""
        data, url = self._json("/compare/%s/%s" % (check_uuid(old_uuid), check_uuid(new_uuid)))
        if not isinstance(data, dict) or not isinstance(data.get("left"), dict) or not isinstance(data.get("right"), dict):
            raise BadResponse("%s: expected {left, right, ...}" % url)
        left = self._build_of_json(data["left"], url)
        right = self._build_of_json(data["right"], url)
        opam = data.get("opam_diff") if isinstance(data.get("opam_diff"), dict) else {}
        size_change = None
        if left.main_binary_size is not None and right.main_binary_size is not None:
            size_change = right.main_binary_size - left.main_binary_size
        return {
            "left": left.to_dict(),
            "right": right.to_dict(),
            "same_job": left.job == right.job,
            "main_binary_size_change": size_change,
            "opam_packages": {
                "added": _packages(opam.get("only_in_right")),
                "removed": _packages(opam.get("only_in_left")),
                "changed": _changes(opam.get("version_diff")),
            },
            "opam_files_changed": [
                {"package_version": str(d.get("package_version")), "effectively_equal": bool(d.get("effectively_equal")), "diff": str(d.get("diff", ""))}
                for d in _dicts(opam.get("opam_diff"))
            ],
            "duniverse": opam.get("duniverse_diff"),
            "system_packages": _diff_map(data.get("package_diff")),
            "environment": _diff_map(data.get("env_diff")),
            "url": self.url + "/compare/%s/%s" % (left.uuid, right.uuid),
        }


def _dicts(value: t.Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _packages(value: t.Any) -> list[dict[str, str]]:
    return [{"name": str(p.get("name")), "version": str(p.get("version"))} for p in _dicts(value)]


def _changes(value: t.Any) -> list[dict[str, str]]:
    return [{"name": str(p.get("name")), "version_left": str(p.get("version_left")), "version_right": str(p.get("version_right"))}
            for p in _dicts(value)]


def _diff_map(value: t.Any) -> dict[str, list]:
    value = value if isinstance(value, dict) else {}
    return {
        "added": _packages(value.get("right_packages")),
        "removed": _packages(value.get("left_packages")),
        "changed": _changes(value.get("different_versions")),
    }
