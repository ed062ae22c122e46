# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logic of the certificate module (PRIVATE to the collection).

Reads the existing key and certificate, decides what has to be (re)generated the way
community.crypto does (``regenerate``), and writes key and certificate atomically.
Validity times are never compared, except that an expired certificate is replaced.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.plugins.module_utils._common import ModuleLike, ModuleSpec
from ansible_collections.unikernels.albatross.plugins.module_utils._files import (
    LocalFileError,
    atomic_write_bytes,
    check_parent_dir,
    file_mode,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._certificate_profile import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    KEY_TYPES,
    describe,
    key_type_of,
    load_certificates,
    load_issuer,
    load_private_key,
    make_certificate,
    make_key,
    pem_of_certificates,
    pem_of_key,
    policy_dict,
    profile_problems,
    rfc3339,
    same_certificates,
)

KINDS = ("root_ca", "server", "delegation")
REGENERATE = ("never", "fail", "partial_idempotence", "always")
DEFAULT_DAYS = {"root_ca": 3650, "server": 365, "delegation": 365}
KEY_MODE = 0o600
CERT_MODE = 0o644

POLICY_OPTIONS = dict(
    unikernels=dict(type="int", required=True),
    memory=dict(type="int", required=True),
    block=dict(type="int"),
    cpuids=dict(type="list", elements="int", required=True),
    bridges=dict(type="list", elements="str", default=[]),
)

ARGUMENT_SPEC = dict(
    kind=dict(type="str", required=True, choices=list(KINDS)),
    path=dict(type="path", required=True),
    key_path=dict(type="path", required=True, no_log=False),
    common_name=dict(type="str"),
    policy=dict(type="dict", options=POLICY_OPTIONS),
    issuer_cert=dict(type="path"),
    issuer_key=dict(type="path", no_log=False),
    issuer_key_passphrase=dict(type="str", no_log=True),
    key_type=dict(type="str", choices=list(KEY_TYPES)),
    valid_days=dict(type="int"),
    regenerate=dict(type="str", default="partial_idempotence", choices=list(REGENERATE)),
)

REQUIRED_IF = (
    ("kind", "root_ca", ("common_name",)),
    ("kind", "server", ("issuer_cert", "issuer_key")),
    ("kind", "delegation", ("common_name", "policy", "issuer_cert", "issuer_key")),
)

MODULE_SPEC = ModuleSpec(ARGUMENT_SPEC, required_if=REQUIRED_IF, connection=False)


class CertificateModuleError(Exception):
    """Input or file problem; the message says what to fix."""


@dataclass
class Desired:
    kind: str
    common_name: Optional[str]
    policy: Optional[Policy]
    days: int
    key_type: Optional[str]
    issuer: Any = None  # profile.Issuer or None for root_ca


@dataclass
class Existing:
    key: Any = None
    key_exists: bool = False
    certs: list = field(default_factory=list)
    cert_exists: bool = False
    cert_unreadable: Optional[str] = None


def _policy_from_params(value: Optional[dict]) -> Optional[Policy]:
    if value is None:
        return None
    return Policy(
        unikernels=value["unikernels"],
        cpuids=tuple(value["cpuids"]),
        memory=value["memory"],
        block=value.get("block"),
        bridges=tuple(value.get("bridges") or ()),
    ).normalized()


def _desired(params: dict) -> Desired:
    kind = params["kind"]
    days = params.get("valid_days")
    if days is None:
        days = DEFAULT_DAYS[kind]
    if days < 1:
        raise CertificateModuleError("valid_days must be at least 1, got %d" % days)
    policy = _policy_from_params(params.get("policy"))
    if kind != "delegation" and policy is not None:
        raise CertificateModuleError("policy is only used with kind=delegation (a %s certificate carries no policy)" % kind)
    if kind == "root_ca" and (params.get("issuer_cert") or params.get("issuer_key")):
        raise CertificateModuleError("a root_ca is self-signed: remove issuer_cert and issuer_key")
    common_name = params.get("common_name")
    if kind == "delegation":
        common_name = _delegation_label(common_name)
        _check_policy_usable(policy)
    issuer = None
    if kind != "root_ca":
        issuer = load_issuer(params["issuer_cert"], params["issuer_key"], params.get("issuer_key_passphrase"), CertificateModuleError)
        if kind == "delegation" and issuer.policy is not None:
            _check_policy_smaller(issuer.policy, policy)
    return Desired(kind=kind, common_name=common_name, policy=policy, days=days, key_type=params.get("key_type"), issuer=issuer)


