# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options and logic of the liveliness_check module (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.

``http``, ``dns`` and ``tcp`` each take one check (a dict) or several (a list of dicts). The
argument spec cannot say "dict or list of dicts", so they are ``raw`` and every check is
validated here against its own spec, with messages that name the check (``http[1]: …``).
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.unikernels.albatross.plugins.module_utils._common import ModuleLike, ModuleSpec
from ansible_collections.unikernels.albatross.plugins.module_utils._liveliness import (
    DnsCheck,
    HttpCheck,
    LivelinessError,
    TcpCheck,
    run_checks,
)

HTTP_SPEC: dict[str, dict[str, t.Any]] = {
    "url": {"type": "str", "required": True},
    "method": {"type": "str", "default": "GET"},
    "status_code": {"type": "list", "elements": "int", "default": [200]},
    "body_regex": {"type": "str"},
    "ca_path": {"type": "path"},
    "headers": {"type": "dict", "default": {}},
    "follow_redirects": {"type": "bool", "default": True},
    "timeout": {"type": "float", "default": 5.0},
}

DNS_SPEC: dict[str, dict[str, t.Any]] = {
    "server": {"type": "str", "required": True},
    "port": {"type": "int", "default": 53},
    "name": {"type": "str", "required": True},
    "type": {"type": "str", "default": "A"},
    "expected": {"type": "list", "elements": "str"},
    "tcp": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": 5.0},
}

TCP_SPEC: dict[str, dict[str, t.Any]] = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "timeout": {"type": "float", "default": 5.0},
}

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "http": {"type": "raw"},
    "dns": {"type": "raw"},
    "tcp": {"type": "raw"},
    "retries": {"type": "int", "default": 10},
    "delay": {"type": "float", "default": 2.0},
    "timeout": {"type": "float", "default": 60.0},
}

MODULE_SPEC = ModuleSpec(ARGUMENT_SPEC, required_one_of=(("http", "dns", "tcp"),), connection=False)

_KINDS: tuple[tuple[str, dict[str, dict[str, t.Any]], t.Callable[[dict[str, t.Any]], t.Any]], ...] = (
    ("http", HTTP_SPEC, lambda p: HttpCheck(
        url=p["url"], method=p["method"].upper(), status_code=tuple(p["status_code"]), body_regex=p["body_regex"],
        ca_path=p["ca_path"], headers=tuple((str(k), str(v)) for k, v in p["headers"].items()),
        follow_redirects=p["follow_redirects"], timeout=p["timeout"])),
    ("dns", DNS_SPEC, lambda p: DnsCheck(
        server=p["server"], name=p["name"], port=p["port"], type=p["type"].upper(),
        expected=None if p["expected"] is None else tuple(p["expected"]), tcp=p["tcp"], timeout=p["timeout"])),
    ("tcp", TCP_SPEC, lambda p: TcpCheck(host=p["host"], port=p["port"], timeout=p["timeout"])),
)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched by an HTTP check (said before any attempt), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here, not later in the HTTP library
    except ValueError:
        return "is not a valid URL; write it like http://10.0.0.2:8080/health"
    if "://" not in url:
        return "has no scheme; write it with http:// or https://, like http://%s" % url
    if parts.scheme.lower() not in ("http", "https"):
        return "has the scheme %s; HTTP checks take http:// or https:// URLs" % parts.scheme
    if not parts.hostname:
        return "has no host; write it like http://10.0.0.2:8080/health"
    return None


def parse_checks(params: t.Mapping[str, t.Any]) -> tuple[list[t.Any], list[str]]:
    """The checks of the module parameters, and the problems found in them."""
    checks: list[t.Any] = []
    errors: list[str] = []
    for kind, spec, build in _KINDS:
        value = params.get(kind)
        if value is None:
            continue
        many = isinstance(value, list)
        items = value if many else [value]
        if not items:
            errors.append("%s: give at least one check" % kind)
        for index, item in enumerate(items):
            where = "%s[%d]" % (kind, index) if many else kind
            if not isinstance(item, dict):
                errors.append("%s: expected a dict, got %s" % (where, type(item).__name__))
                continue
            result = ArgumentSpecValidator(spec).validate(item)
            if result.error_messages:
                errors.extend("%s: %s" % (where, msg) for msg in result.error_messages)
                continue
            values = result.validated_parameters
            if values["timeout"] <= 0:
                errors.append("%s: timeout must be positive" % where)
                continue
            if kind == "http":
                problem = url_problem(values["url"])
                if problem is not None:
                    errors.append("%s: url %r %s" % (where, values["url"], problem))
                    continue
            if kind in ("dns", "tcp") and not 0 < values["port"] < 65536:
                errors.append("%s: port must be between 1 and 65535" % where)
                continue
            checks.append(build(values))
    if params.get("retries", 0) < 0:
        errors.append("retries must not be negative")
    if params.get("delay", 0) < 0:
        errors.append("delay must not be negative")
    if params.get("timeout", 1) <= 0:
        errors.append("timeout must be positive")
    return checks, errors


def run_module(module: ModuleLike) -> None:
    """Run the checks; read-only, so check mode runs them too."""
    params = module.params
    checks, errors = parse_checks(params)
    if errors:
        module.fail_json(msg="Invalid liveliness checks: " + "; ".join(errors))
    try:
        result = run_checks(checks, retries=params["retries"], delay=params["delay"], timeout=params["timeout"])
    except LivelinessError as exc:
        module.fail_json(msg="Cannot run the liveliness checks: %s" % exc)
    values = result.to_dict()
    if not result.ok:
        module.fail_json(
            msg="Liveliness checks failed after %d round(s) in %.1f s: %s" % (result.rounds, result.elapsed, "; ".join(result.failed_checks)),
            **values
        )
    module.exit_json(changed=False, **values)
