# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decisions of the unikernel module against a fake albatross client."""

from __future__ import annotations

import json
import os
import signal

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _unikernel
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import AlbatrossConnectionError, CommandFailed
from ansible_collections.unikernels.albatross.plugins.module_utils._image_source import ImageSource
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules import unikernel_fakes as fakes


@pytest.fixture
def images(tmp_path):
    paths = {}
    for name, kwargs in {
        "hello": {}, "hello2": {"version": 2}, "net": {"networks": ("service",)}, "blk": {"blocks": ("storage",)},
    }.items():
        path = tmp_path / f"{name}.hvt"
        path.write_bytes(fakes.make_image(**kwargs))
        paths[name] = str(path)
    return paths


def run(client, check_mode=False, diff=True, **args):
    return fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, client, args, check_mode=check_mode, diff=diff)


def run_checked(client, **args):
    """Check mode first, then the real run: the prediction must match and change nothing."""
    before = client.mutations()
    predicted = run(client, check_mode=True, **args)
    assert client.mutations() == before
    real = run(client, **args)
    assert not predicted.get("failed"), predicted
    assert not real.get("failed"), real
    assert predicted["changed"] == real["changed"]
    assert predicted["action"] == real["action"]
    assert predicted["diff"] == real["diff"]
    return real


def test_create_then_noop(images):
    client = fakes.FakeClient()
    result = run_checked(client, name="Web", image=images["hello"])
    assert result["changed"] and result["action"] == "created"
    assert result["unikernel"]["name"] == ":web"
    assert result["unikernel"]["memory"] == 32 and result["unikernel"]["cpuids"] == [0]
    assert result["unikernel"]["digest"] == fakes.sha(open(images["hello"], "rb").read())
    assert result["unikernel"]["started"] == "2025-01-01T00:00:00Z"
    config = client.calls[[c[0] for c in client.calls].index("unikernel_create")][1][1]
    assert config.add_name is True and config.argv is None and config.memory == 32
    again = run_checked(client, name="web", image=images["hello"])
    assert not again["changed"] and again["action"] == "none"
    assert again["diff"]["before"] == again["diff"]["after"]
    assert client.mutations() == ["unikernel_create"]


