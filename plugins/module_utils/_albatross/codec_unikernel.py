# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unikernel configurations, arguments, info and policies <-> ASN.1 (PRIVATE to the collection).

Layouts of the protocol specification §3.5 to §3.7. Old layouts (V3/V4 configs, V0/V1
arguments, V4/V5 info) carry a single cpuid and map onto the current dataclasses.
"""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import asn1, asn1_replies
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec as c
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice,
    BlockDeviceInfo,
    FailBehaviour,
    NetworkInterface,
    NetworkInterfaceInfo,
    Policy,
    UnikernelArguments,
    UnikernelConfig,
    UnikernelInfo,
)

TYPS = ("solo5", "bhyve")

# Schema classes by layout version ("current" needs cpus; old ones a single cpuid).
CONFIG_SCHEMAS = {"current": "UnikernelConfig", "v4": "UnikernelConfigV4", "v3": "UnikernelConfigV3"}
ARGUMENT_SCHEMAS = {"current": "UnikernelArguments", "v1": "UnikernelArgumentsV1", "v0": "UnikernelArgumentsV0"}


# ---------------------------------------------------------------- encoding


def _typ(typ: str):
    if typ not in TYPS:
        raise ValidationError("unknown unikernel type %r (solo5 or bhyve)" % (typ,))
    return asn1.Typ(name=typ, value=asn1.core.Null())


def _fail_behaviour(fail: FailBehaviour):
    if not isinstance(fail, FailBehaviour):
        raise ValidationError("fail_behaviour must be a FailBehaviour")
    if not fail.restart:
        return asn1.FailBehaviour(name="quit", value=asn1.core.Null())
    codes = [c.put_int(code, "exit code") for code in sorted(set(fail.exit_codes))]
    return asn1.FailBehaviour(name="restart", value=asn1.IntSet(codes))


def _int_set(values, what: str):
    return asn1.IntSet([c.put_int(v, what) for v in sorted(set(values))])


def _block_spec(block: BlockDevice):
    fields = {"name": c.put_text(block.name)}
    if block.host_device is not None:
        fields["device"] = c.put_text(block.host_device)
    if block.sector_size is not None:
        fields["sector_size"] = c.put_int(block.sector_size, "sector size")
    return asn1.BlockSpec(fields)


def _bridge_spec(net: NetworkInterface):
    fields = {"netif": c.put_text(net.name)}
    if net.bridge is not None:
        fields["bridge"] = c.put_text(net.bridge)
    if net.mac is not None:
        fields["mac"] = asn1.MacAddr(c.mac_to_bytes(net.mac))
    return asn1.BridgeSpec(fields)


def _single_cpuid(cpuids) -> object:
    if len(set(cpuids)) != 1:
        raise ValidationError("this layout carries exactly one cpuid")
    return c.put_int(next(iter(cpuids)), "cpuid")


def _argument_fields(args: UnikernelArguments, layout: str) -> dict:
    """Fields shared by configs and arguments, for the given layout."""
    fields = {"fail_behaviour": _fail_behaviour(args.fail_behaviour), "memory": c.put_int(args.memory, "memory")}
    if layout in ("current", "v4", "v1"):
        if args.startup is not None:
            fields["startup"] = c.put_int(args.startup, "startup")
        fields["add_name"] = c.put_bool(args.add_name)
    if layout == "current":
        fields["cpuids"] = _int_set(args.cpuids, "cpuid")
    else:
        fields["cpuid"] = _single_cpuid(args.cpuids)
    if args.block_devices:
        fields["blocks"] = asn1.BlockSpecs([_block_spec(b) for b in args.block_devices])
    if args.network_interfaces:
        fields["bridges"] = asn1.BridgeSpecs([_bridge_spec(n) for n in args.network_interfaces])
    if args.argv is not None:
        fields["arguments"] = asn1.StrSeq([c.put_text(a) for a in args.argv])
    if layout == "current":
        fields["cpus"] = c.put_int(1 if args.cpus is None else args.cpus, "cpus")
        if args.linux_boot_partition is not None:
            fields["linux_boot_partition"] = c.put_text(args.linux_boot_partition)
    return fields


def encode_config(config: UnikernelConfig, layout: str = "current"):
    if not isinstance(config, UnikernelConfig):
        raise ValidationError("expected a UnikernelConfig")
    fields = _argument_fields(config, layout)
    fields["typ"] = _typ(config.typ)
    fields["compressed"] = c.put_bool(config.compressed)
    fields["image"] = c.put_bytes(config.image)
    return getattr(asn1, CONFIG_SCHEMAS[layout])(fields)


def encode_arguments(args: UnikernelArguments, layout: str = "current"):
    if not isinstance(args, UnikernelArguments):
        raise ValidationError("expected UnikernelArguments")
    return getattr(asn1, ARGUMENT_SCHEMAS[layout])(_argument_fields(args, layout))


def encode_policy(policy: Policy):
    if not isinstance(policy, Policy):
        raise ValidationError("expected a Policy")
    fields = {
        "cpuids": asn1.IntSeq([c.put_int(v, "cpuid") for v in sorted(set(policy.cpuids))]),
        "unikernels": c.put_int(policy.unikernels, "unikernels"),
        "memory": c.put_int(policy.memory, "memory"),
        "bridges": asn1.StrSeq([c.put_text(b) for b in sorted(set(policy.bridges))]),
    }
    if policy.block is not None:
        fields["block"] = c.put_int(policy.block, "block")
    return asn1.Policy(fields)


def encode_info(info: UnikernelInfo, layout: str = "current"):
    """UnikernelInfo, UnikernelInfoV5 ("v5") or UnikernelInfoV4 ("v4")."""
    if not isinstance(info, UnikernelInfo):
        raise ValidationError("expected a UnikernelInfo")
    fields = {
        "typ": _typ(info.typ),
        "fail_behaviour": _fail_behaviour(info.fail_behaviour),
        "memory": c.put_int(info.memory, "memory"),
        "digest": c.put_bytes(info.digest),
    }
    if info.startup is not None and layout != "v4":
        fields["startup"] = c.put_int(info.startup, "startup")
    if layout == "current":
        fields["cpuids"] = _int_set(info.cpuids, "cpuid")
    else:
        fields["cpuid"] = _single_cpuid(info.cpuids)
    if info.block_devices:
        fields["blocks"] = asn1_replies.BlockInfos([asn1_replies.BlockInfo({
            "name": c.put_text(b.name), "host_device": c.put_text(b.host_device),
            "sector_size": c.put_int(b.sector_size, "sector size"), "size": c.put_int(b.size, "size"),
        }) for b in info.block_devices])
    if info.network_interfaces:
        fields["bridges"] = asn1_replies.NetInfos([asn1_replies.NetInfo({
            "name": c.put_text(n.name), "bridge": c.put_text(n.bridge), "mac": asn1.MacAddr(c.mac_to_bytes(n.mac)),
        }) for n in info.network_interfaces])
    if info.argv is not None:
        fields["arguments"] = asn1.StrSeq([c.put_text(a) for a in info.argv])
    if info.started is not None:
        fields["started"] = c.put_time(info.started)
    if layout == "current":
        if info.cpus is not None:
            fields["cpus"] = c.put_int(info.cpus, "cpus")
        if info.linux_boot_partition is not None:
            fields["linux_boot_partition"] = c.put_text(info.linux_boot_partition)
    schema = {"current": "UnikernelInfo", "v5": "UnikernelInfoV5", "v4": "UnikernelInfoV4"}[layout]
    return getattr(asn1_replies, schema)(fields)


# ---------------------------------------------------------------- decoding


def _get_typ(value) -> str:
    name, chosen = c.choice(value)
    c.get_null(chosen)
    return name


def _get_fail_behaviour(value) -> FailBehaviour:
    name, chosen = c.choice(value)
    if name == "quit":
        c.get_null(chosen)
        return FailBehaviour()
    return FailBehaviour(True, tuple(sorted({c.get_int(v) for v in c.items(chosen)})))


def _get_block_spec(value) -> BlockDevice:
    c.check_fields(value)
    device = c.opt(value, "device")
    sector = c.opt(value, "sector_size")
    return BlockDevice(
        name=c.get_text(value["name"]),
        host_device=None if device is None else c.get_text(device),
        sector_size=None if sector is None else c.get_int(sector),
    )


def _get_bridge_spec(value) -> NetworkInterface:
    c.check_fields(value)
    bridge = c.opt(value, "bridge")
    mac = c.opt(value, "mac")
    return NetworkInterface(
        name=c.get_text(value["netif"]),
        bridge=None if bridge is None else c.get_text(bridge),
        mac=None if mac is None else c.get_mac(mac),
    )


def _get_argv(seq):
    argv = c.opt(seq, "arguments")
    return None if argv is None else tuple(c.get_text(a) for a in c.items(argv))


def _argument_values(seq, layout: str) -> dict:
    c.check_fields(seq)
    values = {"fail_behaviour": _get_fail_behaviour(seq["fail_behaviour"]), "memory": c.get_int(seq["memory"])}
    if layout in ("current", "v4", "v1"):
        startup = c.opt(seq, "startup")
        values["startup"] = None if startup is None else c.get_int(startup)
        values["add_name"] = c.get_bool(seq["add_name"])
    if layout == "current":
        values["cpuids"] = tuple(sorted({c.get_int(v) for v in c.items(seq["cpuids"])}))
        cpus = c.opt(seq, "cpus")
        values["cpus"] = 1 if cpus is None else c.get_int(cpus)
        lbp = c.opt(seq, "linux_boot_partition")
        values["linux_boot_partition"] = None if lbp is None else c.get_text(lbp)
    else:
        values["cpuids"] = (c.get_int(seq["cpuid"]),)
    blocks = c.opt(seq, "blocks")
    values["block_devices"] = () if blocks is None else tuple(_get_block_spec(b) for b in c.items(blocks))
    bridges = c.opt(seq, "bridges")
    values["network_interfaces"] = () if bridges is None else tuple(_get_bridge_spec(b) for b in c.items(bridges))
    values["argv"] = _get_argv(seq)
    return values


def decode_config(seq, layout: str = "current") -> UnikernelConfig:
    values = _argument_values(seq, layout)
    values["typ"] = _get_typ(seq["typ"])
    values["compressed"] = c.get_bool(seq["compressed"])
    values["image"] = c.get_bytes(seq["image"])
    return UnikernelConfig(**values)


def decode_arguments(seq, layout: str = "current") -> UnikernelArguments:
    return UnikernelArguments(**_argument_values(seq, layout))


def decode_policy(seq) -> Policy:
    c.check_fields(seq)
    block = c.opt(seq, "block")
    return Policy(
        unikernels=c.get_int(seq["unikernels"]),
        cpuids=tuple(c.get_int(v) for v in c.items(seq["cpuids"])),
        memory=c.get_int(seq["memory"]),
        block=None if block is None else c.get_int(block),
        bridges=tuple(c.get_text(b) for b in c.items(seq["bridges"])),
    )


def _get_block_info(value) -> BlockDeviceInfo:
    c.check_fields(value)
    return BlockDeviceInfo(
        name=c.get_text(value["name"]), host_device=c.get_text(value["host_device"]),
        sector_size=c.get_int(value["sector_size"]), size=c.get_int(value["size"]),
    )


def _get_net_info(value) -> NetworkInterfaceInfo:
    c.check_fields(value)
    return NetworkInterfaceInfo(name=c.get_text(value["name"]), bridge=c.get_text(value["bridge"]), mac=c.get_mac(value["mac"]))


def decode_info(name: str, seq, layout: str = "current") -> UnikernelInfo:
    # Replies: newer servers may append optional fields with higher context tags.
    c.check_fields(seq, extension_above=5 if layout == "current" else 3)
    values = {
        "name": name,
        "typ": _get_typ(seq["typ"]),
        "fail_behaviour": _get_fail_behaviour(seq["fail_behaviour"]),
        "memory": c.get_int(seq["memory"]),
        "digest": c.get_bytes(seq["digest"]),
    }
    if layout != "v4":
        startup = c.opt(seq, "startup")
        values["startup"] = None if startup is None else c.get_int(startup)
    if layout == "current":
        values["cpuids"] = tuple(sorted({c.get_int(v) for v in c.items(seq["cpuids"])}))
        cpus = c.opt(seq, "cpus")
        values["cpus"] = None if cpus is None else c.get_int(cpus)
        lbp = c.opt(seq, "linux_boot_partition")
        values["linux_boot_partition"] = None if lbp is None else c.get_text(lbp)
    else:
        values["cpuids"] = (c.get_int(seq["cpuid"]),)
    blocks = c.opt(seq, "blocks")
    values["block_devices"] = () if blocks is None else tuple(_get_block_info(b) for b in c.items(blocks))
    bridges = c.opt(seq, "bridges")
    values["network_interfaces"] = () if bridges is None else tuple(_get_net_info(b) for b in c.items(bridges))
    values["argv"] = _get_argv(seq)
    started = c.opt(seq, "started")
    values["started"] = None if started is None else c.get_time(started)
    return UnikernelInfo(**values)
