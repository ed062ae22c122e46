# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain data types of the albatross protocol (PRIVATE to the collection).

Every value that crosses the wire is one of these frozen dataclasses. The codec
(``messages``) turns them into DER and back; modules compare them, never raw ASN.1.
Sequences are tuples so that values are hashable and compare by value. Sets of the
wire grammar (cpuids, exit codes, block and network specs) are kept as tuples sorted
the way ``normalized()`` says, so two equal configurations compare equal.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError

WIRE_VERSION = 5

#: Compression of images and block data is a zlib stream (RFC 1950); level 0 = none.
MAX_COMPRESSION_LEVEL = 9


#: Exit codes are what a process can return: 0 to 255.
MAX_EXIT_CODE = 255

#: Largest size of a unikernel's arguments, in bytes of UTF-8 counting one separator per
#: argument. The arguments travel inside the per-command certificate, which goes to the
#: server in the TLS handshake: a certificate of tens of KB is cut off there (OpenSSL, for
#: one, accepts at most 100 KiB for the whole chain) and albatross only resets the
#: connection. Solo5 tenders also pass the command line to the unikernel in a buffer of
#: HVT_CMDLINE_SIZE / SPT_CMDLINE_SIZE = 8192 bytes (solo5 include/hvt_abi.h, spt_abi.h) and
#: exit with "Guest command line too long" beyond it, so this is what a unikernel can receive.
MAX_ARGUMENTS_BYTES = 8192


class ArgumentError(ValidationError):
    """A unikernel option outside what albatross and solo5 accept; the message names the option."""


def check_exit_codes(codes: Any, option: str = "restart_exit_codes") -> Tuple[int, ...]:
    """``codes`` as sorted unique ints, each 0-255 (an exit status); ``ArgumentError`` otherwise."""
    values = []
    for code in codes or ():
        if isinstance(code, bool) or not isinstance(code, int):
            raise ArgumentError("%s: %r is not an exit code; use whole numbers from 0 to %d" % (option, code, MAX_EXIT_CODE))
        if not 0 <= code <= MAX_EXIT_CODE:
            raise ArgumentError("%s: %d is not an exit code; exit codes are 0 to %d" % (option, code, MAX_EXIT_CODE))
        values.append(code)
    return tuple(sorted(set(values)))


def arguments_size(argv: Any) -> int:
    """Bytes of ``argv`` as ``MAX_ARGUMENTS_BYTES`` counts them (UTF-8, one separator each)."""
    return sum(len(str(arg).encode("utf-8", "surrogatepass")) + 1 for arg in argv or ())


def check_arguments(argv: Any, option: str = "arguments") -> Tuple[str, ...]:
    """``argv`` as a tuple of str if it fits ``MAX_ARGUMENTS_BYTES``; ``ArgumentError`` otherwise."""
    values = tuple(str(arg) for arg in argv or ())
    size = arguments_size(values)
    if size > MAX_ARGUMENTS_BYTES:
        raise ArgumentError(
            "%s: %d arguments take %d bytes, more than the %d bytes a unikernel's command line can carry; "
            "shorten them or pass the bulk another way (for example on a block device)" % (option, len(values), size, MAX_ARGUMENTS_BYTES)
        )
    return values


def _sorted_unique(values) -> Tuple[int, ...]:
    return tuple(sorted(set(int(v) for v in values)))


@dataclass(frozen=True)
class FailBehaviour:
    """``quit`` (restart=False) or restart on exit; empty ``exit_codes`` = any code."""

    restart: bool = False
    exit_codes: Tuple[int, ...] = ()

    def normalized(self) -> "FailBehaviour":
        if not self.restart:
            return FailBehaviour(False, ())
        return FailBehaviour(True, _sorted_unique(self.exit_codes))


@dataclass(frozen=True)
class BlockDevice:
    """BlockSpec: the device ``name`` the unikernel sees (manifest), the host volume label."""

    name: str
    host_device: Optional[str] = None
    sector_size: Optional[int] = None

    @property
    def effective_host_device(self) -> str:
        return self.host_device if self.host_device is not None else self.name

    @property
    def effective_sector_size(self) -> int:
        return self.sector_size if self.sector_size is not None else 512


@dataclass(frozen=True)
class NetworkInterface:
    """BridgeSpec: the interface ``name`` the unikernel sees (manifest), host bridge, MAC.

    ``mac`` is text ``"00:80:41:aa:bb:cc"`` (lower case) or None for albatross' default.
    """

    name: str
    bridge: Optional[str] = None
    mac: Optional[str] = None

    @property
    def effective_bridge(self) -> str:
        return self.bridge if self.bridge is not None else self.name


