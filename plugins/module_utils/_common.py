# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Glue between the albatross library and the modules (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.

Every API module is written once as ``run(module)`` against the small ``ModuleLike``
interface below, and runs in two bindings:

* as an action plugin in the controller process (``plugin_utils/_action.py``,
  ``AlbatrossActionBase``), which is how Ansible always runs these modules;
* as a plain module through ``run_as_module(spec, run)`` (``AnsibleModule``), which
  keeps ``plugins/modules/X.py`` a valid module for documentation and sanity tests.

API for module authors:

``ModuleSpec(argument_spec, mutually_exclusive=(), required_together=(), required_one_of=(),
required_if=(), required_by=None, connection=True, controller_files=())``
    The module's own options. ``connection=True`` merges ``CONNECTION_ARGSPEC``.
    ``controller_files`` names ``path`` options that the action plugin resolves like the
    ``src`` of ``ansible.builtin.copy`` (role/playbook ``files/`` first) when relative.

``ModuleLike`` (protocol): ``params``, ``check_mode``, ``diff_mode``, ``warn(msg)``,
``fail_json(msg, **kw)`` and ``exit_json(**kw)``; both end the run (they raise or exit).

``validate_args(spec, args, module_name) -> ValidatedArgs(params, no_log_values, error, warnings)``
    AnsibleModule-like validation (env fallbacks applied; the file/content pairs are
    mutually exclusive only when both are given explicitly).

``CapturingModule(params, check_mode, diff_mode)``: a ModuleLike whose ``exit_json`` and
``fail_json`` raise ``ModuleExit(result)``; ``.warnings`` collects warnings. Used by the action
plugins, by ``fleet`` for each item, and by unit tests.

``build_client(params) -> Client``
    Reads the credentials (files or ``*_content``) on the controller, checks them as
    albatross will (validity dates, key match, a CA able to sign) and returns a ``Client``.
    Raises ``OptionError`` (a ``ValidationError``) with one sentence naming the option, the
    value and the fix; ``format_error`` prints it as it is. Call it inside ``run_with_errors``.

``load_signer``, ``load_server_ca``, ``check_server``, ``check_timeout``, ``describe_error``
    The same checks and wording for the inventory and lookup plugins (``plugin_utils/_client.py``).

``run_with_errors(module, fn, what)``
    Calls ``fn()`` and maps every library error onto ``module.fail_json`` with a message
    naming the operation and the server: "Error creating unikernel web on 127.0.0.1:1025: …".

``format_error(what, exc, params)``: the same wording as a string (for collecting errors).

``client_for(module)``: ``build_client`` under ``run_with_errors``.