def _delegation_label(common_name: str) -> str:
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import validate_label

    try:
        return validate_label(common_name)
    except AlbatrossError as exc:
        raise CertificateModuleError(
            "common_name %r of a delegation becomes a path element and must be an albatross label: %s" % (common_name, exc)
        ) from exc


def _check_policy_usable(policy: Policy) -> None:
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import check_usable

    try:
        check_usable(policy)
    except AlbatrossError as exc:
        raise CertificateModuleError("policy is not usable: %s" % exc) from exc


def _check_policy_smaller(super_: Policy, sub: Policy) -> None:
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import check_is_smaller

    try:
        check_is_smaller(super_, sub)
    except AlbatrossError as exc:
        raise CertificateModuleError("policy exceeds the policy of issuer_cert: %s" % exc) from exc


def _read_existing(path: str, key_path: str) -> Existing:
    existing = Existing()
    try:
        with open(key_path, "rb") as handle:
            key_pem = handle.read()
        existing.key_exists = True
    except FileNotFoundError:
        key_pem = None
    except OSError as exc:
        raise CertificateModuleError("cannot read key_path %s: %s" % (key_path, exc.strerror or exc)) from exc
    if key_pem is not None:
        existing.key = load_private_key(key_pem)
        if existing.key is None:
            # Never overwrite a key that cannot be read: it may be someone's encrypted key.
            raise CertificateModuleError(
                "key_path %s exists but is not an unencrypted PEM private key; remove it or choose another key_path" % key_path
            )
    try:
        with open(path, "rb") as handle:
            cert_pem = handle.read()
        existing.cert_exists = True
    except FileNotFoundError:
        return existing
    except OSError as exc:
        raise CertificateModuleError("cannot read path %s: %s" % (path, exc.strerror or exc)) from exc
    existing.certs = load_certificates(cert_pem)
    if not existing.certs:
        existing.cert_unreadable = "%s holds no PEM certificate" % path
    return existing


def _plan_key(regenerate: str, desired: Desired, existing: Existing, key_path: str) -> tuple[bool, list[str]]:
    """Return (new key?, reasons)."""
    if not existing.key_exists:
        return True, ["key_path %s does not exist" % key_path]
    if regenerate == "never" or desired.key_type is None:
        return False, []
    have = key_type_of(existing.key)
    if have == desired.key_type:
        return False, []
    return True, ["the key is %s, key_type asks for %s" % (have, desired.key_type)]


def _cert_problems(desired: Desired, existing: Existing, now: datetime.datetime) -> list[str]:
    if existing.cert_unreadable:
        return [existing.cert_unreadable]
    return profile_problems(desired.kind, existing.certs[0], existing.key, desired.common_name, desired.policy, desired.issuer, now)


def _decide(params: dict, desired: Desired, existing: Existing, now: datetime.datetime) -> tuple[bool, bool, list[str]]:
    """Return (new key?, new certificate?, reasons) or raise for regenerate=fail/never conflicts."""
    regenerate = params["regenerate"]
    path, key_path = params["path"], params["key_path"]
    new_key, reasons = _plan_key(regenerate, desired, existing, key_path)
    if not existing.cert_exists:
        if regenerate == "fail" and new_key and existing.key_exists:
            raise CertificateModuleError("regenerate=fail and the existing key would be replaced: %s" % "; ".join(reasons))
        return new_key, True, reasons + ["path %s does not exist" % path]
    if regenerate == "never":
        if new_key:
            raise CertificateModuleError(
                "path %s exists but key_path %s does not; with regenerate=never the certificate is kept, and a new key "
                "could not match it. Restore the key or use regenerate=partial_idempotence" % (path, key_path)
            )
        return False, False, []
    if regenerate == "always":
        return new_key, True, reasons + ["regenerate=always"]
    if not new_key:
        reasons = _cert_problems(desired, existing, now)
    if not reasons:
        return False, False, []
    if regenerate == "fail":
        raise CertificateModuleError("regenerate=fail and %s would be regenerated: %s" % (path, "; ".join(reasons)))
    return new_key, True, reasons


