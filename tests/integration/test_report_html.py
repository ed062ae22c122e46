# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML page of playbooks/report.yml, read as a person would see it.

A fleet of two test servers and an address where nothing listens: on the first server one unikernel out of
date against the builder-web stand-in and one whose upgrade failed (the upgrade role rolled it back), on the
second one that drifted from the desired-state file and prints a hostile console line. The page is parsed
with html.parser, then opened in headless Chromium (Debian's package, installed by .ci/run): its script must
run without console errors, and screenshots of a wide and a narrow window go to tests/output/report-html/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import config_of, desired_view, target_view
from ansible_collections.unikernels.albatross.tests.integration._playbooks import ROOT, connection_vars, run_playbook
from ansible_collections.unikernels.albatross.tests.integration._servers import (
    client_for,
    deploy,
    free_port,
    image,
    server_key,
    start_builder_web,
)
from ansible_collections.unikernels.albatross.tests.lib.html_page import external_references, parse

pytestmark = pytest.mark.integration

SUFFIX = os.urandom(3).hex()
OUTPUT = os.path.join(ROOT, "tests", "output", "report-html")
HOSTILE = '<img src=x onerror="document.title=1"></pre><script>document.body.dataset.owned="yes"</script>'
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is needed to look at the report page: apt-get install chromium (as .ci/run does)")
    return found


def browse(url: str, *args: str, width: int = 1280, height: int = 1600) -> subprocess.CompletedProcess:
    """Chromium on ``url`` with a fresh profile; stdout and stderr as text."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--window-size=%d,%d" % (width, height)]
                              + list(args) + [url], capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    """The page's console errors (uncaught exceptions, refused scripts or loads) in Chromium's log."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line and re.search(r"Uncaught|Refused|error", line, re.I)]


def create(server, label: str, name: str, arguments: list[str], memory: int = 32) -> None:
    """A unikernel with these arguments (the test server prints them on the console)."""
    data = image(server, name)
    params = {"memory": memory, "network_interfaces": [{"name": "service"}], "arguments": arguments}
    config = config_of(target_view(None, desired_view(params), hashlib.sha256(data).hexdigest()), add_name=True)
    client_for(server).unikernel_create(label, config, data, force=True)


def test_the_fleet_page(servers, tmp_path):
    first, second = servers
    images = first.images_dir
    web, api, cfg = "web-" + SUFFIX, "api-" + SUFFIX, "cfg-" + SUFFIX
    backup, port = str(tmp_path / "backups"), free_port()

    deploy(first, web, None, "web-v1.hvt")  # builder-web has web-v2 too: out of date
    deploy(first, api, port, "web-v2.hvt")  # the latest build; its upgrade to web-bad fails and is rolled back
    create(second, cfg, "net.hvt", ["--motd=" + HOSTILE])  # 32 MB where the desired state says 64
    upgraded = run_playbook(os.path.join(ROOT, "playbooks", "upgrade.yml"), tmp_path, dict(
        connection_vars(first), albatross_upgrade_hosts="localhost", albatross_upgrade_name=api,
        albatross_upgrade_image=os.path.join(images, "web-bad.hvt"), albatross_upgrade_backup_dir=backup,
        albatross_upgrade_checks=[{"http": {"url": "http://127.0.0.1:%d/" % port, "timeout": 2}, "retries": 1, "delay": 0.2}],
        albatross_upgrade_settle=0.3), diff=False)
    assert upgraded.returncode == 2, upgraded.output[-4000:]

    # The upgrade role's own page, beside its JSON report.
    upgrade_page = os.path.join(backup, server_key(first), api + ".upgrade.html")
    with open(upgrade_page, encoding="utf-8") as handle:
        page = parse(handle.read())
    assert oct(os.stat(upgrade_page).st_mode & 0o777) == "0o600"
    assert page.find("td", data_label="Last upgrade").find(cls="badge").text() == "upgrade: upgrade failed, rolled back"

    state_dir = tmp_path / "state"
    os.makedirs(state_dir)
    (state_dir / "fleet.yml").write_text(yaml.safe_dump({"servers": {
        "s1": {"unikernels": [{"name": web, "image": os.path.join(images, "web-v1.hvt")},
                              {"name": api, "image": os.path.join(images, "web-v2.hvt")}]},
        "s2": {"unikernels": [{"name": cfg, "image": os.path.join(images, "net.hvt"), "memory": 64}]}}}))
    hosts = {"s1": connection_vars(first), "s2": connection_vars(second),
             "s3": dict(connection_vars(first), albatross_server="127.0.0.1:9")}  # nothing listens there
    out = {kind: str(tmp_path / ("report." + kind)) for kind in ("json", "md", "html")}
    builder = start_builder_web(tmp_path, images, {"web": ["web-v1.hvt", "web-v2.hvt"]})
    try:
        results = run_playbook(os.path.join(ROOT, "playbooks", "report.yml"), tmp_path, dict(
            albatross_report_hosts="s1,s2,s3", albatross_desired_state_file=str(state_dir / "fleet.yml"),
            albatross_report_json=out["json"], albatross_report_markdown=out["md"], albatross_report_html=out["html"],
            albatross_report_backup_dir=backup, albatross_report_console=True, albatross_report_console_lines=8),
            hosts=dict(hosts, localhost={}), diff=False, env={"ALBATROSS_BUILDER_WEB_URL": builder.url})
    finally:
        builder.shutdown()
    assert results.returncode == 0, results.output[-4000:]

    # The JSON has everything the page shows.
    with open(out["json"], encoding="utf-8") as handle:
        report = json.load(handle)
    servers_json = {s["server"]: s for s in report["servers"]}
    assert servers_json["s1"]["policy"]["path"] == ":" and servers_json["s1"]["usage"]["unikernels"] == 2
    assert servers_json["s1"]["usage"]["memory"] == 64 and servers_json["s3"]["reachable"] is False
    rows = {(r["unikernel"] or r["server"]).split(":")[-1]: r for r in report["unikernels"]}
    assert rows[web]["out_of_date"] is True and rows[web]["changes"]["opam_packages"] == ["mirage 4.5.0 -> 4.6.0"]
    assert rows[api]["out_of_date"] is False and rows[api]["last_upgrade"]["outcome"] == "rolled_back"
    assert rows[cfg]["drift"] == ["memory"] and any(HOSTILE in line["line"] for line in rows[cfg]["console"])

    with open(out["html"], encoding="utf-8") as handle:
        html = handle.read()
    root = parse(html)
    assert external_references(html, root) == []
    assert [s.attrs.get("src") for s in root.find_all("script")] == [None]
    assert not root.find_all("img") and not [e for e in root.iter() if any(k.startswith("on") for k in e.attrs)]

    cards = {c.attrs["data-server"]: c for c in root.find_all("section", "server")}
    assert set(cards) == {"s1", "s2", "s3"}
    assert cards["s1"].attrs["data-reachable"] == "yes" and "root policy" in cards["s1"].text()
    meters = {m.attrs["data-meter"]: m for m in cards["s1"].find_all("div", "meter")}
    assert "64 / 4096 MB" in meters["memory"].text() and meters["memory"].find(cls="bar").find("span").attrs["style"] == "width:1.6%"
    assert "1 / 4" in meters["cpus"].text() and meters["cpus"].find(cls="bar") and "2 (no limit)" in meters["unikernels"].text()
    assert [t.text() for t in cards["s1"].find_all("span", "used")] == ["service"]
    assert cards["s3"].attrs["data-reachable"] == "no" and "127.0.0.1:9" in cards["s3"].find("p", "error").text()

    groups = {(g.attrs["data-name"] or g.attrs["data-server"]).split(":")[-1]: g for g in root.find_all("tbody", "uk")}
    assert set(groups) == {web, api, cfg, "s3"}
    assert groups[web].attrs["data-outdated"] == "yes" and groups[web].find("td", data_label="Build").find(cls="badge").text() == "out of date"
    assert "opam: mirage 4.5.0 -> 4.6.0" in groups[web].find("details", "changes").text()
    assert groups[api].attrs["data-outdated"] == "no" and groups[api].attrs["data-action"] == "problem"
    action = groups[api].find("details", "action")
    assert [tr.attrs["data-check"] for tr in action.find_all("tr")] == ["ok", "failed", "ok"]  # pre, post, after the rollback
    assert groups[cfg].attrs["data-drift"] == "yes" and groups[cfg].find("td", data_label="Drift").find(cls="sub").text() == "memory"
    assert HOSTILE in groups[cfg].find("pre", "console").text()
    assert groups["s3"].attrs["data-state"] == "unreachable"
    summary = {li.attrs["data-count"]: li.find("b").text() for li in root.find("ul", "summary").find_all("li")}
    assert summary == {"servers": "2/3", "running": "3", "outdated": "1", "drift": "1", "problems": "1"}

    # In a browser: the script runs (it sets data-ready) without console errors, the hostile line stays text,
    # and filters given with the address hide the other rows.
    url = "file://" + out["html"]
    logged = browse(url, "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert logged.returncode == 0, logged.stderr[-3000:]
    assert console_errors(logged.stderr) == []
    dom = parse(logged.stdout)
    body = dom.find("body")
    assert body.attrs.get("data-ready") == "yes" and "data-owned" not in body.attrs
    assert not dom.find_all("img") and "hidden" not in dom.find("form", id="filters").attrs
    assert dom.find("output", id="shown").text() == "4 of 4 shown"
    filtered = parse(browse(url + "#outdated=1", "--dump-dom").stdout)
    assert {g.attrs["data-name"].split(":")[-1] for g in filtered.find_all("tbody", "uk") if "hidden" not in g.attrs} == {web}
    filtered = parse(browse(url + "#server=s2", "--dump-dom").stdout)
    assert {g.attrs["data-name"].split(":")[-1] for g in filtered.find_all("tbody", "uk") if "hidden" not in g.attrs} == {cfg}

    os.makedirs(OUTPUT, exist_ok=True)
    for name, width, height in (("wide", 1200, 1250), ("narrow", 420, 2800)):
        shot = os.path.join(OUTPUT, "report-%s.png" % name)
        if os.path.exists(shot):
            os.unlink(shot)
        taken = browse(url, "--screenshot=" + shot, width=width, height=height)
        assert taken.returncode == 0 and os.path.getsize(shot) > 10000, taken.stderr[-3000:]
        with open(shot, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    shutil.copyfile(out["html"], os.path.join(OUTPUT, "report.html"))
    shutil.copyfile(out["json"], os.path.join(OUTPUT, "report.json"))


def test_the_rollback_role_writes_its_page(server, tmp_path):
    label, backup = "rb-" + SUFFIX, str(tmp_path / "backups")
    deploy(server, label, None, "web-v1.hvt")
    common = dict(connection_vars(server), albatross_upgrade_hosts="localhost", albatross_rollback_hosts="localhost",
                  albatross_upgrade_name=label, albatross_rollback_name=label, albatross_upgrade_backup_dir=backup,
                  albatross_rollback_backup_dir=backup, albatross_upgrade_settle=0.3, albatross_rollback_settle=0.3,
                  albatross_upgrade_image=os.path.join(server.images_dir, "web-v2.hvt"))
    for playbook in ("upgrade.yml", "rollback.yml"):
        ran = run_playbook(os.path.join(ROOT, "playbooks", playbook), tmp_path, common, diff=False)
        assert ran.returncode == 0, ran.output[-4000:]
    kept = os.path.join(backup, server_key(server), label)
    with open(kept + ".rollback.html", encoding="utf-8") as handle:
        html = handle.read()
    root = parse(html)
    assert external_references(html, root) == []
    (group,) = root.find_all("tbody", "uk")
    assert group.find("td", data_label="Last upgrade").find(cls="badge").text() == "rollback: restored"
    with open(kept + ".upgrade.html", encoding="utf-8") as handle:
        upgraded = parse(handle.read())
    assert upgraded.find("td", data_label="Last upgrade").find(cls="badge").text() == "upgrade: upgraded"
