# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Policy checks: order and wording of albatross' vmm_core.ml."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import NetworkInterface, Policy, UnikernelArguments
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import (
    check_fine_with_policy,
    check_is_smaller,
    check_usable,
    children_exceed,
    policy_sum,
)

BIG = Policy(unikernels=10, cpuids=(0, 1, 2), memory=1024, block=500, bridges=("br0", "service"))


def _msg(func, *args) -> str:
    with pytest.raises(ValidationError) as info:
        func(*args)
    return str(info.value)


@pytest.mark.parametrize(
    "policy, message",
    [
        (Policy(0, (0,), 64), "Unusable policy with no unikernels"),
        (Policy(-3, (0,), 64), "Unusable policy with no unikernels"),
        (Policy(1, (), 64), "Unusable policy with no CPUids"),
        (Policy(1, (0,), 16), "Unusable policy with memory 16 MB <= 16 MB"),
        (Policy(1, (0,), -5), "Unusable policy with memory -5 MB <= 16 MB"),
        (Policy(1, (0,), 17, block=-1), "Unusable policy with block -1 MB < 0 MB"),
        # order: unikernels first
        (Policy(0, (), 1, block=-1), "Unusable policy with no unikernels"),
    ],
)
def test_usable_rejects(policy, message):
    assert _msg(check_usable, policy) == message


@pytest.mark.parametrize("policy", [Policy(1, (0,), 17), Policy(1, (0,), 17, block=0), BIG])
def test_usable_accepts(policy):
    check_usable(policy)


@pytest.mark.parametrize(
    "sub, message",
    [
        (Policy(11, (0,), 32), "policy above allows 10 unikernels, which is fewer than 11"),
        (Policy(1, (0,), 2048), "policy above allows 1024 MB memory, which is fewer than 2048 MB"),
        (Policy(1, (5, 0, 3), 32), "policy above does not allow CPUids 3, 5"),
        (Policy(1, (0,), 32, bridges=("zz", "br0", "aa")), "policy above allows bridge(s) br0, service, which is not a superset of aa, br0, zz"),
        (Policy(1, (0,), 32, block=501), "policy above allows 500 MB block storage, which is fewer than 501 MB"),
        # order: unikernels before memory before cpuids
        (Policy(11, (9,), 4096), "policy above allows 10 unikernels, which is fewer than 11"),
        (Policy(1, (9,), 4096), "policy above allows 1024 MB memory, which is fewer than 4096 MB"),
    ],
)
def test_is_smaller_rejects(sub, message):
    assert _msg(check_is_smaller, BIG, sub) == message


def test_is_smaller_block_none_above():
    sup = Policy(10, (0,), 1024, block=None)
    assert _msg(check_is_smaller, sup, Policy(1, (0,), 32, block=0)) == "policy above allows 0 MB block storage, which is fewer than 0 MB"
    check_is_smaller(sup, Policy(1, (0,), 32, block=None))
    check_is_smaller(BIG, Policy(1, (0,), 32, block=None))


def test_is_smaller_accepts_equal_and_smaller():
    check_is_smaller(BIG, BIG)
    check_is_smaller(BIG, Policy(1, (1,), 32, block=0, bridges=("service",)))


def test_bridges_sorted_bytewise():
    sup = Policy(10, (0,), 1024, bridges=("b", "B", "a"))
    assert _msg(check_is_smaller, sup, Policy(1, (0,), 32, bridges=("c",))) == (
        "policy above allows bridge(s) B, a, b, which is not a superset of c"
    )


def test_fine_with_policy():
    ok = UnikernelArguments(cpuids=(1,), memory=1024, network_interfaces=(NetworkInterface("service"), NetworkInterface("x", "br0")))
    check_fine_with_policy(BIG, ok)
    args = UnikernelArguments(cpuids=(7, 0, 4), memory=32)
    assert _msg(check_fine_with_policy, BIG, args) == "the CPUids 4, 7 requested by the unikernel are not allowed by policy"
    args = UnikernelArguments(cpuids=(0,), memory=1025)
    assert _msg(check_fine_with_policy, BIG, args) == "1025 MB memory assigned to unikernel exceeds policy (1024MB)"
    nics = (NetworkInterface("service", "ext"), NetworkInterface("b", "br0"), NetworkInterface("other"), NetworkInterface("c", "ext"))
    args = UnikernelArguments(cpuids=(0,), memory=32, network_interfaces=nics)
    assert _msg(check_fine_with_policy, BIG, args) == "Bridge(s) ext, other, ext not allowed by policy (available: br0, service)"


def test_fine_with_policy_unsigned_memory():
    # OCaml prints a negative native int with %u as its 64-bit two's complement.
    policy = Policy(1, (0,), -1)
    args = UnikernelArguments(cpuids=(0,), memory=32)
    assert _msg(check_fine_with_policy, policy, args) == "32 MB memory assigned to unikernel exceeds policy (18446744073709551615MB)"


def test_policy_sum_and_children_exceed():
    children = [Policy(6, (0,), 512, block=None, bridges=("service",)), Policy(6, (1,), 600, block=300, bridges=("br0",))]
    total = policy_sum(children)
    assert total == Policy(12, (0, 1), 1112, 300, ("br0", "service"))
    assert policy_sum([Policy(1, (0,), 32)]).block is None
    assert children_exceed(BIG, children) == [
        "sub-policies together allow 12 unikernels, more than the 10 of this policy",
        "sub-policies together allow 1112 MB memory, more than the 1024 MB of this policy",
    ]
    assert children_exceed(BIG, []) == []
    assert children_exceed(BIG, [Policy(10, (0,), 1024, 500)]) == []
    no_block = Policy(10, (0,), 1024, None)
    assert children_exceed(no_block, [Policy(1, (0,), 32, 10)]) == [
        "sub-policies together allow 10 MB block storage, more than the 0 MB of this policy"
    ]