@dataclass(frozen=True)
class UnikernelArguments:
    """What ``restart`` with new arguments can change (UnikernelArguments of the spec §3.5).

    ``argv`` None = no arguments at all (absent on the wire); () = present and empty.
    ``cpus`` is bhyve's numcpus (the wire always carries it, default 1).
    """

    cpuids: Tuple[int, ...] = (0,)
    memory: int = 32
    fail_behaviour: FailBehaviour = field(default_factory=FailBehaviour)
    startup: Optional[int] = None
    add_name: bool = True
    block_devices: Tuple[BlockDevice, ...] = ()
    network_interfaces: Tuple[NetworkInterface, ...] = ()
    argv: Optional[Tuple[str, ...]] = None
    cpus: Optional[int] = 1
    linux_boot_partition: Optional[str] = None


@dataclass(frozen=True)
class UnikernelConfig(UnikernelArguments):
    """What create / force-create carry (UnikernelConfig of the spec §3.5).

    ``image`` empty means: the image is streamed after the TLS handshake.
    ``typ`` is ``"solo5"`` or ``"bhyve"``.
    """

    typ: str = "solo5"
    compressed: bool = False
    image: bytes = b""

    def arguments(self) -> UnikernelArguments:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(UnikernelArguments)}
        return UnikernelArguments(**values)


@dataclass(frozen=True)
class BlockDeviceInfo:
    """A block device as unikernel info reports it (sizes in MB)."""

    name: str
    host_device: str
    sector_size: int = 512
    size: int = 0


@dataclass(frozen=True)
class NetworkInterfaceInfo:
    """A network interface as unikernel info reports it; ``mac`` is the effective MAC."""

    name: str
    bridge: str
    mac: str


@dataclass(frozen=True)
class UnikernelInfo:
    """One entry of a unikernel info reply. ``name`` is the name as the server sent it.

    Old reply layouts (V4/V5 with a single cpuid) are mapped onto this type.
    ``digest`` is the 32-byte SHA-256 of the uncompressed image (solo5) or the VM
    name bytes (bhyve).
    """

    name: str
    typ: str = "solo5"
    startup: Optional[int] = None
    fail_behaviour: FailBehaviour = field(default_factory=FailBehaviour)
    cpuids: Tuple[int, ...] = (0,)
    memory: int = 32
    digest: bytes = b""
    block_devices: Tuple[BlockDeviceInfo, ...] = ()
    network_interfaces: Tuple[NetworkInterfaceInfo, ...] = ()
    argv: Optional[Tuple[str, ...]] = None
    started: Optional[datetime.datetime] = None
    cpus: Optional[int] = None
    linux_boot_partition: Optional[str] = None

    @property
    def digest_hex(self) -> str:
        return self.digest.hex()


@dataclass(frozen=True)
class Policy:
    """A resource policy; memory and block in MB; block None = no block devices allowed."""

    unikernels: int
    cpuids: Tuple[int, ...]
    memory: int
    block: Optional[int] = None
    bridges: Tuple[str, ...] = ()

    def normalized(self) -> "Policy":
        return Policy(
            unikernels=self.unikernels,
            cpuids=_sorted_unique(self.cpuids),
            memory=self.memory,
            block=self.block,
            bridges=tuple(sorted(set(self.bridges))),
        )


@dataclass(frozen=True)
class Volume:
    """A block device (volume) of a block info reply; size in MB; active = in use."""

    name: str
    size: int
    active: bool = False


@dataclass(frozen=True)
class Image:
    """A unikernel image as ``get`` returns it; ``compressed`` = ``data`` is a zlib stream."""

    compressed: bool
    data: bytes


@dataclass(frozen=True)
class ConsoleLine:
    """One console line. ``data`` holds the raw bytes (not always UTF-8)."""

    timestamp: datetime.datetime
    data: bytes
    name: str = ""

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True)
class Timeval:
    seconds: int
    microseconds: int


@dataclass(frozen=True)
class Rusage:
    utime: Timeval
    stime: Timeval
    maxrss: int = 0
    ixrss: int = 0
    idrss: int = 0
    isrss: int = 0
    minflt: int = 0
    majflt: int = 0
    nswap: int = 0
    inblock: int = 0
    outblock: int = 0
    msgsnd: int = 0
    msgrcv: int = 0
    nsignals: int = 0
    nvcsw: int = 0
    nivcsw: int = 0


