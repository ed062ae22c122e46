# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""unikernel_info and unikernel_image against a fake albatross client."""

from __future__ import annotations

from ansible_collections.unikernels.albatross.plugins.module_utils import _unikernel, _unikernel_info
from ansible_collections.unikernels.albatross.tests.unit.plugins.modules import unikernel_fakes as fakes


def client_with(tmp_path, *names):
    client = fakes.FakeClient()
    image = tmp_path / "hello.hvt"
    image.write_bytes(fakes.make_image())
    for name in names:
        fakes.run(_unikernel.MODULE_SPEC, _unikernel.run_module, client, {"name": name, "image": str(image)})
    client.calls.clear()
    return client


def test_info_lists_all_and_one(tmp_path):
    client = client_with(tmp_path, "b", "a")
    result = fakes.run(_unikernel_info.INFO_SPEC, _unikernel_info.run_info, client, {})
    assert [u["name"] for u in result["unikernels"]] == [":a", ":b"] and not result["changed"]
    result = fakes.run(_unikernel_info.INFO_SPEC, _unikernel_info.run_info, client, {"name": "A"}, check_mode=True)
    assert [u["name"] for u in result["unikernels"]] == [":a"]
    assert fakes.run(_unikernel_info.INFO_SPEC, _unikernel_info.run_info, client, {"name": "zz"})["unikernels"] == []
    assert "invalid label" in fakes.run(_unikernel_info.INFO_SPEC, _unikernel_info.run_info, client, {"name": "a:b"})["msg"]
    assert client.mutations() == []


def run_image(client, check_mode=False, **args):
    return fakes.run(_unikernel_info.IMAGE_SPEC, _unikernel_info.run_image, client, args, check_mode=check_mode)


def test_image_download_is_idempotent(tmp_path):
    client = client_with(tmp_path, "web")
    data = (tmp_path / "hello.hvt").read_bytes()
    dest = tmp_path / "out.hvt"
    check = run_image(client, check_mode=True, name="web", dest=str(dest))
    assert check["changed"] and not dest.exists() and "unikernel_get" not in client.call_names()
    first = run_image(client, name="web", dest=str(dest))
    assert first["changed"] and dest.read_bytes() == data and first["size"] == len(data)
    assert first["digest"] == fakes.sha(data) and first["diff"]["before"]["digest"] is None
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    client.calls.clear()
    second = run_image(client, name="web", dest=str(dest))
    assert not second["changed"] and "unikernel_get" not in client.call_names()
    assert not run_image(client, check_mode=True, name="web", dest=str(dest))["changed"]


def test_image_of_missing_unikernel_fails(tmp_path):
    client = client_with(tmp_path)
    result = run_image(client, name="web", dest=str(tmp_path / "x"))
    assert result["failed"] and "not running" in result["msg"]


def test_image_dest_directory_must_exist(tmp_path):
    client = client_with(tmp_path, "web")
    result = run_image(client, name="web", dest=str(tmp_path / "missing" / "x.hvt"))
    assert result["failed"] and "does not exist" in result["msg"]
