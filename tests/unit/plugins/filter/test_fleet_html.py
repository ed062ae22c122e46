# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet_html filter: the page of a fleet, upgrade or rollback report."""

from __future__ import annotations

import base64
import copy
import hashlib
import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.unikernels.albatross.plugins.filter.fleet_html import FilterModule, fleet_html
from ansible_collections.unikernels.albatross.tests.lib.html_page import external_references, parse

HOSTILE = '<script>alert("name")</script>'
CONSOLE = '</pre><img src=x onerror=alert(1)> & "quoted" \x1b[31m'
ERROR = 'refused <b onmouseover="alert(2)">here</b> & gone'

BUILD = {"job": "web", "uuid": "6bd2c2ad-c083-416f-88d0-c8c770b17e84", "platform": "debian-12", "finish_time": "2025-01-01T00:00:00Z",
         "main_binary_sha256": "c0" * 32, "url": "https://builds.example.org/job/web/build/6bd2c2ad"}
LATEST = dict(BUILD, uuid="c321a1b6-4864-4a19-91d9-5913aa550d91", finish_time="2025-02-01T00:00:00Z",
              url="javascript:alert(3)")
CHECK_OK = {"check": 1, "ok": True, "rounds": 1, "elapsed": 0.1, "attempts": [], "failed_checks": []}
CHECK_BAD = {"check": 1, "ok": False, "rounds": 3, "elapsed": 1.0, "attempts": [], "failed_checks": ["http: status 500 <wanted 200>"]}
UPGRADE = {
    "name": "api", "full_name": ":api", "server": "127.0.0.1:1025", "outcome": "rolled_back",
    "message": "Upgrade of unikernel api failed: post-checks <failed>. Rolled back.",
    "from": {"digest": "aa" * 32, "build": None}, "to": {"digest": "bb" * 32, "source": None, "build": None},
    "prechecks": [CHECK_OK], "postchecks": [CHECK_BAD], "console": [],
    "rollback": {"outcome": "restored", "checks": [CHECK_OK], "finished_at": "2026-01-01T10:00:05Z"},
    "error": {"task": "Make sure the new unikernel passes the post-checks", "msg": "post-checks failed"},
    "report_file": "/backups/127.0.0.1_1025/api.upgrade.json",
    "started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-01T10:00:06Z",
}


def row(name, **kw):
    base = {"server": "s1", "address": "127.0.0.1:1025", "unikernel": name, "state": "running", "digest": "c0" * 32,
            "memory": 32, "cpuids": [0], "bridges": ["service"], "started": "2026-01-01T09:00:00.123Z", "build": None,
            "latest_build": None, "out_of_date": None, "changes": None, "drift": [], "console": None,
            "last_upgrade": None, "last_rollback": None, "error": None}
    base.update(kw)
    return base


REPORT = {
    "generated_at": "2026-01-02T00:00:00Z", "desired_state_file": "/state/fleet.yml", "builder_web_url": "https://builds.example.org",
    "servers": [
        {"server": "s1", "address": "127.0.0.1:1025", "reachable": True, "error": None,
         "policy": {"path": ":", "unikernels": 10, "memory": 256, "block": 100, "cpuids": [0, 1], "bridges": ["br0", "service"]},
         "usage": {"unikernels": 3, "memory": 288, "cpuids": [0], "block": 95, "bridges": ["service", "ext"]}},
        {"server": "s2", "address": "127.0.0.1:9", "reachable": False, "error": ERROR, "policy": None, "usage": None},
    ],
    "unikernels": [
        row(":web", build=BUILD, latest_build=LATEST, out_of_date=True, drift=["memory"],
            changes={"url": "https://builds.example.org/compare/a/b", "opam_packages": ["mirage 4.5.0 -> 4.6.0"],
                     "system_packages": [], "environment": [], "main_binary_size_change": 2048}),
        row(":" + HOSTILE, console=[{"timestamp": "2026-01-01T09:00:01Z", "line": CONSOLE}]),
        row(":api", last_upgrade=UPGRADE, drift=None),
        row("gone", state="absent", digest=None, started=None, drift=["absent"]),
        row(None, server="s2", address="127.0.0.1:9", state=None, digest=None, drift=None, error=ERROR),
    ],
}


def groups(root):
    return {g.attrs["data-name"] or g.attrs["data-server"]: g for g in root.find_all("tbody", "uk")}


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"fleet_html": fleet_html}


