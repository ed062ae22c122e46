# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unikernels that exit by themselves, as the real albatross 2.7.2 handles them.

Each test names what albatrossd, albatross-console and albatross-stats did with solo5 0.9.3's test
unikernels (test_hello prints its command line and exits 0, test_net keeps running and exits 1 on
an argument it does not know, test_blk checks its volume and exits 0). The test server's
equivalents are the solo5-*.hvt images of tests/images/make_images.py.
"""

from __future__ import annotations

import time

from albatross_sim import elf

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice, Command, Failure, FailBehaviour, NetworkInterface, SinceCount, Success, UnikernelConfig,
)
from ansible_collections.unikernels.albatross.tests.images.make_images import STANDARD_IMAGES, make_image

HELLO = make_image(**STANDARD_IMAGES["solo5-hello.hvt"])
NET = make_image(**STANDARD_IMAGES["solo5-net.hvt"])
BLK = make_image(**STANDARD_IMAGES["solo5-blk.hvt"])
START = "Solo5: Bindings version v0.9.0"


def config(image: bytes = HELLO, **kwargs) -> UnikernelConfig:
    values = dict(cpuids=(0,), memory=32, image=image, add_name=False)
    values.update(kwargs)
    return UnikernelConfig(**values)


def reply(result):
    assert result.eof, result
    assert len(result.wires) == 1, result.wires
    return result.wires[0].payload


def create(raw, name, cfg):
    return reply(raw.call(name, Command("unikernel_create", cfg)))


def destroy(raw, name):
    return reply(raw.call(name, Command("unikernel_destroy")))


def info(raw, name):
    return reply(raw.call(name, Command("unikernel_info"))).value


def console(raw, name):
    result = raw.call(name, Command("console_subscribe", SinceCount(count=1024)), duration=0.3)
    return [p.value.data.decode() for p in result.payloads[1:]]


def wait_gone(raw, name, timeout=5.0):
    deadline = time.monotonic() + timeout
    while info(raw, name):
        assert time.monotonic() < deadline, "%s still running" % name
        time.sleep(0.05)


def test_images_match_the_solo5_test_unikernels() -> None:
    assert elf.read_manifest(NET) and b'"usage_exit":1' in NET and b'"exit_code":0' in HELLO
    assert b"storage" in BLK and b'"exit_code":0' in BLK


def test_exit_with_quit_removes_the_unikernel(raw) -> None:
    # Real: test_hello (fail behaviour quit, no --name, argv Hello_Solo5) printed "Command line is:
    # 'Hello_Solo5'", "SUCCESS", "Solo5: solo5_exit(0) called"; then `info` listed nothing, `stats`
    # gave nothing, `destroy` answered "destroy: not found", `get` "get: no unikernel found", the
    # console kept its lines and `console list-inactive` named it; the name could be used again.
    assert create(raw, "quits", config(argv=("Hello_Solo5",))) == Success("string", "created unikernel")
    wait_gone(raw, "quits")
    assert destroy(raw, "quits") == Failure("destroy: not found")
    assert reply(raw.call("quits", Command("unikernel_get", 0))) == Failure("get: no unikernel found")
    lines = console(raw, "quits")
    assert "arguments: Hello_Solo5" in lines and lines.count(START) == 1
    assert lines[-1] == "Solo5: solo5_exit(0) called"
    assert ":quits" in reply(raw.call(".", Command("console_list_inactive"))).value
    assert create(raw, "quits", config(argv=("Hello_Solo5",))) == Success("string", "created unikernel")
    wait_gone(raw, "quits")
    assert console(raw, "quits").count(START) == 2


def test_exit_with_add_name_leaves_nothing_to_destroy(raw) -> None:
    # Real: test_hello with add_name printed "Command line is: '--name=o1h2 x'" and exited 0; two
    # destroys then both answered "destroy: not found" (the waiter albatrossd registers for add_name
    # found neither a restart nor a rerun to do, and the name left the restarting set again).
    create(raw, "named0", config(add_name=True))
    wait_gone(raw, "named0")
    time.sleep(0.4)  # the test server's restart delay (0.2 s in these tests)
    assert destroy(raw, "named0") == Failure("destroy: not found")
    assert "arguments: --name=named0" in console(raw, "named0")


def test_restart_on_listed_exit_code(raw) -> None:
    # Real: test_hello with restart on exit 0 started 65 times within a second into the same console
    # ring (1024 lines); `destroy` answered "destroyed unikernel", a second one "destroyed: removed
    # from restarting", and no start followed. The test server restarts after --restart-delay.
    create(raw, "again", config(fail_behaviour=FailBehaviour(True, (0,))))
    deadline = time.monotonic() + 5
    while console(raw, "again").count(START) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert destroy(raw, "again") in (Success("string", "destroyed unikernel"),
                                     Success("string", "destroyed: removed from restarting"))
    wait_gone(raw, "again")
    count = console(raw, "again").count(START)
    time.sleep(0.5)
    assert info(raw, "again") == () and console(raw, "again").count(START) == count


def test_no_restart_on_unlisted_exit_code(raw) -> None:
    # Real: test_hello with restart on exit code 2 exited 0 once and was gone; "destroy: not found".
    create(raw, "unlisted", config(fail_behaviour=FailBehaviour(True, (2,))))
    wait_gone(raw, "unlisted")
    time.sleep(0.5)
    assert info(raw, "unlisted") == () and console(raw, "unlisted").count(START) == 1
    assert destroy(raw, "unlisted") == Failure("destroy: not found")


def test_unknown_argument_exit_1_is_never_restarted(raw) -> None:
    # Real: test_net with add_name and restart on every exit code printed "Error in command line.",
    # "Usage: test_net [ verbose | limit ]", "Solo5: solo5_exit(1) called" once and was gone:
    # albatrossd never restarts on 1, and reruns without --name only after exit 64. With argv
    # "verbose" and no --name it printed "[service0] Serving ping on 10.0.0.2, ..." and kept running.
    net = (NetworkInterface("service0", "service"),)
    create(raw, "picky", config(NET, network_interfaces=net, add_name=True, fail_behaviour=FailBehaviour(True, ())))
    wait_gone(raw, "picky")
    time.sleep(0.5)
    lines = console(raw, "picky")
    assert lines.count(START) == 1 and "Error in command line: unknown argument --name=picky" in lines
    assert lines[-1] == "Solo5: solo5_exit(1) called"
    # Started without --name and with an argument it knows, it keeps running.
    create(raw, "calm", config(NET, network_interfaces=net, argv=("verbose",)))
    time.sleep(0.5)
    assert [i.name for i in info(raw, "calm")] == [":calm"]
    assert destroy(raw, "calm") == Success("string", "destroyed unikernel")


def test_usage_exit_64_reruns_once_without_the_name(raw) -> None:
    # Real, with a solo5 unikernel built to exit 64 on --name= (as MirageOS ones do on an unknown
    # argument), fail behaviour quit: "Command line is: '--name=o3u1 --port=80'", "Solo5:
    # solo5_exit(64) called", then at once "Command line is: '--port=80'" and it kept running; `info`
    # showed argv --port=80. A later `restart` kept it without --name (albatrossd.ml: the rerun is
    # created with add_name = false).
    mirage = elf.build_image(behaviour='{"accept_args": ["--port="], "usage_exit": 64}')
    create(raw, "mirage", config(mirage, add_name=True, argv=("--port=80",)))
    time.sleep(0.8)
    [running] = info(raw, "mirage")
    assert running.argv == ("--port=80",)
    lines = console(raw, "mirage")
    assert lines.count(START) == 2
    assert "arguments: --name=mirage --port=80" in lines and "arguments: --port=80" in lines
    assert reply(raw.call("mirage", Command("unikernel_restart", None))) == Success("string", "created unikernel")
    time.sleep(0.3)
    lines = console(raw, "mirage")
    assert lines.count(START) == 3 and lines.count("arguments: --port=80") == 2
    assert "solo5-hvt: Exiting on signal 15" in lines
    assert destroy(raw, "mirage") == Success("string", "destroyed unikernel")


def test_block_unikernel_frees_its_volume_when_it_exits(raw) -> None:
    # Real: test_blk on a 2 MB volume ran 2.4 s ("**** Solo5 standalone test_blk ****", then
    # "SUCCESS", "Solo5: solo5_exit(0) called"); meanwhile `block info` showed the volume active and
    # `block set` answered "writing block data"; after the exit it was inactive and could be removed.
    assert reply(raw.call("scratch", Command("block_add", 1))) == Success("string", "added block device")
    create(raw, "checker", config(BLK, block_devices=(BlockDevice("storage", "scratch"),)))
    [volume] = reply(raw.call("scratch", Command("block_info"))).value
    assert volume.active is True
    assert reply(raw.call("scratch", Command("block_set", False), upload=[b"data"])) == Failure("writing block data")
    assert reply(raw.call("scratch", Command("block_remove"))) == Failure("remove block: is in use")
    wait_gone(raw, "checker")
    [volume] = reply(raw.call("scratch", Command("block_info"))).value
    assert volume.active is False
    assert reply(raw.call("scratch", Command("block_remove"))) == Success("string", "removed block")


def test_statistics_stop_when_the_unikernel_exits(raw) -> None:
    # Real: the client's `stats` of test_hello after its exit returned nothing, while test_net
    # (running) reported samples with its interface service0. A subscription for an exited name
    # is accepted and stays silent (albatrossd sent albatross-stats "remove" at the exit).
    net = (NetworkInterface("service0", "service"),)
    create(raw, "keeps", config(NET, network_interfaces=net))
    create(raw, "leaves", config())
    wait_gone(raw, "leaves")
    gone = raw.call("leaves", Command("stats_subscribe"), duration=0.7)
    assert gone.payloads == [Success("string", "subscribed")]
    alive = raw.call("keeps", Command("stats_subscribe"), duration=0.7)
    assert alive.payloads[0] == Success("string", "subscribed") and len(alive.payloads) > 1
    destroy(raw, "keeps")


def test_block_set_of_a_missing_volume(raw) -> None:
    # Real: `block set` of a missing volume answered "writing block data" with 4 bytes and 3 MB
    # of data (vmmd refused and closed its socket while the endpoint still passed the upload on),
    # once "set block: not found" with 100 kB. The test server always gives the former.
    result = raw.call("absent-volume", Command("block_set", False), upload=[b"data"])
    assert reply(result) == Failure("writing block data")


def test_destroy_is_signal_15_on_the_console(raw) -> None:
    # Real: after a `restart` of a running unikernel its console had "solo5-hvt: Exiting on signal 15".
    net = (NetworkInterface("service0", "service"),)
    create(raw, "ended", config(NET, network_interfaces=net))
    assert destroy(raw, "ended") == Success("string", "destroyed unikernel")
    assert console(raw, "ended")[-1] == "solo5-hvt: Exiting on signal 15"
    assert destroy(raw, "ended") == Success("string", "destroyed: removed from restarting")
    assert destroy(raw, "ended") == Failure("destroy: not found")