Return value helpers (snake_case dicts): ``unikernel_to_dict``, ``volume_to_dict``,
``policy_to_dict``, ``console_line_to_dict``, ``statistics_to_dict``, ``rfc3339``.
"""

from __future__ import annotations

import dataclasses
import datetime
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.validation import check_mutually_exclusive

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossConnectionError,
    AlbatrossError,
    AlbatrossTimeout,
    AuthenticationError,
    CertificateError,
    CommandFailed,
    OptionError,
    ProtocolError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    ConsoleLine,
    Policy,
    Statistics,
    UnikernelInfo,
    Volume,
)

KEY_TYPES = ("ed25519", "p256", "p384", "p521", "rsa2048", "rsa4096")
DEFAULT_PORT = 1025

CONNECTION_ARGSPEC: dict[str, dict[str, t.Any]] = {
    "server": {"type": "str", "fallback": (env_fallback, ["ALBATROSS_SERVER"])},
    "server_ca": {"type": "path", "fallback": (env_fallback, ["ALBATROSS_SERVER_CA"])},
    "server_ca_content": {"type": "str"},
    "server_name": {"type": "str", "fallback": (env_fallback, ["ALBATROSS_SERVER_NAME"])},
    "client_cert": {"type": "path", "fallback": (env_fallback, ["ALBATROSS_CLIENT_CERT"])},
    "client_cert_content": {"type": "str"},
    # A path is not a secret (it must show in error messages); the key content and passphrase are.
    "client_key": {"type": "path", "no_log": False, "fallback": (env_fallback, ["ALBATROSS_CLIENT_KEY"])},
    "client_key_content": {"type": "str", "no_log": True},
    "client_key_passphrase": {"type": "str", "no_log": True, "fallback": (env_fallback, ["ALBATROSS_CLIENT_KEY_PASSPHRASE"])},
    "key_type": {"type": "str", "choices": list(KEY_TYPES), "default": "ed25519", "no_log": False,
                 "fallback": (env_fallback, ["ALBATROSS_KEY_TYPE"])},
    "timeout": {"type": "float", "default": 30.0, "fallback": (env_fallback, ["ALBATROSS_TIMEOUT"])},
    "path": {"type": "str", "fallback": (env_fallback, ["ALBATROSS_PATH"])},
}

# Only explicit task arguments are checked against these: an env var (AWX credential)
# naming a file must not clash with *_content given in the task; the content wins.
CONNECTION_MUTUALLY_EXCLUSIVE: list[list[str]] = [
    ["server_ca", "server_ca_content"],
    ["client_cert", "client_cert_content"],
    ["client_key", "client_key_content"],
]


class ModuleLike(t.Protocol):
    params: dict[str, t.Any]
    check_mode: bool
    diff_mode: bool

    def warn(self, msg: str) -> None: ...

    def fail_json(self, msg: str, **kwargs: t.Any) -> t.NoReturn: ...

    def exit_json(self, **kwargs: t.Any) -> t.NoReturn: ...


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
    """Options of one module; see the file docstring."""

    argument_spec: dict[str, dict[str, t.Any]]
    mutually_exclusive: tuple = ()
    required_together: tuple = ()
    required_one_of: tuple = ()
    required_if: tuple = ()
    required_by: dict | None = None
    connection: bool = True
    controller_files: tuple[str, ...] = ()

    def full_argument_spec(self) -> dict[str, dict[str, t.Any]]:
        spec: dict[str, dict[str, t.Any]] = {}
        if self.connection:
            spec.update(CONNECTION_ARGSPEC)
        spec.update(self.argument_spec)
        return spec

    def explicit_mutually_exclusive(self) -> list[list[str]]:
        return list(CONNECTION_MUTUALLY_EXCLUSIVE) if self.connection else []

    def validator_kwargs(self) -> dict[str, t.Any]:
        kwargs = {
            "mutually_exclusive": [list(x) for x in self.mutually_exclusive] or None,
            "required_together": [list(x) for x in self.required_together] or None,
            "required_one_of": [list(x) for x in self.required_one_of] or None,
            "required_if": [list(x) for x in self.required_if] or None,
            "required_by": dict(self.required_by) if self.required_by else None,
        }
        # validate-modules rejects AnsibleModule(required_by=None): pass only what is set.
        return {key: value for key, value in kwargs.items() if value is not None}


class _AnsibleModuleAdapter:
    """ModuleLike over a real AnsibleModule (the plain-module binding)."""

    def __init__(self, module: AnsibleModule) -> None:
        self._module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.diff_mode = bool(getattr(module, "_diff", False))

    def warn(self, msg: str) -> None:
        self._module.warn(msg)

    def fail_json(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        self._module.fail_json(msg=msg, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def exit_json(self, **kwargs: t.Any) -> t.NoReturn:
        self._module.exit_json(**kwargs)
        raise AssertionError("unreachable")  # pragma: no cover


def run_as_module(spec: ModuleSpec, run: t.Callable[[ModuleLike], None]) -> None:
    """Entry point of plugins/modules/X.py: the same logic through AnsibleModule."""
    module = AnsibleModule(argument_spec=spec.full_argument_spec(), supports_check_mode=True, **spec.validator_kwargs())
    adapter = _AnsibleModuleAdapter(module)
    run(adapter)
    adapter.fail_json(msg="The module ended without a result.")


class ModuleExit(Exception):
    """Raised by ActionModuleAdapter.exit_json/fail_json to end the run with a result."""

    def __init__(self, result: dict[str, t.Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class CapturingModule:
    """ModuleLike whose exit_json/fail_json raise ModuleExit (action plugins, fleet items, tests)."""

    def __init__(self, params: dict[str, t.Any], check_mode: bool = False, diff_mode: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.warnings: list[str] = []

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def fail_json(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        result = dict(kwargs)
        result["msg"] = msg
        result["failed"] = True
        result.setdefault("changed", False)
        raise ModuleExit(result)

    def exit_json(self, **kwargs: t.Any) -> t.NoReturn:
        result = dict(kwargs)
        result.setdefault("changed", False)
        raise ModuleExit(result)


class ValidatedArgs(t.NamedTuple):
    params: dict[str, t.Any]
    no_log_values: set[str]
    error: str | None
    warnings: list[str]


def validate_args(spec: ModuleSpec, args: t.Mapping[str, t.Any], module_name: str = "module") -> ValidatedArgs:
    """Validate task arguments like AnsibleModule would (env fallbacks read here)."""
    args = {k: v for k, v in args.items() if not k.startswith("_ansible_")}
    errors: list[str] = []
    try:
        # Explicit arguments only: an env var naming a file may coexist with *_content.
        check_mutually_exclusive(spec.explicit_mutually_exclusive(), args)
    except TypeError as exc:
        errors.append(str(exc))
    validator = ArgumentSpecValidator(spec.full_argument_spec(), **spec.validator_kwargs())
    result = validator.validate(args)
    no_log_values = set(result._no_log_values)
    errors.extend(result.error_messages)
    error = None
    if errors:
        error = ", ".join(errors)
        if result.unsupported_parameters:
            error = f"Unsupported parameters for ({module_name}) module: {error}"
    warnings = [f"Both option {w['option']} and its alias {w['alias']} are set." for w in result._warnings]
    return ValidatedArgs(result.validated_parameters, no_log_values, error, warnings)


# --- client ---------------------------------------------------------------------------

def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    # An option name (client_cert, server_ca ...) keeps its spelling at the start of a sentence.
    first = text.split(" ", 1)[0]
    if "_" not in first and first not in CONNECTION_ARGSPEC:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def pem_source(params: t.Mapping[str, t.Any], option: str) -> str:
    """How the user gave a PEM option, for messages: ``client_cert /etc/ca.pem`` or ``client_cert_content``."""
    if params.get(option + "_content"):
        return option + "_content"
    return f"{option} {params.get(option)}"


def _read_file(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise OptionError(f"cannot read {option} {path!r}: {exc.strerror or exc}; set {option} to a readable PEM file") from None


def _pem_option(params: t.Mapping[str, t.Any], option: str, env: str, required: bool = True) -> bytes | None:
    content = params.get(option + "_content")
    if content:
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    path = params.get(option)
    if path:
        return _read_file(option, path)
    if required:
        raise OptionError(f"{option} is required (option {option} or {option}_content, or env {env})")
    return None


def server_address(params: t.Mapping[str, t.Any]) -> str:
    server = params.get("server")
    if not server:
        raise OptionError("server is required (option server as host[:port], or env ALBATROSS_SERVER)")
    return str(server)


def check_server(server: str) -> tuple[str, int]:
    """``host[:port]`` of the option ``server``; a bad value is an ``OptionError`` naming it."""
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.transport import parse_server

    try:
        return parse_server(server)
    except ValidationError as exc:
        text = str(exc)
        reason = "the port must be a number from 1 to 65535" if "port" in text else text.split(": ", 1)[1] if ": " in text else "malformed"
        raise OptionError(
            f"invalid albatross server address {server!r} ({reason}): set server to host[:port] or [IPv6]:port "
            f"(the port defaults to {DEFAULT_PORT})"
        ) from None


def check_timeout(value: t.Any) -> float:
    """The option ``timeout`` as seconds (> 0); a bad value is an ``OptionError`` naming it."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise OptionError(f"timeout must be a number of seconds greater than 0 (for example 30), got {value!r}")
    return seconds


