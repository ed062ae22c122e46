# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ASN.1 schemas of albatross replies, data and the Wire message (PRIVATE to the collection).

Companion of ``asn1`` (commands and configurations); see the protocol specification
§3.3, §3.7 and §3.8.
"""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import asn1

core = asn1.core

if core is not None:

    RawUTF8 = asn1.RawUTF8
    Int64 = asn1.Int64
    GenTime = asn1.GenTime

    class NamedPolicy(core.Sequence):
        _fields = [('name', RawUTF8), ('policy', asn1.Policy)]

    class NamedPolicies(core.SequenceOf):
        _child_spec = NamedPolicy

    class BlockDevice(core.Sequence):
        _fields = [('name', RawUTF8), ('size', core.Integer), ('active', core.Boolean)]

    class BlockDevices(core.SequenceOf):
        _child_spec = BlockDevice

    class Image(core.Sequence):
        _fields = [('compressed', core.Boolean), ('image', core.OctetString)]

    class BlockInfo(core.Sequence):
        _fields = [
            ('name', RawUTF8),
            ('host_device', RawUTF8),
            ('sector_size', core.Integer),
            ('size', core.Integer),
        ]

    class BlockInfos(core.SetOf):
        _child_spec = BlockInfo

    class NetInfo(core.Sequence):
        _fields = [('name', RawUTF8), ('bridge', RawUTF8), ('mac', asn1.MacAddr)]

    class NetInfos(core.SetOf):
        _child_spec = NetInfo

    _INFO_DEVICES = [
        ('blocks', BlockInfos, {'explicit': 0, 'optional': True}),
        ('bridges', NetInfos, {'explicit': 1, 'optional': True}),
        ('arguments', asn1.StrSeq, {'explicit': 2, 'optional': True}),
        ('started', GenTime, {'explicit': 3, 'optional': True}),
    ]

    class UnikernelInfo(core.Sequence):
        _fields = [
            ('typ', asn1.Typ),
            ('startup', core.Integer, {'optional': True}),
            ('fail_behaviour', asn1.FailBehaviour),
            ('cpuids', asn1.IntSet),
            ('memory', core.Integer),
            ('digest', core.OctetString),
        ] + _INFO_DEVICES + [
            ('cpus', core.Integer, {'explicit': 4, 'optional': True}),
            ('linux_boot_partition', RawUTF8, {'explicit': 5, 'optional': True}),
        ]

    class UnikernelInfoV5(core.Sequence):
        _fields = [
            ('typ', asn1.Typ),
            ('startup', core.Integer, {'optional': True}),
            ('fail_behaviour', asn1.FailBehaviour),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
            ('digest', core.OctetString),
        ] + _INFO_DEVICES

    class UnikernelInfoV4(core.Sequence):
        _fields = [
            ('typ', asn1.Typ),
            ('fail_behaviour', asn1.FailBehaviour),
            ('cpuid', core.Integer),
            ('memory', core.Integer),
            ('digest', core.OctetString),
        ] + _INFO_DEVICES

    class NamedInfo(core.Sequence):
        _fields = [('name', RawUTF8), ('info', UnikernelInfo)]

    class NamedInfos(core.SequenceOf):
        _child_spec = NamedInfo

    class NamedInfoV5(core.Sequence):
        _fields = [('name', RawUTF8), ('info', UnikernelInfoV5)]

    class NamedInfosV5(core.SequenceOf):
        _child_spec = NamedInfoV5

    class NamedInfoV4(core.Sequence):
        _fields = [('name', RawUTF8), ('info', UnikernelInfoV4)]

    class NamedInfosV4(core.SequenceOf):
        _child_spec = NamedInfoV4

    class Success(core.Choice):
        _alternatives = [
            ('empty', core.Null, {'explicit': 0}),
            ('string', RawUTF8, {'explicit': 1}),
            ('policies', NamedPolicies, {'explicit': 2}),
            ('block_devices', BlockDevices, {'explicit': 4}),
            ('unikernel_image', Image, {'explicit': 6}),
            ('old_block_device_image', Image, {'explicit': 7}),
            ('old_unikernel_info4', NamedInfosV4, {'explicit': 9}),
            ('block_device_image', core.Boolean, {'explicit': 10}),
            ('old_unikernel_info5', NamedInfosV5, {'explicit': 11}),
            ('consoles', asn1.StrSeq, {'explicit': 12}),
            ('unikernel_info', NamedInfos, {'explicit': 13}),
        ]

    class Timeval(core.Sequence):
        _fields = [('seconds', Int64), ('microseconds', core.Integer)]

    class Rusage(core.Sequence):
        _fields = [('utime', Timeval), ('stime', Timeval)] + [
            (name, Int64) for name in (
                'maxrss', 'ixrss', 'idrss', 'isrss', 'minflt', 'majflt', 'nswap', 'inblock',
                'outblock', 'msgsnd', 'msgrcv', 'nsignals', 'nvcsw', 'nivcsw')
        ]

    class KinfoMem(core.Sequence):
        _fields = [(name, Int64) for name in ('vsize', 'rss', 'tsize', 'dsize', 'ssize', 'runtime')] + [
            ('cow', core.Integer),
            ('start', Timeval),
        ]

    class IfData(core.Sequence):
        _fields = [('name', RawUTF8)] + [
            (name, core.Integer) for name in ('flags', 'send_length', 'max_send_length', 'send_drops', 'mtu')
        ] + [
            (name, Int64) for name in (
                'baudrate', 'input_packets', 'input_errors', 'output_packets', 'output_errors',
                'collisions', 'input_bytes', 'output_bytes', 'input_mcast', 'output_mcast',
                'input_dropped', 'output_dropped')
        ]

    class IfDatas(core.SequenceOf):
        _child_spec = IfData

    class VmmStat(core.Sequence):
        _fields = [('key', RawUTF8), ('value', Int64)]

    class VmmStats(core.SequenceOf):
        _child_spec = VmmStat

    class Statistics(core.Sequence):
        _fields = [
            ('rusage', Rusage),
            ('ifdata', IfDatas),
            ('vmm', VmmStats, {'explicit': 0, 'optional': True}),
            ('kinfo_mem', KinfoMem, {'implicit': 1, 'optional': True}),
        ]

    class ConsoleData(core.Sequence):
        _fields = [('timestamp', GenTime), ('data', RawUTF8)]

    class BlockData(core.Choice):
        _alternatives = [
            ('some', core.OctetString, {'explicit': 0}),
            ('none', core.Null, {'explicit': 1}),
        ]

    class Data(core.Choice):
        # [2] log is kept so that it parses; the codec then refuses it like albatross.
        _alternatives = [
            ('statistics', Statistics, {'explicit': 1}),
            ('log', core.Null, {'explicit': 2}),
            ('console', ConsoleData, {'explicit': 3}),
            ('block', BlockData, {'explicit': 4}),
        ]

    class Header(core.Sequence):
        _fields = [('version', core.Integer), ('sequence', Int64), ('name', RawUTF8)]

    class Payload(core.Choice):
        _alternatives = [
            ('command', asn1.Command, {'explicit': 0}),
            ('success', Success, {'explicit': 1}),
            ('failure', RawUTF8, {'explicit': 2}),
            ('data', Data, {'explicit': 3}),
        ]

    class Wire(core.Sequence):
        _fields = [('header', Header), ('payload', Payload)]
