# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""State survives a restart of the test server, like albatrossd restoring its state dump."""

from __future__ import annotations

import json
import os

from albatross_fixture import start_server
from albatross_sim import elf, rawclient, sim

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDevice, Command, Policy, SinceCount, Success, UnikernelConfig, Volume,
)
from ansible_collections.unikernels.albatross.tests.images.make_images import make_image

POLICY = Policy(unikernels=2, cpuids=(0,), memory=128, block=10, bridges=("service",))


def test_restart_restores_policies_unikernels_blocks_and_consoles(tmp_path) -> None:
    info = start_server(tmp_path, stats_interval=5)
    try:
        for name in ("ca.pem", "ca.key", "server.pem", "server.key"):
            assert os.path.exists(os.path.join(info.state_dir, name))
        assert oct(os.stat(info.client_key).st_mode & 0o777) == "0o600"
        assert {"hello.hvt", "net.hvt", "blk.hvt"} <= set(os.listdir(info.images_dir))
        ca, ca_key = rawclient.load(info.client_cert, info.client_key)
        sub, sub_key = rawclient.sub_ca(ca, ca_key, "keep", POLICY)

        def call(cn, command, upload=None, duration=None):
            cert, key = rawclient.leaf(sub, sub_key, cn, command)
            return rawclient.call((info.host, info.port), info.server_ca, [cert, sub], key, upload=upload,
                                  duration=duration)

        assert call("vol", Command("block_add", 1)).payloads == [Success("string", "added block device")]
        call("vol", Command("block_set", False), upload=[b"persisted"])
        with open(os.path.join(info.images_dir, "blk.hvt"), "rb") as handle:
            image = handle.read()
        cfg = UnikernelConfig(cpuids=(0,), memory=32, image=image, startup=10, argv=("--k=v",),
                              block_devices=(BlockDevice("storage", "vol"),))
        assert call("svc", Command("unikernel_create", cfg)).payloads == [Success("string", "created unikernel")]
        [before] = call("svc", Command("unikernel_info")).payloads[0].value
        address = info.address
        info.restart()
        assert info.address == address
        [after] = call("svc", Command("unikernel_info")).payloads[0].value
        assert after.started > before.started
        assert (after.digest, after.argv, after.startup, after.block_devices) == (
            before.digest, before.argv, before.startup, before.block_devices)
        assert call(".", Command("policy_info")).payloads[0] == Success("policies", ((":", POLICY),))
        assert call(".", Command("block_info")).payloads[0] == Success("block_devices", (Volume(":vol", 1, True),))
        stream = call("svc", Command("console_subscribe", SinceCount(count=100)), duration=0.3)
        history = [p.value.data for p in stream.payloads[1:]]
        assert history.count(b"hello from svc: started") == 2
        call("svc", Command("unikernel_destroy"))
        dump = call("vol", Command("block_dump", 0))
        assert dump.payloads[1].value.startswith(b"persisted\x00")
        with open(os.path.join(info.state_dir, "state.json"), encoding="utf-8") as handle:
            state = json.load(handle)
        assert state["unikernels"] == [] and "keep:" in state["policies"]
    finally:
        info.stop()
    assert "Traceback" not in info.log()


def test_elf_reader_reads_both_image_writers() -> None:
    image = elf.build_image(blocks=["storage"], nets=["service"], behaviour='{"version": "1"}')
    assert elf.read_manifest(image) == [("block", "storage"), ("net", "service")]
    assert elf.read_abi(image) == elf.Abi("hvt", 2)
    other = make_image(blocks=("storage",), networks=("service",), target="spt", behaviour={"exit_code": 3})
    assert elf.read_manifest(other) == [("block", "storage"), ("net", "service")]
    assert elf.read_abi(other) == elf.Abi("spt", 2)
    assert sim.behaviour(other).exit_code == 3
