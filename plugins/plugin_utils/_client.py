# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plugin binding of the albatross client (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.

Inventory and lookup plugins take the connection options of the ``PLUGINS`` variant of
the ``unikernels.albatross.connection`` doc fragment, either once at the top level
(with ``ALBATROSS_*`` environment variables) or per server in a list. This module
turns them into ``ServerSettings`` (validated, one per server, top-level values as
defaults) and opens a ``Client`` for one of them. Every problem is an ``AnsibleError``
whose message names the server and the option to fix. Key material never leaves
``ServerSettings`` except into ``Signer.load``; ``public_vars`` is what may be shown.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass

from ansible.errors import AnsibleError

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossError,
    AlbatrossTimeout,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.transport import parse_server
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    OptionError,
    check_server,
    check_timeout,
    describe_error as common_describe_error,
    load_server_ca,
    load_signer as common_load_signer,
)

KEY_TYPES = ("ed25519", "p256", "p384", "p521", "rsa2048", "rsa4096")
DEFAULT_KEY_TYPE = "ed25519"
DEFAULT_TIMEOUT = 30.0

# The connection options of the doc fragment, in documentation order.
CONNECTION_OPTIONS = (
    "server", "server_ca", "server_ca_content", "server_name", "client_cert", "client_cert_content",
    "client_key", "client_key_content", "client_key_passphrase", "key_type", "timeout", "path",
)
# Keys of one entry of the inventory's ``servers`` list.
SERVER_KEYS = ("name",) + CONNECTION_OPTIONS
PATH_OPTIONS = ("server_ca", "client_cert", "client_key")
# Connection settings a task may see (host variables): never key material or passphrases.
# ``path`` is left out on purpose: hosts carry the path of each unikernel instead.
PUBLIC_OPTIONS = ("server", "server_ca", "server_ca_content", "server_name", "client_cert", "client_key", "key_type", "timeout")
ENV_VARS = {
    "server": "ALBATROSS_SERVER", "server_ca": "ALBATROSS_SERVER_CA", "client_cert": "ALBATROSS_CLIENT_CERT",
    "client_key": "ALBATROSS_CLIENT_KEY",
}


def address_host(address: str) -> str:
    """The host part of ``host[:port]``, ``[v6]:port`` or a bare IPv6 address (the client's own parser)."""
    try:
        return parse_server(address)[0]
    except ValidationError as exc:
        raise AnsibleError(f"invalid albatross server address {address!r}: {exc}") from None


@dataclass(frozen=True)
class ServerSettings:
    """Connection settings of one albatross server, validated; files are not read yet."""

    name: str
    server: str
    server_ca: str | None = None
    server_ca_content: str | None = None
    server_name: str | None = None
    client_cert: str | None = None
    client_cert_content: str | None = None
    client_key: str | None = None
    client_key_content: str | None = None
    client_key_passphrase: str | None = None
    key_type: str = DEFAULT_KEY_TYPE
    timeout: float = DEFAULT_TIMEOUT
    path: str | None = None

    def __repr__(self) -> str:
        # dataclass' repr would print key material in tracebacks and -vvv output.
        return f"ServerSettings(name={self.name!r}, server={self.server!r})"

    @property
    def host(self) -> str:
        return address_host(self.server)

    def public_vars(self) -> dict[str, t.Any]:
        """``albatross_<option>`` for every connection setting a task may see, unset ones left out."""
        values = {option: getattr(self, option) for option in PUBLIC_OPTIONS}
        return {f"albatross_{option}": value for option, value in values.items() if value is not None}

    def source(self, option: str) -> str:
        """How ``option`` was given, for messages: ``client_cert /etc/ca.pem`` or ``client_cert_content``."""
        if getattr(self, option + "_content"):
            return option + "_content"
        return f"{option} {getattr(self, option)}"

    def pem(self, option: str) -> bytes:
        """The PEM of ``server_ca``, ``client_cert`` or ``client_key``: the content, or the file read on the controller."""
        content = getattr(self, option + "_content")
        if content:
            return content.encode("utf-8")
        path = getattr(self, option)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise AnsibleError(f"albatross server {self.name}: cannot read {option} {path!r}: {exc.strerror or exc}; "
                               f"set {option} to a readable PEM file") from None


def _given(value: t.Any) -> bool:
    return value is not None and value != ""


def _as_path(value: str) -> str:
    # The same resolution as options of type path: ~ expanded, relative to the working directory.
    return os.path.abspath(os.path.expanduser(value))