def run(params: dict, check_mode: bool, now: Optional[datetime.datetime] = None) -> dict:
    """Run the module; returns the result dict (``changed``, ``diff`` …) or raises CertificateModuleError."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise CertificateModuleError("the Python library cryptography is required on the controller: %s" % CRYPTOGRAPHY_IMPORT_ERROR)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    path, key_path = params["path"], params["key_path"]
    if path == key_path:
        raise CertificateModuleError("path and key_path must be different files")
    try:
        check_parent_dir(path)
        check_parent_dir(key_path)
        desired = _desired(params)
        existing = _read_existing(path, key_path)
        new_key, new_cert, reasons = _decide(params, desired, existing, now)
        return _apply(params, desired, existing, new_key, new_cert, reasons, check_mode, now)
    except LocalFileError as exc:
        raise CertificateModuleError(str(exc)) from exc
    except OSError as exc:
        raise CertificateModuleError("%s: %s" % (exc.filename or path, exc.strerror or exc)) from exc
    except AlbatrossError as exc:
        raise CertificateModuleError("cannot make the %s certificate %s: %s" % (params["kind"], path, exc)) from exc


def _apply(params, desired: Desired, existing: Existing, new_key: bool, new_cert: bool, reasons, check_mode, now) -> dict:
    path, key_path = params["path"], params["key_path"]
    before = describe(existing.certs[0], existing.key) if existing.certs else {}
    key = existing.key
    cert = existing.certs[0] if (existing.certs and not new_cert) else None
    if not check_mode:
        if new_key:
            key = make_key(desired.key_type or "ed25519")
        if new_cert:
            cert = make_certificate(desired.kind, key, desired.common_name, desired.policy, desired.days, desired.issuer)
    chain = list(desired.issuer.chain) if desired.issuer is not None and not desired.issuer.self_signed else []
    # regenerate=never leaves an existing certificate file exactly as it is, chain included.
    keep_file = params["regenerate"] == "never" and existing.cert_exists
    file_stale = new_cert or (not keep_file and not same_certificates(existing.certs, [cert] + chain))
    key_mode_wrong = existing.key_exists and file_mode(key_path) != KEY_MODE
    changed = new_key or file_stale or key_mode_wrong
    if not check_mode:
        if new_key:
            atomic_write_bytes(key_path, pem_of_key(key), KEY_MODE)
        elif key_mode_wrong:
            os.chmod(key_path, KEY_MODE)
        if file_stale:
            atomic_write_bytes(path, pem_of_certificates([cert] + chain), CERT_MODE)
    if cert is not None:
        after = describe(cert, key)
    else:
        after = predicted(desired, key, now)
    result = dict(changed=changed, path=path, key_path=key_path, kind=desired.kind, regenerated=new_cert, key_generated=new_key)
    result.update(after)
    result["diff"] = dict(before=before, after=after if changed else before)
    if new_cert:
        result["reasons"] = reasons
    return result


def predicted(desired: Desired, key, now: datetime.datetime) -> dict:
    """What the certificate will look like (check mode: nothing is generated)."""
    if desired.kind == "root_ca":
        issuer = "CN=%s" % desired.common_name
    else:
        issuer = desired.issuer.subject
    policy = desired.policy
    return dict(
        common_name=desired.common_name or "server",
        issuer=issuer,
        serial=None,
        not_before=rfc3339(now - datetime.timedelta(seconds=10)),
        not_after=rfc3339(now + datetime.timedelta(days=desired.days)),
        policy=None if policy is None else policy_dict(policy),
        key_type=desired.key_type or (key_type_of(key) if key is not None else "ed25519"),
    )


def run_module(module: ModuleLike) -> None:
    """The certificate module against the ModuleLike interface."""
    try:
        result = run(module.params, module.check_mode)
    except CertificateModuleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
