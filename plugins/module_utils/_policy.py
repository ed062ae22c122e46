# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logic of the policy and policy_info modules (PRIVATE to the collection).

``path`` is relative to the path of client_cert (empty for a root CA), exactly like the
connection option of the same name; returned paths are full albatross paths. Albatross
installs a policy only from a CA certificate in the client chain, so ``install_policy``
makes a short-lived delegation for it. Removing a policy is not possible over TLS.
"""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import env_fallback

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import parse_name, parse_path, path_to_string
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import (
    check_is_smaller,
    check_usable,
    children_exceed,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    build_client,
    policy_to_dict,
    run_with_errors,
)

_PATH = dict(type="str", fallback=(env_fallback, ["ALBATROSS_PATH"]))

POLICY_SPEC = ModuleSpec(
    argument_spec=dict(
        path=dict(_PATH, required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        unikernels=dict(type="int"),
        memory=dict(type="int"),
        block=dict(type="int"),
        cpuids=dict(type="list", elements="int"),
        bridges=dict(type="list", elements="str"),
    ),
)

POLICY_INFO_SPEC = ModuleSpec(argument_spec=dict(path=dict(_PATH)))

_FIELDS = ("unikernels", "memory", "block", "cpuids", "bridges")


def show_path(path: tuple[str, ...]) -> str:
    """``alice:web``, or ``:`` for the root."""
    return path_to_string(path) or ":"


def policy_client(module: ModuleLike):
    """A client at client_cert's own path: ``path`` is the policy path here, not a tenant."""
    params = dict(module.params)
    params["path"] = None
    return run_with_errors(module, lambda: build_client(params), "loading the albatross credentials")


def _relative(module: ModuleLike) -> tuple[str, ...]:
    return run_with_errors(module, lambda: parse_path(module.params.get("path") or ""), "checking the policy path")


def read_policies(module: ModuleLike, client, relative: tuple[str, ...]) -> dict[tuple[str, ...], Policy]:
    """Full path -> policy, at and below ``relative``."""
    found = run_with_errors(module, lambda: client.policy_info(path_to_string(relative) or None), "reading policies")
    return {parse_name(name)[0]: policy.normalized() for name, policy in found}


def run_policy_info(module: ModuleLike, client) -> None:
    held = read_policies(module, client, _relative(module))
    policies = [policy_to_dict(show_path(path), held[path]) for path in sorted(held)]
    module.exit_json(changed=False, policies=policies)


def _desired(module: ModuleLike, current: Policy | None, shown: str) -> Policy:
    given = {key: module.params.get(key) for key in _FIELDS}
    if current is None:
        missing = [key for key in ("unikernels", "memory", "cpuids") if given[key] is None]
        if missing:
            verb = "are" if len(missing) > 1 else "is"
            module.fail_json(msg="path %s has no policy yet: %s %s needed to create one" % (shown, " and ".join(missing), verb))
        base = Policy(unikernels=0, cpuids=(), memory=0, block=None, bridges=())
    else:
        base = current
    return Policy(
        unikernels=given["unikernels"] if given["unikernels"] is not None else base.unikernels,
        cpuids=tuple(given["cpuids"]) if given["cpuids"] is not None else base.cpuids,
        memory=given["memory"] if given["memory"] is not None else base.memory,
        block=given["block"] if given["block"] is not None else base.block,
        bridges=tuple(given["bridges"]) if given["bridges"] is not None else base.bridges,
    ).normalized()


def _check_host(desired: Policy, host: Policy, shown: str) -> None:
    """Bridges and CPUs albatrossd does not have (vmmd skips the root policy, so it would accept them)."""
    bridges = sorted(set(desired.bridges) - set(host.bridges))
    if bridges:
        raise ValidationError("the policy for %s names bridge(s) %s, which the albatross host does not have (its bridges: %s); "
                              "create the bridge on the host and restart albatrossd, or leave it out"
                              % (shown, ", ".join(bridges), ", ".join(sorted(host.bridges)) or "none"))
    cpuids = sorted(set(desired.cpuids) - set(host.cpuids))
    if cpuids:
        raise ValidationError("the policy for %s names CPU id(s) %s, which the albatross host does not have (its CPU ids: %s)"
                              % (shown, ", ".join(str(c) for c in cpuids), ", ".join(str(c) for c in sorted(host.cpuids))))