def _merge(where: str, entry: t.Mapping[str, t.Any], defaults: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Entry values over defaults. A PEM given either way in the entry hides both defaults of that PEM."""
    merged = {option: defaults.get(option) for option in CONNECTION_OPTIONS}
    for option in PATH_OPTIONS:
        in_entry = [key for key in (option, option + "_content") if _given(entry.get(key))]
        if len(in_entry) == 2:
            raise AnsibleError(f"{where}: {option} and {option}_content are mutually exclusive")
        if in_entry:
            merged[option] = merged[option + "_content"] = None
        elif _given(merged[option]) and _given(merged[option + "_content"]):
            # A file from the environment (an AWX credential) and content in the file: content wins.
            merged[option] = None
    for key, value in entry.items():
        if _given(value):
            merged[key] = value
    return merged


def _text(where: str, option: str, value: t.Any) -> str | None:
    if not _given(value):
        return None
    if not isinstance(value, str):
        raise AnsibleError(f"{where}: {option} must be a string, got {type(value).__name__}")
    # A plain str: no template trust or origin tags from the inventory file travel any further.
    return str(value)


def _settings(where: str, name: t.Any, values: t.Mapping[str, t.Any]) -> ServerSettings:
    server = _text(where, "server", values.get("server"))
    if server is None:
        raise AnsibleError(f"{where}: no server address; set server (host[:port]) or the environment variable ALBATROSS_SERVER")
    texts = {option: _text(where, option, values.get(option)) for option in CONNECTION_OPTIONS if option not in ("key_type", "timeout")}
    for option in PATH_OPTIONS:
        if texts[option] is None and texts[option + "_content"] is None:
            raise AnsibleError(f"{where}: {option} or {option}_content is required (or the environment variable {ENV_VARS[option]})")
        if texts[option] is not None:
            texts[option] = _as_path(texts[option])
    key_type = _text(where, "key_type", values.get("key_type")) or DEFAULT_KEY_TYPE
    if key_type not in KEY_TYPES:
        raise AnsibleError(f"{where}: key_type must be one of {', '.join(KEY_TYPES)}, got {key_type!r}")
    timeout = values.get("timeout")
    try:
        check_server(server)
        timeout = DEFAULT_TIMEOUT if not _given(timeout) else check_timeout(timeout)
    except OptionError as exc:
        raise AnsibleError(f"{where}: {exc}") from None
    name = _text(where, "name", name) or address_host(server)
    texts.pop("server")
    return ServerSettings(name=name, server=server, key_type=key_type, timeout=timeout, **texts)


def resolve_servers(
    entries: t.Sequence[t.Any] | None,
    defaults: t.Mapping[str, t.Any],
    template: t.Callable[[t.Any], t.Any] = lambda value: value,
) -> list[ServerSettings]:
    """One ``ServerSettings`` per entry of ``servers``, or one from ``defaults`` alone if there are none.

    ``defaults`` are the top-level connection options (already templated). ``template``
    is applied to every value of an entry, so entries can use vault and lookups.
    Server names must be unique: they become inventory host names.
    """
    if not entries:
        return [_settings("albatross server", defaults.get("name"), _merge("albatross server", {}, defaults))]
    result: list[ServerSettings] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"servers[{index}]"
        if not isinstance(entry, t.Mapping):
            raise AnsibleError(f"{where}: expected a dictionary with server, server_ca, client_cert, client_key ..., got {type(entry).__name__}")
        unknown = sorted(str(key) for key in entry if key not in SERVER_KEYS)
        if unknown:
            raise AnsibleError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(SERVER_KEYS)}")
        values = {key: template(value) for key, value in entry.items()}
        settings = _settings(where, values.get("name"), _merge(where, values, defaults))
        if settings.name in seen:
            raise AnsibleError(
                f"{where}: the server name {settings.name!r} is already used by servers[{seen[settings.name]}];"
                " give each server a unique name (it becomes the inventory host name)"
            )
        seen[settings.name] = index
        result.append(settings)
    return result


def load_signer(settings: ServerSettings, memo: dict[tuple, t.Any] | None = None) -> t.Any:
    """The ``Signer`` of ``settings`` (``memo`` shares it between servers with the same credentials)."""
    cert, key = settings.pem("client_cert"), settings.pem("client_key")
    passphrase = settings.client_key_passphrase.encode("utf-8") if settings.client_key_passphrase else None
    memo_key = (cert, key, passphrase)
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    try:
        signer = common_load_signer(cert, key, passphrase, settings.source("client_cert"), settings.source("client_key"))
    except ImportError as exc:
        raise AnsibleError(f"the albatross plugins need the Python library cryptography on the controller: {exc}") from None
    except OptionError as exc:
        # The same sentence as the modules, naming the server as well.
        raise AnsibleError(f"albatross server {settings.name}: cannot use client_cert/client_key: {exc}") from None
    except (AlbatrossError, ValueError, TypeError) as exc:
        raise AnsibleError(f"albatross server {settings.name}: cannot use client_cert/client_key: {exc}") from None
    if memo is not None:
        memo[memo_key] = signer
    return signer


def open_client(settings: ServerSettings, signer: t.Any = None, server_ca: bytes | None = None) -> t.Any:
    """A ``Client`` for ``settings``; no connection is made until the first command.

    ``signer`` and ``server_ca`` can be loaded beforehand (``load_signer``, ``settings.pem``),
    so that unreadable files are found before any server is asked.
    """
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client

    if signer is None:
        signer = load_signer(settings)
    if server_ca is None:
        server_ca = settings.pem("server_ca")
    try:
        load_server_ca(server_ca, settings.source("server_ca"))
    except OptionError as exc:
        raise AnsibleError(f"albatross server {settings.name}: {exc}") from None
    return Client(
        settings.server,
        server_ca,
        signer,
        key_type=settings.key_type,
        timeout=settings.timeout,
        server_name=settings.server_name,
        path=settings.path,
    )


def describe_error(exc: BaseException, timeout: float | None = None) -> str:
    """One line saying why a server did not answer (the library's messages already name the server)."""
    if isinstance(exc, AlbatrossTimeout) and not str(exc):
        return f"no answer within {timeout:g} s" if timeout else "timed out"
    if isinstance(exc, (AlbatrossError, OSError)):
        # The same wording as the modules (module_utils/_common.py).
        return common_describe_error(exc, timeout)
    return f"{type(exc).__name__}: {exc}"
