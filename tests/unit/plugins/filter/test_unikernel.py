# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The unikernel_options, unikernel_drift and desired_state filters."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.unikernels.albatross.plugins.filter.unikernel import (
    FilterModule,
    desired_state,
    unikernel_drift,
    unikernel_options,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import (
    BlockDeviceInfo,
    FailBehaviour,
    NetworkInterfaceInfo,
    UnikernelInfo,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._common import unikernel_to_dict
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import current_view, options_of

RUNNING = {
    "name": ":web", "typ": "solo5", "memory": 64, "cpuids": [1, 0], "cpus": 1, "digest": "ab" * 32,
    "arguments": ["--ipv4=10.0.0.2/24"], "started": "2025-01-01T00:00:00Z", "linux_boot_partition": None,
    "block_devices": [{"name": "storage", "host_device": "data", "sector_size": 512, "size": 16}],
    "network_interfaces": [{"name": "service", "bridge": "br0", "mac": "00:80:41:AB:CD:EF"}],
    "fail_behaviour": "restart", "restart_exit_codes": [3, 2], "startup": 10,
}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"unikernel_options", "unikernel_drift", "desired_state"}


def test_options_of_a_running_unikernel():
    assert unikernel_options(RUNNING) == {
        "memory": 64, "cpuids": [0, 1], "cpus": 1, "arguments": ["--ipv4=10.0.0.2/24"],
        "block_devices": [{"name": "storage", "host_device": "data", "sector_size": 512}],
        "network_interfaces": [{"name": "service", "bridge": "br0", "mac": "00:80:41:ab:cd:ef"}],
        "fail_behaviour": "restart", "restart_exit_codes": [2, 3], "startup": 10,
    }
    quitting = dict(RUNNING, fail_behaviour="quit", restart_exit_codes=[])
    assert "restart_exit_codes" not in unikernel_options(quitting)


def test_options_match_what_the_module_keeps():
    """The filter and the module's backup_dir write the same options for the same unikernel."""
    info = UnikernelInfo(
        name=":web", fail_behaviour=FailBehaviour(True, (3,)), cpuids=(0,), memory=32, digest=bytes(32),
        block_devices=(BlockDeviceInfo("storage", "data", 512, 16),),
        network_interfaces=(NetworkInterfaceInfo("service", "br0", "00:80:41:12:34:56"),), argv=("--a",), startup=None)
    assert unikernel_options(unikernel_to_dict(info)) == options_of(current_view(info))


def test_options_need_a_unikernel():
    with pytest.raises(AnsibleFilterError, match="must be a dictionary"):
        unikernel_options("web")
    with pytest.raises(AnsibleFilterError, match="not a unikernel"):
        unikernel_options({"name": "web"})


def test_drift_compares_only_given_options():
    assert unikernel_drift(RUNNING, {"name": "web"}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "memory": 64, "cpuids": [1, 0]}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "memory": 32, "arguments": []}) == ["memory", "arguments"]
    assert unikernel_drift(RUNNING, {"name": "web", "network_interfaces": [{"name": "service", "bridge": "br1"}]}) == ["network_interfaces"]
    assert unikernel_drift(RUNNING, {"name": "web", "network_interfaces": [{"name": "service", "bridge": "br0"}]}) == []


def test_drift_of_the_image(tmp_path):
    image = tmp_path / "web.hvt"
    image.write_bytes(b"image")
    running = dict(RUNNING, digest=hashlib.sha256(b"image").hexdigest())
    assert unikernel_drift(running, {"name": "web", "image": str(image)}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "image": str(image)}) == ["digest"]
    assert unikernel_drift(RUNNING, {"name": "web", "image_url": "https://x/y", "image_sha256": "AB" * 32}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "builder_web": {"url": "https://b", "job": "j"}}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "builder_web": {"url": "https://b", "job": "j"}}, digest="cd" * 32) == ["digest"]


def test_drift_of_presence():
    assert unikernel_drift(None, {"name": "web"}) == ["absent"]
    assert unikernel_drift({}, {"name": "web", "state": "absent"}) == []
    assert unikernel_drift(RUNNING, {"name": "web", "state": "absent"}) == ["present"]
    with pytest.raises(AnsibleFilterError, match="invalid desired options of unikernel web"):
        unikernel_drift(RUNNING, {"name": "web", "memory": -1})


def test_desired_state_per_server(tmp_path):
    state = {
        "volumes": [{"name": "data", "size": 16, "data": "seed.img"}],
        "unikernels": [{"name": "web", "image": "images/web.hvt", "memory": 32}, {"name": "dns", "image": "/abs/dns.hvt"}],
        "servers": {"alb2": {"unikernels": [{"name": "WEB", "image": "images/web2.hvt"}], "prune": True}},
    }
    common = desired_state(state, server="alb1", base_dir=str(tmp_path))
    assert common["prune"] is False
    assert [u["image"] for u in common["unikernels"]] == [str(tmp_path / "images" / "web.hvt"), "/abs/dns.hvt"]
    assert common["volumes"][0]["data"] == str(tmp_path / "seed.img")
    alb2 = desired_state(state, server="alb2", base_dir=str(tmp_path))
    assert alb2["prune"] is True
    assert sorted((u["name"], u["image"]) for u in alb2["unikernels"]) == [
        ("WEB", str(tmp_path / "images" / "web2.hvt")), ("dns", "/abs/dns.hvt")]
    assert state["unikernels"][0]["image"] == "images/web.hvt"  # the input is not changed
    assert desired_state(None) == {"unikernels": [], "volumes": [], "prune": False}


def test_desired_state_errors():
    with pytest.raises(AnsibleFilterError, match="unknown keys in the desired state: colour"):
        desired_state({"colour": "red"})
    with pytest.raises(AnsibleFilterError, match="needs a name"):
        desired_state({"unikernels": [{"image": "x"}]})
    with pytest.raises(AnsibleFilterError, match="list of dictionaries"):
        desired_state({"volumes": "data"})
    with pytest.raises(AnsibleFilterError, match="servers.<name>"):
        desired_state({"unikernels": [{"name": "web", "server": "alb1"}]})