def _check(module: ModuleLike, desired: Policy, parent: Policy | None, parent_shown: str, children: dict, shown: str,
           host: Policy | None = None) -> None:
    def check() -> None:
        try:
            check_usable(desired)
        except ValidationError as exc:
            raise ValidationError("the policy for %s is not usable: %s" % (shown, exc)) from None
        if host is not None:
            _check_host(desired, host, shown)
        if parent is not None:
            try:
                check_is_smaller(parent, desired)
            except ValidationError as exc:
                raise ValidationError("the policy for %s does not fit into the policy of %s: %s" % (shown, parent_shown, exc)) from None
        for child_path, child in sorted(children.items()):
            try:
                check_is_smaller(desired, child)
            except ValidationError as exc:
                raise ValidationError("the policy for %s would be smaller than the policy of its sub-path %s (%s); "
                                      "shrink that one first" % (shown, show_path(child_path), exc)) from None
    run_with_errors(module, check, "checking the policy for %s" % shown)


def run_policy(module: ModuleLike, client) -> None:
    relative = _relative(module)
    if not relative:
        module.fail_json(msg="path must name a path below the path of client_cert (%s); the policy of client_cert's own path "
                         "comes from its certificate" % show_path(tuple(client.path)))
    base = tuple(client.path)
    target = base + relative
    shown = show_path(target)
    held = read_policies(module, client, relative[:-1])
    current = held.get(target)
    if module.params["state"] == "absent":
        if current is None:
            module.exit_json(changed=False, policy=None, diff=dict(before={}, after={}))
        module.fail_json(msg="albatross cannot remove the policy of %s over TLS (policy remove is accepted only on the "
                         "local socket of albatrossd); on the albatross host run: albatross-client remove-policy --path=%s"
                         % (shown, path_to_string(target)))
    if len(relative) == 1:
        parent, parent_shown = client.signer.policy, "client_cert"
    else:
        parent, parent_shown = held.get(target[:-1]), show_path(target[:-1])
        if parent is None:
            module.fail_json(msg="path %s has no policy: install the policy of %s first" % (parent_shown, parent_shown))
    children = {path: pol for path, pol in held.items() if len(path) == len(target) + 1 and path[:len(target)] == target}
    desired = _desired(module, current, shown)
    # The root policy (albatrossd's view of the host) is listed only to a root CA; vmmd never checks against it.
    host = held.get(()) if not base and len(relative) == 1 else None
    _check(module, desired, parent, parent_shown, children, shown, host)
    for message in children_exceed(desired, list(children.values())):
        module.warn("policy of %s: %s" % (shown, message))
    _warn_siblings(module, held, target, desired, parent if parent is not None else held.get(base), shown)
    before = policy_to_dict(shown, current) if current is not None else {}
    changed = current != desired
    after_policy = desired
    if changed and not module.check_mode:
        installed = run_with_errors(module, lambda: client.install_policy(path_to_string(relative), desired),
                                    "installing the policy for %s" % shown)
        after_policy = _installed(installed, target) or desired
    after = policy_to_dict(shown, after_policy)
    module.exit_json(changed=changed, policy=after, diff=dict(before=before, after=after))


def _warn_siblings(module: ModuleLike, held: dict, target: tuple[str, ...], desired: Policy, parent: Policy | None, shown: str) -> None:
    """Warn when the new policy makes the sub-paths of its parent together promise more than the parent has."""
    if parent is None:
        return
    siblings = [pol for path, pol in held.items() if len(path) == len(target) and path[:-1] == target[:-1] and path != target]
    if not siblings:
        return
    parent_shown = show_path(target[:-1])
    for message in children_exceed(parent, siblings + [desired]):
        module.warn("policy of %s (with the policy for %s): %s" % (parent_shown, shown, message))


def _installed(installed: t.Iterable[tuple[str, Policy]], target: tuple[str, ...]) -> Policy | None:
    for name, policy in installed:
        if parse_name(name)[0] == target:
            return policy.normalized()
    return None


def run_policy_module(module: ModuleLike) -> None:
    run_policy(module, policy_client(module))


def run_policy_info_module(module: ModuleLike) -> None:
    run_policy_info(module, policy_client(module))
