# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypothesis strategies for every model type the albatross codec carries.

Values are generated in the form the decoder returns (sets sorted, names normalised,
times to the millisecond), so ``decode(encode(x)) == x`` up to the order of SET OF
block/network entries, which DER sorts by encoding.
"""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.codec import INT64_MAX, INT64_MIN, INT_MAX, INT_MIN
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    BlockDeviceInfo,
    Command,
    ConsoleLine,
    Data,
    FailBehaviour,
    Failure,
    Header,
    IfData,
    Image,
    KinfoMem,
    NetworkInterface,
    NetworkInterfaceInfo,
    Policy,
    Rusage,
    SinceCount,
    Statistics,
    StatsAdd,
    Success,
    Timeval,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
    Volume,
    Wire,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string

UTC = datetime.timezone.utc

ints = st.integers(INT_MIN, INT_MAX)
small = st.integers(0, 1 << 20)
int64s = st.integers(INT64_MIN, INT64_MAX)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
labels = st.from_regex(r"\A[a-z0-9.][a-z0-9.-]{0,8}\Z")
paths = st.lists(labels, max_size=3).map(tuple)
names = st.builds(name_to_string, paths, st.none() | labels)
macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join("%02x" % x for x in b))
times = st.datetimes(datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
int_sets = st.lists(ints, max_size=4).map(lambda xs: tuple(sorted(set(xs))))
fail_behaviours = st.one_of(st.just(FailBehaviour()), st.builds(FailBehaviour, st.just(True), int_sets))
argvs = st.none() | st.lists(texts, max_size=3).map(tuple)
blocks = st.lists(st.builds(BlockDevice, texts, st.none() | texts, st.none() | ints), max_size=3).map(tuple)
nets = st.lists(st.builds(NetworkInterface, texts, st.none() | texts, st.none() | macs), max_size=3).map(tuple)

_ARGUMENT_FIELDS = dict(
    fail_behaviour=fail_behaviours, memory=ints, block_devices=blocks, network_interfaces=nets, argv=argvs,
)


def arguments(layout: str = "current"):
    fields = dict(_ARGUMENT_FIELDS)
    if layout == "current":
        fields.update(cpuids=int_sets, startup=st.none() | ints, add_name=st.booleans(), cpus=ints,
                      linux_boot_partition=st.none() | texts)
    else:
        fields.update(cpuids=ints.map(lambda x: (x,)), cpus=st.just(1))
        if layout in ("v4", "v1"):
            fields.update(startup=st.none() | ints, add_name=st.booleans())
    return fields


def configs(layout: str = "current"):
    return st.builds(UnikernelConfig, typ=st.sampled_from(("solo5", "bhyve")), compressed=st.booleans(),
                     image=st.binary(max_size=40), **arguments(layout))


policies = st.builds(
    Policy, unikernels=ints, cpuids=int_sets, memory=ints, block=st.none() | ints,
    bridges=st.lists(texts, max_size=3).map(lambda xs: tuple(sorted(set(xs)))),
)

_NULL_KINDS = ("unikernel_info", "unikernel_info_old4", "unikernel_info_old5", "unikernel_destroy", "block_info",
               "block_remove", "policy_info", "policy_remove", "console_list_inactive", "stats_subscribe",
               "stats_remove", "stats_initial")


def _kind(kind, arg):
    return st.builds(Command, st.just(kind), arg)


commands = st.one_of(
    st.sampled_from(_NULL_KINDS).map(Command),
    st.builds(Command, st.sampled_from(("unikernel_get", "block_add", "block_dump", "block_dump_old", "console_add")), ints),
    st.builds(Command, st.sampled_from(("unikernel_create", "unikernel_force_create")), configs("current")),
    st.builds(Command, st.sampled_from(("unikernel_create_old2", "unikernel_force_create_old2")), configs("v4")),
    st.builds(Command, st.sampled_from(("unikernel_create_old", "unikernel_force_create_old")), configs("v3")),
    _kind("unikernel_restart", st.none() | st.builds(UnikernelArguments, **arguments("current"))),
    _kind("block_set", st.booleans()),
    _kind("block_add_old", st.tuples(ints, st.booleans(), st.none() | st.binary(max_size=20))),
    _kind("block_set_old", st.tuples(st.booleans(), st.binary(max_size=20))),
    _kind("policy_add", policies),
    _kind("console_subscribe", st.builds(SinceCount, since=times) | st.builds(SinceCount, count=ints)),
    _kind("stats_add", st.builds(StatsAdd, texts, ints, st.lists(st.tuples(texts, texts), max_size=3).map(tuple))),
)


def infos(layout: str = "current"):
    fields = dict(
        name=names, typ=st.sampled_from(("solo5", "bhyve")), fail_behaviour=fail_behaviours, memory=ints,
        digest=st.binary(max_size=32), argv=argvs, started=st.none() | times,
        block_devices=st.lists(st.builds(BlockDeviceInfo, texts, texts, ints, ints), max_size=3).map(tuple),
        network_interfaces=st.lists(st.builds(NetworkInterfaceInfo, texts, texts, macs), max_size=3).map(tuple),
    )
    if layout == "current":
        fields.update(cpuids=int_sets, startup=st.none() | ints, cpus=st.none() | ints, linux_boot_partition=st.none() | texts)
    else:
        fields.update(cpuids=ints.map(lambda x: (x,)), startup=st.none() | ints if layout == "v5" else st.none())
    return st.builds(UnikernelInfo, **fields)


successes = st.one_of(
    st.just(Success("empty")),
    st.builds(Success, st.just("string"), texts),
    st.builds(Success, st.just("policies"), st.lists(st.tuples(names, policies), max_size=3).map(tuple)),
    st.builds(Success, st.just("block_devices"), st.lists(st.builds(Volume, names, ints, st.booleans()), max_size=3).map(tuple)),
    st.builds(Success, st.sampled_from(("unikernel_image", "old_block_device_image")), st.builds(Image, st.booleans(), st.binary(max_size=40))),
    st.builds(Success, st.just("block_device_image"), st.booleans()),
    st.builds(Success, st.just("consoles"), st.lists(names, max_size=3).map(tuple)),
    st.builds(Success, st.just("unikernel_info"), st.lists(infos("current"), max_size=2).map(tuple)),
    st.builds(Success, st.just("old_unikernel_info5"), st.lists(infos("v5"), max_size=2).map(tuple)),
    st.builds(Success, st.just("old_unikernel_info4"), st.lists(infos("v4"), max_size=2).map(tuple)),
)

timevals = st.builds(Timeval, int64s, ints)
statistics = st.builds(
    Statistics,
    rusage=st.builds(Rusage, timevals, timevals, *([int64s] * 14)),
    ifdata=st.lists(st.builds(IfData, texts, *([ints] * 5 + [int64s] * 12)), max_size=2).map(tuple),
    vmm=st.none() | st.lists(st.tuples(texts, int64s), max_size=3).map(tuple),
    kinfo_mem=st.none() | st.builds(KinfoMem, *([int64s] * 6), ints, timevals),
)


@st.composite
def wires(draw, payloads=None):
    """A Wire; Statistics/ConsoleLine carry the header name, as the decoder sets it."""
    header = Header(draw(names), draw(int64s))
    if payloads is None:
        payloads = st.one_of(
            commands, successes, st.builds(Failure, texts),
            st.builds(Data, st.just("statistics"), statistics),
            st.builds(Data, st.just("console"), st.builds(ConsoleLine, times, st.binary(max_size=30))),
            st.builds(Data, st.just("block"), st.none() | st.binary(max_size=30)),
        )
    payload = draw(payloads)
    if isinstance(payload, Data) and payload.kind in ("statistics", "console"):
        payload = Data(payload.kind, type(payload.value)(**dict(vars(payload.value), name=header.name)))
    return Wire(header, payload)