def _holds(pem: bytes) -> str:
    if b"PRIVATE KEY-----" in pem:
        return "a private key"
    if b"-----BEGIN CERTIFICATE-----" in pem:
        return "a certificate"
    if b"-----BEGIN " in pem:
        return "PEM data of another kind"
    return "no PEM data"


def load_server_ca(pem: bytes, source: str) -> bytes:
    """``pem`` if it holds at least one certificate; else an ``OptionError`` naming ``source``."""
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.certs import load_certificates

    try:
        load_certificates(pem)
    except CertificateError:
        option = source.split(" ", 1)[0]
        raise OptionError(
            f"{source} holds {_holds(pem)}, not a PEM certificate: set {option.removesuffix('_content')} to the CA "
            "certificate that signed the albatross server's certificate"
        ) from None
    return pem


def load_signer(cert_pem: bytes, key_pem: bytes, passphrase: bytes | None, cert_source: str, key_source: str, now: t.Any = None):
    """The ``Signer`` of client_cert and client_key, checked the way albatross will check it.

    ``*_source`` say how the user gave each PEM (``pem_source``). Every problem is an
    ``OptionError`` naming the option, the file and the fix; key material never enters a message.
    """
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs

    try:
        chain = certs.load_certificates(cert_pem)
    except CertificateError:
        hint = "; give that file as client_key" if _holds(cert_pem) == "a private key" else ""
        raise OptionError(
            f"{cert_source} holds {_holds(cert_pem)}, not a PEM certificate: set client_cert to the CA or delegation "
            f"certificate that signs the commands{hint}"
        ) from None
    try:
        key = certs.load_private_key(key_pem, passphrase)
    except CertificateError as exc:
        held = _holds(key_pem)
        if held != "a private key":
            raise OptionError(f"{key_source} holds {held}, not a PEM private key: set client_key to the key of client_cert") from None
        if passphrase:
            raise OptionError(f"cannot decrypt {key_source}: check client_key_passphrase") from None
        if "passphrase is needed" in str(exc):
            raise OptionError(f"{key_source} is encrypted: set client_key_passphrase") from None
        raise OptionError(f"cannot read the private key in {key_source}: {exc}") from None
    problem = certs.signing_problem(chain, key, now)
    if problem is not None:
        raise OptionError(f"{cert_source} cannot sign albatross commands: {problem}")
    try:
        return certs.Signer.from_objects(chain[0], key, chain[1:])
    except CertificateError as exc:
        raise OptionError(f"{cert_source} cannot sign albatross commands: {exc}") from None


