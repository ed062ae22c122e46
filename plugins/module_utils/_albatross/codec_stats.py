# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Statistics data <-> ASN.1 (PRIVATE to the collection).

Wire order is rusage, ifdata, vmm-stats [0], kinfo-mem [1] (IMPLICIT), see the
protocol specification §3.8. Newer servers reportedly change this payload, so the
decoder skips unknown higher context tags at the end instead of failing.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import asn1_replies as r
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import codec as c
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import IfData, KinfoMem, Rusage, Statistics, Timeval

_RUSAGE_COUNTERS = tuple(f.name for f in dataclasses.fields(Rusage))[2:]
_KINFO_COUNTERS = ("vsize", "rss", "tsize", "dsize", "ssize", "runtime")
_IF_INTS = ("flags", "send_length", "max_send_length", "send_drops", "mtu")
_IF_COUNTERS = tuple(f.name for f in dataclasses.fields(IfData))[6:]


def _timeval(tv: Timeval):
    if not isinstance(tv, Timeval):
        raise ValidationError("expected a Timeval")
    return r.Timeval({"seconds": c.put_int64(tv.seconds), "microseconds": c.put_int(tv.microseconds, "microseconds")})


def encode_statistics(stats: Statistics):
    if not isinstance(stats, Statistics) or not isinstance(stats.rusage, Rusage):
        raise ValidationError("expected Statistics with a Rusage")
    rusage = {"utime": _timeval(stats.rusage.utime), "stime": _timeval(stats.rusage.stime)}
    rusage.update((name, c.put_int64(getattr(stats.rusage, name))) for name in _RUSAGE_COUNTERS)
    ifdata = []
    for entry in stats.ifdata:
        fields = {"name": c.put_text(entry.name)}
        fields.update((name, c.put_int(getattr(entry, name), name)) for name in _IF_INTS)
        fields.update((name, c.put_int64(getattr(entry, name))) for name in _IF_COUNTERS)
        ifdata.append(r.IfData(fields))
    fields = {"rusage": r.Rusage(rusage), "ifdata": r.IfDatas(ifdata)}
    if stats.vmm is not None:
        fields["vmm"] = r.VmmStats([r.VmmStat({"key": c.put_text(k), "value": c.put_int64(v)}) for k, v in stats.vmm])
    if stats.kinfo_mem is not None:
        kinfo = stats.kinfo_mem
        values = {name: c.put_int64(getattr(kinfo, name)) for name in _KINFO_COUNTERS}
        values["cow"] = c.put_int(kinfo.cow, "cow")
        values["start"] = _timeval(kinfo.start)
        fields["kinfo_mem"] = r.KinfoMem(values)
    return r.Statistics(fields)


def _get_timeval(value) -> Timeval:
    c.check_fields(value)
    return Timeval(c.get_int64(value["seconds"]), c.get_int(value["microseconds"]))


def decode_statistics(seq, name: str) -> Statistics:
    c.check_fields(seq, extension_above=1)
    rusage_seq = seq["rusage"]
    c.check_fields(rusage_seq)
    rusage = Rusage(
        utime=_get_timeval(rusage_seq["utime"]),
        stime=_get_timeval(rusage_seq["stime"]),
        **{key: c.get_int64(rusage_seq[key]) for key in _RUSAGE_COUNTERS}
    )
    ifdata = []
    for entry in c.items(seq["ifdata"]):
        c.check_fields(entry)
        values = {key: c.get_int(entry[key]) for key in _IF_INTS}
        values.update((key, c.get_int64(entry[key])) for key in _IF_COUNTERS)
        ifdata.append(IfData(name=c.get_text(entry["name"]), **values))
    vmm_seq = c.opt(seq, "vmm")
    vmm = None
    if vmm_seq is not None:
        vmm = []
        for pair in c.items(vmm_seq):
            c.check_fields(pair)
            vmm.append((c.get_text(pair["key"]), c.get_int64(pair["value"])))
        vmm = tuple(vmm)
    kinfo_seq = c.opt(seq, "kinfo_mem")
    kinfo = None
    if kinfo_seq is not None:
        c.check_fields(kinfo_seq)
        kinfo = KinfoMem(
            cow=c.get_int(kinfo_seq["cow"]),
            start=_get_timeval(kinfo_seq["start"]),
            **{key: c.get_int64(kinfo_seq[key]) for key in _KINFO_COUNTERS}
        )
    return Statistics(rusage=rusage, ifdata=tuple(ifdata), vmm=vmm, kinfo_mem=kinfo, name=name)