@dataclass(frozen=True)
class KinfoMem:
    vsize: int
    rss: int
    tsize: int
    dsize: int
    ssize: int
    runtime: int
    cow: int
    start: Timeval


@dataclass(frozen=True)
class IfData:
    """Interface counters; ``name`` is the unikernel's interface (wire label "bridge")."""

    name: str
    flags: int = 0
    send_length: int = 0
    max_send_length: int = 0
    send_drops: int = 0
    mtu: int = 0
    baudrate: int = 0
    input_packets: int = 0
    input_errors: int = 0
    output_packets: int = 0
    output_errors: int = 0
    collisions: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    input_mcast: int = 0
    output_mcast: int = 0
    input_dropped: int = 0
    output_dropped: int = 0


@dataclass(frozen=True)
class Statistics:
    """One statistics sample. ``name`` comes from the message header."""

    rusage: Rusage
    ifdata: Tuple[IfData, ...] = ()
    vmm: Optional[Tuple[Tuple[str, int], ...]] = None
    kinfo_mem: Optional[KinfoMem] = None
    name: str = ""


@dataclass(frozen=True)
class SinceCount:
    """Console history selector: exactly one of ``since`` (aware UTC datetime) or ``count``."""

    since: Optional[datetime.datetime] = None
    count: Optional[int] = None


@dataclass(frozen=True)
class StatsAdd:
    """Internal stats add (vmmd -> stats); ``taps`` pairs (netif, tap)."""

    vmmdev: str
    pid: int
    taps: Tuple[Tuple[str, str], ...] = ()


# Command kinds. ``Command.arg`` by kind:
#   unikernel_info, unikernel_info_old4, unikernel_info_old5, unikernel_destroy: None
#   unikernel_create, unikernel_force_create: UnikernelConfig
#   unikernel_create_old, unikernel_force_create_old (V3), *_old2 (V4): UnikernelConfig (decode only)
#   unikernel_get: int (compression level)
#   unikernel_restart: UnikernelArguments or None (no-arguments)
#   block_info, block_remove: None;  block_add: int (MB);  block_set: bool (compressed)
#   block_dump: int (level);  block_add_old: (size, compressed, data|None)
#   block_set_old: (compressed, data);  block_dump_old: int
#   policy_info, policy_remove: None;  policy_add: Policy
#   console_subscribe: SinceCount;  console_list_inactive: None;  console_add: int
#   stats_subscribe, stats_remove, stats_initial: None;  stats_add: StatsAdd
COMMAND_KINDS = (
    "unikernel_info", "unikernel_info_old4", "unikernel_info_old5",
    "unikernel_create", "unikernel_force_create",
    "unikernel_create_old", "unikernel_force_create_old",
    "unikernel_create_old2", "unikernel_force_create_old2",
    "unikernel_destroy", "unikernel_get", "unikernel_restart",
    "block_info", "block_add", "block_remove", "block_set", "block_dump",
    "block_add_old", "block_set_old", "block_dump_old",
    "policy_info", "policy_add", "policy_remove",
    "console_subscribe", "console_list_inactive", "console_add",
    "stats_subscribe", "stats_add", "stats_remove", "stats_initial",
)


@dataclass(frozen=True)
class Command:
    kind: str
    arg: Any = None


# Success kinds and ``Success.value``:
#   empty: None;  string: str;  policies: tuple of (name, Policy)
#   block_devices: tuple of Volume;  unikernel_image, old_block_device_image: Image
#   unikernel_info, old_unikernel_info4, old_unikernel_info5: tuple of UnikernelInfo
#   block_device_image: bool (compressed);  consoles: tuple of str
SUCCESS_KINDS = (
    "empty", "string", "policies", "block_devices", "unikernel_image",
    "old_block_device_image", "old_unikernel_info4", "block_device_image",
    "old_unikernel_info5", "consoles", "unikernel_info",
)


@dataclass(frozen=True)
class Success:
    kind: str
    value: Any = None


@dataclass(frozen=True)
class Failure:
    message: str


# Data kinds and ``Data.value``: statistics: Statistics; console: ConsoleLine;
# block: bytes (a chunk) or None (end of dump).
DATA_KINDS = ("statistics", "console", "block")


@dataclass(frozen=True)
class Data:
    kind: str
    value: Any = None


@dataclass(frozen=True)
class Header:
    name: str = ":"
    sequence: int = 0
    version: int = WIRE_VERSION


Payload = Union[Command, Success, Failure, Data]


@dataclass(frozen=True)
class Wire:
    header: Header
    payload: Payload