def build_client(params: t.Mapping[str, t.Any]):
    """A Client for the connection options in ``params`` (files read here, on the controller).

    Every problem with the options is an ``OptionError`` (nothing is sent): the server address
    and timeout first, then the PEM files, then whether client_cert can sign commands now.
    """
    # Imported late: the protocol library needs cryptography, which the import sanity
    # test does not install; the error then names the missing library at use time.
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client

    server = server_address(params)
    check_server(server)
    timeout = check_timeout(params.get("timeout") if params.get("timeout") is not None else 30.0)
    server_ca = _pem_option(params, "server_ca", "ALBATROSS_SERVER_CA")
    cert = _pem_option(params, "client_cert", "ALBATROSS_CLIENT_CERT")
    key = _pem_option(params, "client_key", "ALBATROSS_CLIENT_KEY")
    load_server_ca(server_ca, pem_source(params, "server_ca"))
    passphrase = params.get("client_key_passphrase")
    signer = load_signer(cert, key, passphrase.encode("utf-8") if passphrase else None,
                         pem_source(params, "client_cert"), pem_source(params, "client_key"))
    try:
        return Client(
            server,
            server_ca,
            signer,
            key_type=params.get("key_type") or "ed25519",
            timeout=timeout,
            server_name=params.get("server_name") or None,
            path=params.get("path") or None,
        )
    except ValidationError as exc:
        # Server, timeout and files are checked above; what is left is path (or key_type, which the argspec limits).
        option = "path" if params.get("path") else "key_type"
        raise OptionError(f"{option} {params.get(option)!r} cannot be used: {exc}") from None


def describe_error(exc: BaseException, timeout: t.Any = None) -> str:
    """What went wrong with a server, in one clause; the one wording for modules and plugins.

    The library's own messages are complete ("albatross at HOST:PORT did not ..."), so they
    are not prefixed again; bare texts (a test double, an older message) get a prefix.
    """
    text = str(exc)
    complete = "albatross at " in text or "albatross host " in text
    if isinstance(exc, CommandFailed):
        return f"the server answered: {exc.message}"
    if isinstance(exc, AlbatrossTimeout):
        if "timed out" in text or " in time" in text:
            return text
        detail = text or "no answer"
        return f"timed out after {timeout} s ({detail})" if timeout else f"timed out ({detail})"
    if isinstance(exc, AlbatrossConnectionError):
        return text if complete or text.startswith("cannot connect") else f"cannot connect: {text}"
    if isinstance(exc, AuthenticationError):
        return text if complete or "authenticat" in text.lower() else f"authentication failed: {text}"
    if isinstance(exc, ProtocolError):
        return f"unexpected reply: {text}"
    if isinstance(exc, (AlbatrossError, OSError)):
        return text or "error without a message"
    return text