def test_replace_on_digest_change(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"], memory=64)
    result = run_checked(client, name="web", image=images["hello2"])
    assert result["action"] == "replaced" and result["differences"] == ["digest"]
    name, args, kwargs = client.calls[-2]
    assert name == "unikernel_create" and kwargs["force"] is True
    assert args[1].memory == 64  # left out: kept
    assert result["diff"]["before"]["digest"] != result["diff"]["after"]["digest"]


def test_replace_on_memory_change_uses_server_image(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    result = run_checked(client, name="web", memory=128)
    assert result["action"] == "replaced" and result["differences"] == ["memory"]
    assert "unikernel_get" in client.call_names()
    assert result["unikernel"]["memory"] == 128
    assert result["unikernel"]["digest"] == fakes.sha(open(images["hello"], "rb").read())


def test_restart_with_arguments(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"], arguments=["--a"])
    result = run_checked(client, name="web", image=images["hello"], arguments=["--b", "--c"], fail_behaviour="restart")
    assert result["action"] == "restarted_with_arguments"
    assert result["differences"] == ["arguments", "fail_behaviour"]
    assert client.mutations() == ["unikernel_create", "unikernel_restart"]
    assert result["unikernel"]["arguments"] == ["--b", "--c"]
    assert result["unikernel"]["fail_behaviour"] == "restart"
    assert not run(client, name="web", image=images["hello"], arguments=["--b", "--c"], fail_behaviour="restart")["changed"]


def test_omitted_options_never_drift(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["net"], memory=64, cpuids=[1], arguments=["--x"], startup=10,
        fail_behaviour="restart", restart_exit_codes=[3], network_interfaces=[{"name": "service", "mac": "00:80:41:01:02:03"}])
    for args in ({}, {"image": images["net"]}, {"network_interfaces": [{"name": "service"}]},
                 {"network_interfaces": [{"name": "service", "bridge": "service"}]}, {"fail_behaviour": "restart"}):
        result = run(client, name="web", **args)
        assert not result["changed"], (args, result)
    assert client.mutations() == ["unikernel_create"]


def test_mac_and_exit_codes_are_compared_when_given(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["net"], network_interfaces=[{"name": "service"}])
    result = run(client, name="web", network_interfaces=[{"name": "service", "mac": "00:80:41:aa:bb:cc"}], check_mode=True)
    assert result["changed"] and result["differences"] == ["network_interfaces"]
    assert result["action"] == "restarted_with_arguments"
    result = run(client, name="web", restart_exit_codes=[2], check_mode=True)
    assert result["differences"] == ["fail_behaviour", "restart_exit_codes"]


def test_diff_shape(images):
    client = fakes.FakeClient()
    result = run(client, name="web", image=images["hello"], check_mode=True)
    assert result["diff"]["before"] == {"name": "web", "state": "absent"}
    after = result["diff"]["after"]
    assert after["state"] == "present" and after["memory"] == 32 and after["digest"] == fakes.sha(open(images["hello"], "rb").read())
    assert set(after) == {"name", "state", "digest", "memory", "cpuids", "cpus", "arguments", "block_devices",
                          "network_interfaces", "fail_behaviour", "restart_exit_codes", "startup"}
    assert "diff" not in run(client, name="web", image=images["hello"], check_mode=True, diff=False)


def test_absent_twice(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    first = run_checked(client, name="web", state="absent")
    assert first["changed"] and first["action"] == "destroyed" and first["unikernel"] is None
    assert first["diff"]["after"] == {"name": "web", "state": "absent"}
    second = run_checked(client, name="web", state="absent")
    assert not second["changed"]
    assert client.mutations() == ["unikernel_create", "unikernel_destroy"]


def test_absent_race_not_found_is_absent(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    client.fail_next["unikernel_destroy"] = CommandFailed("destroy: not found")
    assert not run(client, name="web", state="absent")["changed"]


def test_restarted(images):
    client = fakes.FakeClient()
    failed = run(client, name="web", state="restarted")
    assert failed["failed"] and "not running" in failed["msg"]
    run(client, name="web", image=images["hello"])
    result = run_checked(client, name="web", state="restarted")
    assert result["changed"] and result["action"] == "restarted"
    assert client.mutations() == ["unikernel_create", "unikernel_restart"]


@pytest.mark.parametrize("args, words", [
    ({"name": "-bad", "image": "hello"}, "invalid label"),
    ({"name": "web", "image": "net"}, "does not match with the manifest"),
    ({"name": "web", "image": "hello", "network_interfaces": [{"name": "service"}]}, "does not match with the manifest"),
    ({"name": "web", "image": "net", "network_interfaces": [{"name": "service", "bridge": "nope"}]}, "not allowed by policy"),
    ({"name": "web", "image": "net", "network_interfaces": [{"name": "service", "mac": "xx"}]}, "invalid MAC"),
    ({"name": "web", "image": "hello", "memory": 4096}, "exceeds policy"),
    ({"name": "web", "image": "hello", "cpuids": [7]}, "not allowed by policy"),
    ({"name": "web", "image": "hello", "fail_behaviour": "quit", "restart_exit_codes": [1]}, "restart_exit_codes"),
    ({"name": "web", "image": "blk", "block_devices": [{"name": "storage", "sector_size": 100}]}, "sector_size"),
    ({"name": "web", "image": "blk", "block_devices": [{"name": "storage"}, {"name": "storage"}]}, "unique"),
    ({"name": "web"}, "image, image_url or builder_web is required"),
    ({"name": "web", "image": "/does/not/exist"}, "cannot read image"),
    ({"name": "web", "image": "hello", "image_url": "http://127.0.0.1:1/x"}, "mutually exclusive"),
    ({"name": "web", "image": "hello", "image_sha256": "00"}, "image_url"),
])
def test_bad_input_changes_nothing(images, args, words):
    client = fakes.FakeClient()
    args = dict(args)
    if args.get("image") in images:
        args["image"] = images[args["image"]]
    for check_mode in (True, False):
        result = run(client, check_mode=check_mode, **args)
        assert result.get("failed"), result
        assert words in result["msg"], result["msg"]
    assert client.mutations() == []


def test_bad_input_on_existing_unikernel_keeps_it(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    result = run(client, name="web", image=images["net"])
    assert result["failed"] and "manifest" in result["msg"]
    assert client.mutations() == ["unikernel_create"]


def test_recreate_never_and_always(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    never = run(client, name="web", image=images["hello2"], recreate="never")
    assert not never["changed"] and never["differences"] == ["digest"]
    assert "recreate=never" in never["warnings"][0]
    always = run_checked(client, name="web", image=images["hello"], recreate="always")
    assert always["changed"] and always["action"] == "replaced"
    assert run(client, name="web", image=images["hello"], recreate="always")["changed"]


def test_backup_dir(images, tmp_path):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"], memory=48, arguments=["--v1"])
    backup = tmp_path / "backup"
    result = run(client, name="web", image=images["hello2"], backup_dir=str(backup))
    # <backup_dir>/<key>/<name>.*, the key being the server address (docs/upgrades.md), as the roles read it.
    kept = backup / "127.0.0.1_1025"
    assert result["backup"] == {"image": str(kept / "web.hvt"), "config": str(kept / "web.json")}
    assert (kept / "web.hvt").read_bytes() == open(images["hello"], "rb").read()
    config = json.loads((kept / "web.json").read_text())
    assert config["options"]["memory"] == 48 and config["options"]["arguments"] == ["--v1"]
    assert config["digest"] == fakes.sha(open(images["hello"], "rb").read())
    assert oct((kept / "web.hvt").stat().st_mode & 0o777) == "0o600"
    assert oct(kept.stat().st_mode & 0o777) == "0o700"
    # An explicit key (the roles pass theirs) and a tenant path in the default key.
    result = run(client, name="web", image=images["hello"], backup_dir=str(backup), backup_key="alb1")
    assert result["backup"]["image"] == str(backup / "alb1" / "web.hvt")
    client.path = ("alice",)
    result = run(client, name="web", image=images["hello2"], backup_dir=str(backup))
    assert result["backup"]["image"] == str(backup / "127.0.0.1_1025_alice" / "web.hvt")
    # check mode writes nothing
    run(client, name="web", image=images["hello"], backup_dir=str(tmp_path / "other"), check_mode=True)
    assert not (tmp_path / "other").exists()


def test_image_sha256_matching_means_no_download(images, monkeypatch):
    client = fakes.FakeClient()
    data = open(images["hello"], "rb").read()
    run(client, name="web", image=images["hello"])
    monkeypatch.setattr(ImageSource, "_fetch_url", lambda self: pytest.fail("downloaded"))
    result = run(client, name="web", image_url="https://127.0.0.1:9/web.hvt", image_sha256=fakes.sha(data).upper())
    assert not result["changed"], result


def test_image_url_checked_against_sha256(images, monkeypatch):
    client = fakes.FakeClient()
    monkeypatch.setattr(ImageSource, "_fetch_url", lambda self: open(images["hello2"], "rb").read())
    result = run(client, name="web", image_url="https://127.0.0.1:9/web.hvt", image_sha256="0" * 64)
    assert result["failed"] and "expected " + "0" * 64 in result["msg"]
    result = run(client, name="web", image_url="https://127.0.0.1:9/web.hvt")
    assert result["changed"] and result["image_source"]["sha256"] == fakes.sha(open(images["hello2"], "rb").read())


class FakeBuilderWeb:
    def __init__(self, data):
        self.data = data
        self.downloads = 0

    def latest_build(self, job):
        return {"uuid": "7b6e0c43-1111-2222-3333-444455556666", "job": job, "main_binary_sha256": fakes.sha(self.data)}

    def download_main_binary(self, job, uuid, out, expected):
        self.downloads += 1
        out.write(self.data)


def test_builder_web_downloads_only_when_new(images, monkeypatch):
    client = fakes.FakeClient()
    web = FakeBuilderWeb(open(images["hello"], "rb").read())
    monkeypatch.setattr(ImageSource, "_builder", lambda self: web)
    args = {"name": "web", "builder_web": {"url": "https://builds.example", "job": "hello"}}
    check = run(client, check_mode=True, **args)
    assert check["changed"] and web.downloads == 0
    assert run(client, **args)["action"] == "created" and web.downloads == 1
    again = run(client, **args)
    assert not again["changed"] and web.downloads == 1
    assert again["image_source"]["uuid"].startswith("7b6e")


def test_errors_name_operation_and_server(images):
    client = fakes.FakeClient()
    client.fail_next["unikernel_info"] = AlbatrossConnectionError("connection refused")
    result = run(client, name="web", image=images["hello"])
    assert result["msg"] == "Error reading unikernel web on 127.0.0.1:1025: cannot connect: connection refused"
    client.fail_next["unikernel_create"] = CommandFailed("interface service does not exist")
    result = run(client, name="web", image=images["hello"])
    assert result["msg"] == "Error creating unikernel web on 127.0.0.1:1025: the server answered: interface service does not exist"
    assert result["server_message"] == "interface service does not exist"


def test_bhyve_guest_is_left_alone(images):
    import dataclasses
    client = fakes.FakeClient()
    run(client, name="vm", image=images["hello"])
    info, data, add_name = client.unikernels["vm"]
    client.unikernels["vm"] = (dataclasses.replace(info, typ="bhyve", digest=b"alba-00001"), data, add_name)
    result = run(client, name="vm", image=images["hello"])
    assert result["failed"] and "solo5 unikernels only" in result["msg"]
    assert client.mutations() == ["unikernel_create"]


def test_device_change_is_checked_against_the_running_image_in_check_mode_too(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    for check_mode in (True, False):
        result = run(client, check_mode=check_mode, name="web", network_interfaces=[{"name": "service"}])
        assert result["failed"] and "does not match with the manifest" in result["msg"], result
        assert result["msg"].startswith("Error checking the image of unikernel web: network_interfaces does not match with the manifest of the running image")
    assert client.mutations() == ["unikernel_create"]
    assert client.call_names().count("unikernel_get") == 2


def test_running_image_is_fetched_only_when_device_names_change(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["net"], network_interfaces=[{"name": "service"}])
    client.calls.clear()
    predicted = run(client, check_mode=True, name="web", memory=64)
    assert predicted["action"] == "replaced" and "unikernel_get" not in client.call_names()
    predicted = run(client, check_mode=True, name="web", network_interfaces=[{"name": "service", "bridge": "br0"}])
    assert predicted["action"] == "restarted_with_arguments" and "unikernel_get" not in client.call_names()
    assert "unikernel_get" not in client.call_names()
    real = run_checked(client, name="web", network_interfaces=[{"name": "service", "bridge": "br0"}], backup_dir=None)
    assert real["unikernel"]["network_interfaces"][0]["bridge"] == "br0"
    # The real run reads the running image once: it is kept to create the unikernel again should the restart fail.
    assert client.call_names().count("unikernel_get") == 1


# --- interrupted and failed changes: the old or the new unikernel runs afterwards, never neither ---------------

def _deployed(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["net"], memory=48, arguments=["--v1"], network_interfaces=[{"name": "service"}])
    before = client.unikernels["web"]
    client.calls.clear()
    return client, before


def test_force_create_failing_after_the_old_stopped_recreates_the_old(images):
    client, before = _deployed(images)
    # albatross stops the old unikernel, then the create of the new one fails: neither would run.
    client.fail_after_stop["unikernel_create"] = CommandFailed("interface nope does not exist")
    result = run(client, name="web", image=images["net"], memory=64, network_interfaces=[{"name": "service", "bridge": "br0"}])
    assert result["failed"]
    assert result["msg"] == ("Replacing unikernel web on 127.0.0.1:1025 failed (the server answered: interface nope does not exist), "
                             "so the previous unikernel (image %s with its configuration) was created again and runs."
                             % fakes.sha(open(images["net"], "rb").read())[:12])
    creates = [c for c in client.calls if c[0] == "unikernel_create"]
    assert [c[2]["force"] for c in creates] == [True, False]  # the restore never stops anything
    assert client.unikernels["web"][1] == before[1] and result["restored"] is True  # the image read before the replace
    assert creates[1][1][1].memory == 48 and creates[1][1][1].add_name is True
    assert result["server_message"] == "interface nope does not exist"
    info = client.unikernels["web"][0]
    assert info.memory == 48 and info.argv == ("--v1",) and info.digest == before[0].digest
    assert info.network_interfaces == before[0].network_interfaces  # the same MAC too
    # The next run converges.
    again = run(client, name="web", image=images["net"], memory=64)
    assert again["changed"] and again["action"] == "replaced" and client.unikernels["web"][0].memory == 64


def test_failed_restart_with_new_arguments_recreates_the_old(images):
    client, before = _deployed(images)
    client.fail_after_stop["unikernel_restart"] = CommandFailed("block device :data not found")
    result = run(client, name="web", arguments=["--v2"])
    assert result["failed"] and result["msg"].startswith(
        "Restarting unikernel web with new arguments on 127.0.0.1:1025 failed (the server answered: block device :data not found), "
        "so the previous unikernel")
    assert client.unikernels["web"][0].argv == ("--v1",) and client.unikernels["web"][1] == before[1]


def test_replace_refused_before_the_old_stopped_changes_nothing(images):
    client, before = _deployed(images)
    client.fail_next["unikernel_create"] = CommandFailed("maximum allowed memory (64, used 48) would be exceeded (requesting 96)")
    result = run(client, name="web", memory=96)
    assert result["failed"] and result["msg"].endswith(
        "would be exceeded (requesting 96). Unikernel web still runs its previous image and configuration; nothing was changed.")
    assert client.unikernels["web"] == before
    assert [c[2]["force"] for c in client.calls if c[0] == "unikernel_create"] == [True]


def test_upload_cut_short_changes_nothing(images):
    client, before = _deployed(images)
    client.fail_next["unikernel_create"] = AlbatrossConnectionError("connection reset while sending the image")
    result = run(client, name="web", image=images["net"], memory=64)
    assert result["failed"] and "nothing was changed" in result["msg"] and "connection reset" in result["msg"]
    assert client.unikernels["web"] == before


def test_lost_reply_after_a_done_replace_is_a_change(images):
    client, dummy = _deployed(images)
    client.lose_reply["unikernel_create"] = AlbatrossConnectionError("connection closed")
    result = run(client, name="web", image=images["net"], memory=64)
    assert not result.get("failed") and result["changed"] and result["action"] == "replaced"
    assert "so the change was made" in result["warnings"][0]
    assert result["unikernel"]["memory"] == 64


def test_lost_reply_with_recreate_always_tells_by_the_start_time(images):
    client, before = _deployed(images)
    client.fail_next["unikernel_create"] = AlbatrossConnectionError("connection closed")
    result = run(client, name="web", recreate="always")
    assert result["failed"] and "nothing was changed" in result["msg"]
    client.lose_reply["unikernel_create"] = AlbatrossConnectionError("connection closed")
    result = run(client, name="web", recreate="always")
    assert not result.get("failed") and result["changed"] and client.unikernels["web"][0].started != before[0].started


def test_lost_reply_after_a_failed_create_restores_the_old(images):
    client, before = _deployed(images)
    client.fail_after_stop["unikernel_create"] = AlbatrossConnectionError("timed out waiting for the reply")
    result = run(client, name="web", memory=64)
    assert result["failed"] and "was created again and runs" in result["msg"]
    assert client.unikernels["web"][0].memory == 48


def test_failed_restore_says_where_the_old_one_is(images, tmp_path):
    client, before = _deployed(images)
    client.fail_after_stop["unikernel_create"] = CommandFailed("interface nope does not exist")
    client.lose_reply["unikernel_create"] = CommandFailed("unused")

    def refuse_restore(name, config, image, force=False, compression=0):
        client.calls.append(("unikernel_create", (name, config, image), {"force": force}))
        if not force:
            raise CommandFailed("could not create unikernel: console failed")
        return original(name, config, image, force=force, compression=compression)
    original = client.unikernel_create
    client.unikernel_create = refuse_restore
    backup = tmp_path / "kept"
    result = run(client, name="web", memory=64, backup_dir=str(backup))
    assert result["failed"] and "web" not in client.unikernels
    kept = backup / "127.0.0.1_1025"
    assert ("and creating the previous unikernel again failed too (the server answered: could not create unikernel: console failed)"
            in result["msg"])
    assert str(kept / "web.hvt") in result["msg"] and str(kept / "web.json") in result["msg"]
    assert "unikernels.albatross.rollback" in result["msg"]
    # Without backup_dir the old image and configuration go to a new private directory.
    client.unikernel_create = original
    run(client, name="web", image=images["net"], memory=48, arguments=["--v1"], network_interfaces=[{"name": "service"}])
    client.unikernel_create = refuse_restore
    client.fail_after_stop["unikernel_create"] = CommandFailed("interface nope does not exist")
    result = run(client, name="web", memory=64)
    path = result["msg"].split(" are in ")[1].split(" and ")[0]
    assert open(path, "rb").read() == before[1]
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    assert json.loads(open(path[:-4] + ".json").read())["options"]["memory"] == 48


def test_lost_reply_of_a_create_that_was_made_is_a_change(images):
    client = fakes.FakeClient()
    client.lose_reply["unikernel_create"] = AlbatrossConnectionError("connection closed")
    result = run(client, name="web", image=images["hello"])
    assert result["changed"] and result["action"] == "created" and "so the change was made" in result["warnings"][0]
    client2 = fakes.FakeClient()
    client2.fail_next["unikernel_create"] = AlbatrossConnectionError("connection closed")
    result = run(client2, name="web", image=images["hello"])
    assert result["failed"] and client2.unikernels == {}


def test_volume_with_a_pending_data_write_is_refused(images):
    from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import marker_label
    client = fakes.FakeClient()
    client.volumes["storage"] = (16, b"")
    client.volumes[marker_label("storage")] = (1, b"")
    for check_mode in (True, False):
        result = run(client, check_mode=check_mode, name="web", image=images["blk"], block_devices=[{"name": "storage"}])
        assert result["failed"] and "write-in-progress marker %s exists" % marker_label("storage") in result["msg"], result
    assert client.mutations() == []
    del client.volumes[marker_label("storage")]
    assert run(client, name="web", image=images["blk"], block_devices=[{"name": "storage"}])["action"] == "created"


def test_replace_with_a_new_image_keeps_the_running_one_to_restore(images):
    client = fakes.FakeClient()
    run(client, name="web", image=images["hello"])
    client.calls.clear()
    client.fail_after_stop["unikernel_create"] = CommandFailed("tender does not exist, looked for solo5-hvt")
    result = run(client, name="web", image=images["hello2"])
    assert result["failed"] and result["restored"] is True
    names = client.call_names()
    assert names.index("unikernel_get") < names.index("unikernel_create")
    assert client.unikernels["web"][1] == open(images["hello"], "rb").read()


def test_ctrl_c_waits_until_the_replace_is_settled(images):
    """Ansible's worker exits at once on SIGINT; during a replace and its recovery the signal waits."""
    client, before = _deployed(images)
    seen = []
    original = client.unikernel_create

    def interrupted_create(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # ctrl-c while albatross works on the replace
        seen.append(("during the create", list(delivered)))
        return original(*args, **kwargs)
    delivered: list[int] = []
    client.unikernel_create = interrupted_create
    client.fail_after_stop["unikernel_create"] = CommandFailed("interface nope does not exist")
    previous = signal.signal(signal.SIGINT, lambda number, frame: delivered.append(number))
    try:
        result = run(client, name="web", memory=64)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen[0] == ("during the create", []) and delivered == [signal.SIGINT]
    assert result["failed"] and result["restored"] is True
    assert client.unikernels["web"][0].memory == 48


def test_plain_restart_says_whether_the_unikernel_runs(images):
    client, dummy = _deployed(images)
    client.fail_after_stop["unikernel_restart"] = CommandFailed("could not create unikernel: console failed")
    result = run(client, name="web", state="restarted")
    assert result["failed"] and result["msg"].endswith(
        "Albatross stopped unikernel web and could not start it again, so it does not run now: "
        "create it with state=present and its image.")
    assert result["server_message"] == "could not create unikernel: console failed"
    run(client, name="web", image=images["net"], network_interfaces=[{"name": "service"}])
    client.lose_reply["unikernel_restart"] = AlbatrossConnectionError("connection closed")
    result = run(client, name="web", state="restarted")
    assert result["changed"] and "so the restart was made" in result["warnings"][0]
    client.fail_next["unikernel_restart"] = AlbatrossConnectionError("connection refused")
    result = run(client, name="web", state="restarted")
    assert result["failed"] and result["msg"].endswith("it was not restarted.")
