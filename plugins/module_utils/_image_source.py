# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a unikernel image comes from: a local file, a URL or builder-web (PRIVATE to the collection).

``ImageSource.from_params(params)`` reads the options ``image``, ``image_url`` (+ ``image_sha256``)
and ``builder_web`` (``url``, ``job``, ``build``). ``digest()`` gives the SHA-256 (hex) of the
uncompressed image without downloading when it can be known (a given ``image_sha256``, or the
build metadata of builder-web), so an up-to-date unikernel costs no download. ``load()``
returns the image bytes and checks them against the expected digest.
"""

from __future__ import annotations

import hashlib
import io
import re
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError

_SHA256_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_UUID_RE = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_CHUNK = 1 << 16


class ImageSourceError(ValidationError):
    """The image could not be read, fetched or verified."""


def _field(obj: t.Any, *names: str) -> t.Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value:
            return value
    return None


def _sha256_option(value: str, option: str) -> str:
    text = str(value).strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    if not _SHA256_RE.match(text):
        raise ImageSourceError(f"{option} must be 64 hex digits (a SHA-256), got {value!r}")
    return text


class ImageSource:
    """One image source; see the file docstring."""

    def __init__(self, kind: str, params: t.Mapping[str, t.Any]) -> None:
        self.kind = kind
        self._params = params
        self._digest: str | None = None
        self._data: bytes | None = None
        self._build: t.Any = None
        self.details: dict[str, t.Any] = {"type": kind}

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> "ImageSource | None":
        if params.get("image"):
            return cls("file", params)
        if params.get("image_url"):
            source = cls("url", params)
            if params.get("image_sha256"):
                source._digest = _sha256_option(params["image_sha256"], "image_sha256")
            return source
        if params.get("builder_web"):
            return cls("builder_web", params)
        return None

    def describe(self) -> str:
        if self.kind == "file":
            return f"image {self._params['image']}"
        if self.kind == "url":
            return f"image_url {self._params['image_url']}"
        spec = self._params["builder_web"]
        return f"builder-web job {spec['job']} ({spec.get('build') or 'latest'}) at {spec['url']}"

    @property
    def loaded(self) -> bytes | None:
        """The image bytes if they were already read or downloaded."""
        return self._data

    # --- digest without download -----------------------------------------------------

    def digest(self) -> str:
        if self._digest is None and self.kind == "builder_web":
            self._resolve_build()
        if self._digest is None:
            self.load()
        if self._digest is None:
            raise AssertionError("digest unknown after loading the image")
        return self._digest

    # --- bytes -----------------------------------------------------------------------

    def load(self) -> bytes:
        if self._data is not None:
            return self._data
        if self.kind == "file":
            data = self._read_file(self._params["image"])
        elif self.kind == "url":
            data = self._fetch_url()
        else:
            data = self._fetch_builder_web()
        actual = hashlib.sha256(data).hexdigest()
        if self._digest is not None and actual != self._digest:
            raise ImageSourceError(f"{self.describe()} has SHA-256 {actual}, expected {self._digest}")
        self._digest = actual
        self._data = data
        self.details["sha256"] = actual
        return data

    @staticmethod
    def _read_file(path: str) -> bytes:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ImageSourceError(f"cannot read image {path}: {exc.strerror or exc}") from exc

    def _fetch_url(self) -> bytes:
        # Imported here so the library part stays usable without ansible's urls helper.
        from ansible.module_utils.urls import open_url

        url = self._params["image_url"]
        self.details["url"] = url
        try:
            response = open_url(url, timeout=self._params.get("timeout") or 30, validate_certs=True)
            buffer = io.BytesIO()
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                buffer.write(chunk)
        except Exception as exc:  # open_url raises urllib, socket and ssl errors alike
            raise ImageSourceError(f"cannot download image_url {url}: {exc}") from exc
        return buffer.getvalue()

    # --- builder-web -----------------------------------------------------------------

    def _builder(self):
        from ansible_collections.unikernels.albatross.plugins.module_utils._builder_web import BuilderWeb

        spec = self._params["builder_web"]
        return BuilderWeb(spec["url"], timeout=self._params.get("timeout") or 30, retries=spec.get("retries", 3))

    def _resolve_build(self) -> t.Any:
        if self._build is not None:
            return self._build
        spec = self._params["builder_web"]
        wanted = (spec.get("build") or "latest").strip()
        if wanted != "latest" and not _UUID_RE.match(wanted) and not _SHA256_RE.match(wanted):
            raise ImageSourceError(f"builder_web.build must be 'latest', a build uuid or a SHA-256, got {wanted!r}")
        try:
            web = self._builder()
            if wanted == "latest":
                build = web.latest_build(spec["job"])
            elif _UUID_RE.match(wanted):
                build = web.build(spec["job"], wanted.lower())
            else:
                build = web.build_by_hash(wanted.lower())
        except ImageSourceError:
            raise
        except Exception as exc:  # builder-web errors (HTTP, JSON, not found) all end the same way
            # Callers name the source already ("Error reading builder-web job ..."): the reason alone, unchained.
            raise ImageSourceError(str(exc)) from None
        sha = _field(build, "main_binary_sha256", "sha256")
        uuid = _field(build, "uuid")
        if not uuid or not (sha or _field(build, "main_binary")):
            raise ImageSourceError(f"{self.describe()}: the build has no main binary")
        self._build = build
        # Without the hash in the metadata the image has to be downloaded to learn it.
        self._digest = str(sha).lower() if sha else None
        self.details.update({"url": spec["url"], "job": _field(build, "job") or spec["job"], "uuid": uuid})
        if sha:
            self.details["sha256"] = self._digest
        return build

    def _fetch_builder_web(self) -> bytes:
        build = self._resolve_build()
        job = self.details["job"]
        buffer = io.BytesIO()
        try:
            self._builder().download_main_binary(job, _field(build, "uuid"), buffer, self._digest)
        except Exception as exc:  # see _resolve_build
            raise ImageSourceError(f"cannot download the image: {exc}") from None
        return buffer.getvalue()