def test_a_self_contained_page_with_one_inline_script_allowed_by_its_hash():
    page = fleet_html(REPORT)
    root = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert external_references(page, root) == []
    scripts = root.find_all("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attrs
    policy = root.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    inline = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    assert "default-src 'none'" in policy
    assert "'sha256-%s'" % base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode() in policy
    assert root.find("meta", name="viewport") and "@media (max-width" in root.find("style").text()


def test_hostile_remote_values_stay_text():
    page = fleet_html(REPORT)
    root = parse(page)
    # Nothing a remote value carried became markup: one script (ours), no img, no event handlers, no javascript: links.
    assert len(root.find_all("script")) == 1 and not root.find_all("img") and not [b for b in root.find_all("b") if b.text() == "here"]
    assert not [e for e in root.iter() if any(k.startswith("on") for k in e.attrs)]
    assert not [e for e in root.find_all("a") if not e.attrs["href"].startswith("https://")]
    hostile = groups(root)[":" + HOSTILE.lower()]
    assert hostile.find(cls="name").text() == ":" + HOSTILE
    console = hostile.find("pre", "console").text()
    assert '</pre><img src=x onerror=alert(1)> & "quoted" \\x1b[31m' in console
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page
    card = root.find("section", data_server="s2")
    assert card.find("p", "error").text() == 'refused <b onmouseover="alert(2)">here</b> & gone'
    # The latest build's link is a javascript: URL: shown as text, not as a link.
    web = groups(root)[":web"]
    assert "latest c321a1b6" in web.text() and not [a for a in web.find_all("a") if "c321a1b6" in a.text()]


def test_server_cards_show_policy_against_use():
    root = parse(fleet_html(REPORT))
    card = root.find("section", data_server="s1")
    assert card.attrs["data-reachable"] == "yes" and "root policy" in card.text()
    meters = {m.attrs["data-meter"]: m for m in card.find_all("div", "meter")}
    assert set(meters) == {"unikernels", "memory", "cpus", "block"}
    assert "3 / 10" in meters["unikernels"].text()
    assert meters["unikernels"].find(cls="bar").find("span").attrs["style"] == "width:30.0%"
    memory = meters["memory"].find(cls="bar")
    assert "over" in memory.classes and memory.find("span").attrs["style"] == "width:100.0%"  # 288 of 256 MB
    assert "high" in meters["block"].find(cls="bar").classes  # 95 of 100 MB
    assert "1 / 2" in meters["cpus"].text() and "ids 0 of 0,1" in meters["cpus"].text()
    bridges = card.find("div", "tags")
    assert [t.text() for t in bridges.find_all("span", "used")] == ["service"]
    assert "ext not allowed" in bridges.text()
    down = root.find("section", data_server="s2")
    assert down.attrs["data-reachable"] == "no" and not down.find_all("div", "meter")


def test_no_policy_and_no_limit():
    report = copy.deepcopy(REPORT)
    report["servers"][0]["policy"] = None
    root = parse(fleet_html(report))
    card = root.find("section", data_server="s1")
    assert not card.find_all(cls="bar") and "288 MB (no policy)" in card.text()
    report["servers"][0]["policy"] = dict(REPORT["servers"][0]["policy"], unikernels=4611686018427387903, block=None)
    card = parse(fleet_html(report)).find("section", data_server="s1")
    meters = {m.attrs["data-meter"]: m for m in card.find_all("div", "meter")}
    assert "3 (no limit)" in meters["unikernels"].text() and not meters["unikernels"].find_all(cls="bar")
    assert "95 / 0 MB" in meters["block"].text() and "over" in meters["block"].find(cls="bar").classes


def test_unikernel_rows_badges_and_details():
    root = parse(fleet_html(REPORT))
    rows = groups(root)
    web = rows[":web"]
    assert web.attrs["data-outdated"] == "yes" and web.attrs["data-drift"] == "yes" and web.attrs["data-state"] == "running"
    assert web.find("span", "badge", title="latest web / c321a1b6 (2025-02-01)").text() == "out of date"
    assert [li.text() for li in web.find("details", "changes").find_all("li")] == ["opam: mirage 4.5.0 -> 4.6.0", "binary size +2048 bytes"]
    assert web.find("a", href=BUILD["url"]).text() == "web / 6bd2c2ad"
    assert web.find("time").attrs["datetime"] == "2026-01-01T09:00:00.123Z" and web.find("time").text() == "2026-01-01 09:00:00Z"
    assert "memory" in web.find("td", data_label="Drift").text()

    api = rows[":api"]
    assert api.attrs["data-action"] == "problem" and api.attrs["data-drift"] == "unknown"
    assert api.find("td", data_label="Last upgrade").find(cls="badge").text() == "upgrade: upgrade failed, rolled back"
    action = api.find("details", "action")
    assert "open" in action.attrs and "post-checks <failed>" in action.text()
    checks = [(tr.find_all("td")[0].text(), tr.attrs["data-check"]) for tr in action.find_all("tr")]
    assert checks == [("pre #1", "ok"), ("post #1", "failed"), ("after rollback #1", "ok")]
    assert "http: status 500 <wanted 200>" in action.text()

    assert rows["gone"].attrs["data-state"] == "absent" and rows["gone"].find(cls="badge").text() == "absent"
    down = rows["s2"]
    assert down.attrs["data-state"] == "unreachable" and ERROR in down.text()
    assert not rows[":web"].find_all("details", "console") and rows[":" + HOSTILE.lower()].find_all("details", "console")

    summary = {li.attrs["data-count"]: li.find("b").text() for li in root.find("ul", "summary").find_all("li")}
    assert summary == {"servers": "1/2", "running": "3", "outdated": "1", "drift": "2", "problems": "1"}
    options = [o.attrs["value"] for o in root.find("select", id="f-server").find_all("option")]
    assert options == ["", "s1", "s2"]
    assert [o.attrs["value"] for o in root.find("select", id="f-state").find_all("option")] == ["", "absent", "running", "unreachable"]
    assert [b.attrs["data-sort"] for b in root.find("table", id="unikernels").find_all("button")] == [
        "server", "name", "state", "started", "outdated", "drift", "action"]
    assert "hidden" in root.find("form", id="filters").attrs  # shown by the script only


def test_the_newer_of_upgrade_and_rollback_wins():
    rollback = {"name": "api", "outcome": "restored", "message": "runs the kept image again", "checks": [CHECK_OK],
                "finished_at": "2026-01-01T11:00:00Z"}
    report = dict(REPORT, unikernels=[row(":api", last_upgrade=UPGRADE, last_rollback=rollback)])
    api = groups(parse(fleet_html(report)))[":api"]
    assert api.find("td", data_label="Last upgrade").find(cls="badge").text() == "rollback: restored"
    assert api.attrs["data-action"] == "ok"
    older = dict(rollback, finished_at="2025-12-31T00:00:00Z")
    report = dict(REPORT, unikernels=[row(":api", last_upgrade=UPGRADE, last_rollback=older)])
    assert groups(parse(fleet_html(report)))[":api"].attrs["data-action"] == "problem"


def test_an_upgrade_or_rollback_report_is_a_page_of_one_row():
    root = parse(fleet_html(UPGRADE))
    assert root.find("title").text() == "Albatross upgrade report: api"
    (only,) = root.find_all("tbody", "uk")
    assert only.attrs["data-name"] == ":api" and only.attrs["data-action"] == "problem"
    assert only.find("span", "mono").text() == "127.0.0.1:1025" and ("aa" * 6) in only.text()  # it runs the old image again
    assert not root.find_all("section", "server")
    rollback = {"name": "web", "server": "127.0.0.1:1025", "outcome": "failed", "message": "Rollback failed. <why>",
                "from_digest": "bb" * 32, "to_digest": "aa" * 32, "checks": [CHECK_BAD], "finished_at": "2026-01-01T00:00:00Z"}
    root = parse(fleet_html(rollback, title="Rollback of <web>"))
    assert root.find("title").text() == "Rollback of <web>" and root.find("h1").text() == "Rollback of <web>"
    assert "Rollback failed. <why>" in root.find("details", "action").text()


def test_a_report_without_server_entries():
    report = {"generated_at": "x", "unikernels": [row(":a"), row(None, server="s2", error="down")]}
    root = parse(fleet_html(report))
    assert [s.attrs["data-reachable"] for s in root.find_all("section", "server")] == ["yes", "no"]
    assert "down" in root.find("section", data_server="s2").text()
    empty = parse(fleet_html({"unikernels": [], "servers": []}))
    assert "No unikernels." in empty.text() and not empty.find_all("section", "server")


def test_odd_values_do_not_break_the_page():
    odd = row(":odd", memory="lots", cpuids="0", started=12, digest=123, build={"job": None, "uuid": None, "url": 5},
              out_of_date=True, changes="none", drift="x", console=["plain line", None, {"line": "\ud800 lone"}],
              last_upgrade={"outcome": "weird", "prechecks": "no"}, last_rollback=["not", "a", "dict"])
    report = {"servers": [{"server": "s1", "policy": {"memory": "x", "cpuids": None}, "usage": {"memory": float("nan")}}],
              "unikernels": [odd, "not a row"]}
    root = parse(fleet_html(report))
    assert len(root.find_all("tbody", "uk")) == 1 and "weird" in root.text()
    with pytest.raises(AnsibleFilterError, match="needs a report"):
        fleet_html(["not", "a", "report"])
