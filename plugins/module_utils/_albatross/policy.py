# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource policy checks of albatross (PRIVATE to the collection).

The checks mirror ``Policy.usable``, ``Policy.is_smaller`` and
``Unikernel.fine_with_policy`` of albatross' ``src/vmm_core.ml``, in the same order
and with the same message texts, so a user sees the words the server (or the stock
``albatross-client``) would print. Sets are printed the way OCaml's ``Set.elements``
orders them: integers ascending, strings by byte order.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy, UnikernelArguments


def _ints(values: Iterable[int]) -> List[int]:
    return sorted(set(int(v) for v in values))


def _strings(values: Iterable[str]) -> List[str]:
    return sorted(set(values), key=lambda s: s.encode("utf-8", "surrogatepass"))


def _join(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def _unsigned(value: int) -> str:
    # OCaml's "%u" prints a negative native int as its 64-bit two's complement.
    return str(value if value >= 0 else value + (1 << 64))


def check_usable(policy: Policy) -> None:
    """``Policy.usable``: reject policies that cannot run a single unikernel."""
    if policy.unikernels <= 0:
        raise ValidationError("Unusable policy with no unikernels")
    if not policy.cpuids:
        raise ValidationError("Unusable policy with no CPUids")
    if policy.memory <= 16:
        raise ValidationError("Unusable policy with memory %d MB <= 16 MB" % policy.memory)
    if policy.block is not None and policy.block < 0:
        raise ValidationError("Unusable policy with block %d MB < 0 MB" % policy.block)


def _block_fits(super_block: Optional[int], sub_block: Optional[int]) -> bool:
    if sub_block is None:
        return True
    if super_block is None:
        return False
    return super_block >= sub_block


def check_is_smaller(super_: Policy, sub: Policy) -> None:
    """``Policy.is_smaller ~super ~sub``: ``sub`` must fit into ``super_``."""
    if super_.unikernels < sub.unikernels:
        raise ValidationError("policy above allows %d unikernels, which is fewer than %d" % (super_.unikernels, sub.unikernels))
    if super_.memory < sub.memory:
        raise ValidationError("policy above allows %d MB memory, which is fewer than %d MB" % (super_.memory, sub.memory))
    missing = set(sub.cpuids) - set(super_.cpuids)
    if missing:
        raise ValidationError("policy above does not allow CPUids %s" % _join(_ints(missing)))
    if not set(sub.bridges) <= set(super_.bridges):
        raise ValidationError(
            "policy above allows bridge(s) %s, which is not a superset of %s" % (_join(_strings(super_.bridges)), _join(_strings(sub.bridges)))
        )
    if not _block_fits(super_.block, sub.block):
        raise ValidationError(
            "policy above allows %d MB block storage, which is fewer than %d MB" % (super_.block or 0, sub.block or 0)
        )


def check_fine_with_policy(policy: Policy, arguments: UnikernelArguments) -> None:
    """``Unikernel.fine_with_policy``: static check of a config against a policy (no usage counted).

    The bridge checked is the host bridge (``bridge``, else the interface name), as albatross does.
    """
    missing = set(arguments.cpuids) - set(policy.cpuids)
    if missing:
        raise ValidationError("the CPUids %s requested by the unikernel are not allowed by policy" % _join(_ints(missing)))
    if arguments.memory > policy.memory:
        raise ValidationError("%s MB memory assigned to unikernel exceeds policy (%sMB)" % (_unsigned(arguments.memory), _unsigned(policy.memory)))
    allowed = set(policy.bridges)
    disallowed = [nic.effective_bridge for nic in arguments.network_interfaces if nic.effective_bridge not in allowed]
    if disallowed:
        raise ValidationError(
            "Bridge(s) %s not allowed by policy (available: %s)" % (_join(disallowed), _join(_strings(policy.bridges)))
        )


def policy_sum(policies: Sequence[Policy]) -> Policy:
    """What a set of policies promises together: counts and sizes added, CPUs and bridges united.

    ``block`` is None only when no policy allows block storage.
    """
    blocks = [p.block for p in policies if p.block is not None]
    return Policy(
        unikernels=sum(p.unikernels for p in policies),
        cpuids=tuple(_ints(c for p in policies for c in p.cpuids)),
        memory=sum(p.memory for p in policies),
        block=sum(blocks) if blocks else None,
        bridges=tuple(_strings(b for p in policies for b in p.bridges)),
    )


def children_exceed(parent: Policy, children: Sequence[Policy]) -> List[str]:
    """Ways in which the direct children of a path together promise more than the path has.

    Albatross allows this (each child is only checked against its ancestors one by one, and
    usage is counted when a unikernel starts), so these are warnings: the children cannot all
    use their share at the same time. Returns an empty list when everything fits.
    """
    if not children:
        return []
    total = policy_sum(children)
    messages = []
    checks: Tuple[Tuple[str, int, int, str], ...] = (
        ("unikernels", total.unikernels, parent.unikernels, ""),
        ("memory", total.memory, parent.memory, " MB"),
    )
    for what, used, limit, unit in checks:
        if used > limit:
            messages.append("sub-policies together allow %d%s %s, more than the %d%s of this policy" % (used, unit, what, limit, unit))
    if total.block is not None and total.block > (parent.block or 0):
        messages.append(
            "sub-policies together allow %d MB block storage, more than the %d MB of this policy" % (total.block, parent.block or 0)
        )
    return messages