def _describe(exc: AlbatrossError, timeout: t.Any) -> str:
    return describe_error(exc, timeout)


def format_error(what: str, exc: BaseException, params: t.Mapping[str, t.Any]) -> str:
    """The one wording of errors: "Error <what> on <server>: <what went wrong>"."""
    if isinstance(exc, OptionError):
        # A complete sentence about a connection option; which operation it stopped adds nothing.
        return _sentence(str(exc))
    if isinstance(exc, (ValidationError, CertificateError)):
        # Nothing was sent: the message is about the input, not the server.
        return f"Error {what}: {exc}"
    if isinstance(exc, AlbatrossError):
        server = params.get("server") or "the server"
        return f"Error {what} on {server}: {_describe(exc, params.get('timeout'))}"
    if isinstance(exc, ImportError):
        return f"Error {what}: a Python library is missing on the controller: {exc}"
    return f"Error {what}: {exc}"


def run_with_errors(module: ModuleLike, fn: t.Callable[[], t.Any], what: str) -> t.Any:
    """``fn()``; library errors become ``fail_json`` naming ``what`` and the server."""
    try:
        return fn()
    except (AlbatrossError, ImportError) as exc:
        kwargs: dict[str, t.Any] = {}
        if isinstance(exc, CommandFailed):
            kwargs["server_message"] = exc.message
        if isinstance(exc, (ProtocolError, ImportError)):
            kwargs["exception"] = traceback.format_exc()
        module.fail_json(msg=format_error(what, exc, module.params), **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def client_for(module: ModuleLike):
    return run_with_errors(module, lambda: build_client(module.params), "loading the albatross credentials")


# --- return values -------------------------------------------------------------------

def rfc3339(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    text = value.astimezone(datetime.timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def unikernel_to_dict(info: UnikernelInfo) -> dict[str, t.Any]:
    fail = info.fail_behaviour
    return {
        "name": info.name,
        "typ": info.typ,
        "memory": info.memory,
        "cpuids": list(info.cpuids),
        "cpus": info.cpus if info.cpus is not None else 1,
        "digest": info.digest.hex(),
        "arguments": list(info.argv or ()),
        "block_devices": [
            {"name": b.name, "host_device": b.host_device, "sector_size": b.sector_size, "size": b.size}
            for b in info.block_devices
        ],
        "network_interfaces": [{"name": n.name, "bridge": n.bridge, "mac": n.mac} for n in info.network_interfaces],
        "fail_behaviour": "restart" if fail.restart else "quit",
        "restart_exit_codes": sorted(fail.exit_codes) if fail.restart else [],
        "startup": info.startup,
        "started": rfc3339(info.started),
        "linux_boot_partition": info.linux_boot_partition,
    }


def volume_to_dict(volume: Volume) -> dict[str, t.Any]:
    return {"name": volume.name, "size": volume.size, "active": volume.active}


def policy_to_dict(path: str, policy: Policy) -> dict[str, t.Any]:
    policy = policy.normalized()
    return {
        "path": path,
        "unikernels": policy.unikernels,
        "memory": policy.memory,
        "block": policy.block,
        "cpuids": list(policy.cpuids),
        "bridges": list(policy.bridges),
    }


def console_line_to_dict(line: ConsoleLine) -> dict[str, t.Any]:
    return {"timestamp": rfc3339(line.timestamp), "line": line.text}


def _plain(value: t.Any) -> t.Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if {f.name for f in dataclasses.fields(value)} == {"seconds", "microseconds"}:
            return value.seconds + value.microseconds / 1_000_000
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.datetime):
        return rfc3339(value)
    return value


def statistics_to_dict(stats: Statistics) -> dict[str, t.Any]:
    """Statistics as plain data; Timeval becomes seconds (float), vmm pairs a dict."""
    result = _plain(stats)
    result["vmm"] = dict(stats.vmm) if stats.vmm is not None else None
    return result


def dataclass_to_dict(value: t.Any) -> t.Any:
    """Any model value as plain JSON-able data (bytes as hex, datetimes RFC 3339)."""
    return _plain(value)
