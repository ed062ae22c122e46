# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/deploy.yml and playbooks/report.yml on two albatross test servers and a builder-web stand-in."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from ansible_collections.unikernels.albatross.tests.integration._playbooks import ROOT, connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import deploy, start_builder_web

pytestmark = pytest.mark.integration

SUFFIX = os.urandom(3).hex()


def inventory(servers) -> dict[str, dict[str, str]]:
    return {"s%d" % n: connection_vars(s) for n, s in enumerate(servers, 1)}


def sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_deploy_then_report(servers, tmp_path):
    images = servers[0].images_dir
    web, dns, extra = "web-" + SUFFIX, "dns-" + SUFFIX, "extra-" + SUFFIX
    state_dir = tmp_path / "state"
    os.makedirs(state_dir / "images")
    for name in ("web-v1.hvt", "net.hvt"):
        os.symlink(os.path.join(images, name), state_dir / "images" / name)
    state = {
        "volumes": [{"name": "data-" + SUFFIX, "size": 4}],
        "unikernels": [{"name": web, "image": "images/web-v1.hvt", "memory": 32, "network_interfaces": [{"name": "service"}]}],
        "servers": {"s2": {"unikernels": [{"name": dns, "image": "images/net.hvt", "network_interfaces": [{"name": "service"}]}]}},
    }
    (state_dir / "fleet.yml").write_text(yaml.safe_dump(state))

    deployed = run_playbook("upgrade_deploy_twice.yml", tmp_path, dict(
        albatross_deploy_hosts="s1,s2", albatross_desired_state_file=str(state_dir / "fleet.yml")),
        hosts=dict(inventory(servers), localhost={}), diff=False)
    assert deployed.returncode == 0, deployed.output[-4000:]
    runs = [r for r in deployed.records if r["task"] == "Bring the server to the desired state"]
    first = {r["host"]: r["result"] for r in runs[:2]}
    second = [r["result"] for r in runs[2:]]
    assert [(p["kind"], p["action"]) for p in first["s1"]["plan"]] == [("volume", "created"), ("unikernel", "created")]
    assert {p["name"] for p in first["s2"]["plan"] if p["kind"] == "unikernel"} == {web, dns}
    assert len(second) == 2 and all(not r["changed"] and r["plan"] == [] for r in second)

    # Now the wish changes (more memory for web, a unikernel that is not there), and s1 gets an unlisted one.
    state["unikernels"][0]["memory"] = 64
    state["unikernels"].append({"name": "missing-" + SUFFIX, "image": "images/net.hvt"})
    (state_dir / "fleet.yml").write_text(yaml.safe_dump(state))
    deploy(servers[0], extra, None, "net.hvt")
    builder = start_builder_web(tmp_path, images, {"web": ["web-v1.hvt", "web-v2.hvt"]})
    try:
        extra_vars = dict(albatross_report_hosts="s1,s2,s3", albatross_desired_state_file=str(state_dir / "fleet.yml"),
                          albatross_report_json=str(tmp_path / "report.json"), albatross_report_markdown=str(tmp_path / "report.md"),
                          albatross_report_html=str(tmp_path / "report.html"))
        hosts = inventory(servers)
        hosts["s3"] = dict(hosts["s1"], albatross_server="127.0.0.1:9")  # nothing listens there
        results = run_playbook(os.path.join(ROOT, "playbooks", "report.yml"), tmp_path, extra_vars,
                               hosts=dict(hosts, localhost={}), diff=False, env={"ALBATROSS_BUILDER_WEB_URL": builder.url})
    finally:
        builder.shutdown()
    assert results.returncode == 0, results.output[-4000:]
    with open(tmp_path / "report.json", encoding="utf-8") as handle:
        report = json.load(handle)
    rows = {(r["server"], (r["unikernel"] or "").split(":")[-1]): r for r in report["unikernels"]}
    assert set(rows) == {("s1", web), ("s1", extra), ("s1", "missing-" + SUFFIX), ("s2", web), ("s2", dns),
                         ("s2", "missing-" + SUFFIX), ("s3", "")}
    assert rows[("s1", extra)]["drift"] == ["not in the desired state"]
    assert "127.0.0.1:9" in rows[("s3", "")]["error"] and rows[("s3", "")]["unikernel"] is None

    row = rows[("s1", web)]
    assert row["digest"] == sha256(os.path.join(images, "web-v1.hvt")) and row["address"] == servers[0].address
    assert row["build"]["uuid"] == builder.builds["web-v1.hvt"] and row["latest_build"]["uuid"] == builder.builds["web-v2.hvt"]
    assert row["out_of_date"] is True and row["drift"] == ["memory"]
    assert rows[("s2", dns)]["build"] is None and rows[("s2", dns)]["out_of_date"] is None and rows[("s2", dns)]["drift"] == []
    assert rows[("s1", "missing-" + SUFFIX)]["drift"] == ["absent"] and rows[("s1", "missing-" + SUFFIX)]["digest"] is None

    markdown = (tmp_path / "report.md").read_text()
    assert "| Server | Unikernel | Digest | Build (job / uuid) | Latest build | Out of date? | Drift |" in markdown
    assert "| s1 | :%s | %s | web / %s | %s (2025-02-01) | **yes** | memory |" % (
        web, row["digest"][:12], row["build"]["uuid"][:8], row["latest_build"]["uuid"][:8]) in markdown
    assert "| s2 | :%s |" % dns in markdown and "unknown | none |" in markdown
    assert "| s1 | missing-%s | — | — | — | — | absent |" % SUFFIX in markdown
    assert "| s3 | — | — | — | — | — | error: " in markdown

    # The page is a view of the same rows (tests/integration/test_report_html.py looks at it closely).
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('<tbody class="uk"') == len(report["unikernels"])
