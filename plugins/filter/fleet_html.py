# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet_html filter: one self-contained HTML page of a fleet, upgrade or rollback report (docs in fleet_html.yml)."""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import typing as t

from ansible.errors import AnsibleFilterError

# Outcomes of the upgrade and rollback roles, by how they look on the page.
_GOOD = {"upgraded", "unchanged", "restored"}
_INFO = {"would_upgrade", "would_restore"}
_WARN = {"aborted", "unhealthy"}
_BAD = {"failed", "rolled_back", "rollback_failed"}
_OUTCOME_TEXT = {
    "upgraded": "upgraded", "unchanged": "unchanged", "restored": "restored", "would_upgrade": "would upgrade",
    "would_restore": "would restore", "aborted": "upgrade aborted", "unhealthy": "unhealthy",
    "failed": "failed", "rolled_back": "upgrade failed, rolled back", "rollback_failed": "upgrade and rollback failed",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The page's only script: sorting and filtering of the unikernel table. It sets data-ready on <body> when it ran.
# Its SHA-256 goes into the page's Content-Security-Policy, so no other script (say, one smuggled into a remote
# value that escaping missed) would run.
_SCRIPT = """
(function () {
  var doc = document, table = doc.getElementById("unikernels"), form = doc.getElementById("filters");
  if (!table || !form) { return; }
  var groups = Array.prototype.slice.call(table.tBodies), shown = doc.getElementById("shown");
  function value(id) { var el = doc.getElementById(id); return el.type === "checkbox" ? el.checked : el.value; }
  function apply() {
    var server = value("f-server"), state = value("f-state"), text = value("f-text").toLowerCase(), count = 0;
    groups.forEach(function (g) {
      var d = g.dataset, ok = (!server || d.server === server) && (!state || d.state === state) &&
        (!value("f-outdated") || d.outdated === "yes") && (!value("f-drift") || d.drift === "yes") &&
        (!value("f-action") || d.action === "problem") && (!text || d.search.indexOf(text) >= 0);
      g.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + " of " + groups.length + " shown";
  }
  function sort(button) {
    var key = button.dataset.sort, th = button.parentNode, up = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    groups.sort(function (a, b) {
      var x = a.dataset[key] || "", y = b.dataset[key] || "";
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
    });
    groups.forEach(function (g) { table.appendChild(g); });
  }
  // Filters can come with the address: report.html#server=s1&outdated=1
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("="), el;
    try { el = kv[0] && doc.getElementById("f-" + decodeURIComponent(kv[0])); } catch (e) { return; }
    if (!el || el.form !== form) { return; }
    try { kv[1] = decodeURIComponent(kv[1] || ""); } catch (e) { return; }
    if (el.type === "checkbox") { el.checked = kv[1] !== "0"; } else { el.value = kv[1]; }
  });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  Array.prototype.forEach.call(table.querySelectorAll("th button[data-sort]"), function (b) {
    b.addEventListener("click", function () { sort(b); });
  });
  form.hidden = false;
  apply();
  doc.body.dataset.ready = "yes";
}());
"""

_CSS = """
:root { --fg: #1d2430; --muted: #5d6776; --bg: #f5f7fa; --card: #fff; --line: #dde2ea;
  --ok: #1f7a3f; --ok-bg: #e3f4e8; --warn: #8a5a00; --warn-bg: #fff1d1; --bad: #a3202a; --bad-bg: #fde4e5;
  --info: #1f4f99; --info-bg: #e2ecfb; --bar: #3f7bd8; --hover: #f8fafc; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e9ee; --muted: #9aa4b2; --bg: #14181f; --card: #1d232c; --line: #313a46;
    --ok: #7ddc9c; --ok-bg: #183524; --warn: #f1c56b; --warn-bg: #3a2d10; --bad: #ff9aa0; --bad-bg: #421a1e;
    --info: #9dc0ff; --info-bg: #1b2a45; --bar: #5d95ef; --hover: #212833; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem clamp(0.6rem, 2.5vw, 2rem) 2rem; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.45rem; margin: 0 0 0.2rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 0.6rem; }
.meta, .muted { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
.summary { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.9rem 0 0; padding: 0; list-style: none; }
.summary li { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 0.35rem 0.75rem; }
.summary b { font-size: 1.15rem; margin-right: 0.25rem; }
.servers { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 0.8rem; }
.server { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 0.8rem 0.9rem; min-width: 0; }
.server h3 { font-size: 1rem; margin: 0 0 0.1rem; display: flex; justify-content: space-between; gap: 0.5rem; align-items: baseline; }
.server .error { color: var(--bad); background: var(--bad-bg); border-radius: 6px; padding: 0.4rem 0.55rem; margin: 0.5rem 0 0;
  overflow-wrap: anywhere; }
.meter { margin: 0.5rem 0 0; }
.meter .label { display: flex; justify-content: space-between; gap: 0.5rem; font-size: 0.88em; }
.bar { height: 8px; background: var(--line); border-radius: 4px; overflow: hidden; margin-top: 2px; }
.bar > span { display: block; height: 100%; background: var(--bar); border-radius: 4px; }
.bar.high > span { background: #d69b16; }
.bar.over > span { background: #d23c45; }
.tags { display: flex; flex-wrap: wrap; gap: 0.3rem; margin: 0.55rem 0 0; align-items: center; }
.tag { border: 1px solid var(--line); border-radius: 999px; padding: 0 0.5rem; font-size: 0.85em; }
.tag.used { border-color: var(--bar); color: var(--bar); }
.badge { display: inline-block; border-radius: 999px; padding: 0.05rem 0.55rem; font-size: 0.85em; font-weight: 600;
  white-space: nowrap; background: var(--line); color: var(--fg); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.info { background: var(--info-bg); color: var(--info); }
.badge.muted { background: transparent; color: var(--muted); border: 1px solid var(--line); font-weight: 400; }
form.filters { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; margin: 0 0 0.7rem; }
form.filters label { display: inline-flex; gap: 0.35rem; align-items: center; }
form.filters select, form.filters input[type=search] { font: inherit; padding: 0.2rem 0.35rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--card); color: var(--fg); max-width: 100%; }
form.filters[hidden] { display: none; }
table.uks { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
table.uks > thead > tr > th, table.uks > tbody > tr > td { text-align: left; vertical-align: top; padding: 0.45rem 0.6rem;
  border-bottom: 1px solid var(--line); }
table.uks > thead th { font-size: 0.85em; color: var(--muted); white-space: nowrap; }
table.uks th button { font: inherit; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
table.uks th[aria-sort=ascending] button::after { content: " \\25B2"; }
table.uks th[aria-sort=descending] button::after { content: " \\25BC"; }
table.uks > tbody > tr.main > td { border-bottom: 0; }
table.uks > tbody > tr.main:last-child > td, table.uks > tbody > tr.details > td { border-bottom: 2px solid var(--line); }
table.uks > tbody > tr.details > td { padding-top: 0; font-size: 0.9em; }
td .name { white-space: nowrap; }
table.uks tbody:hover { background: var(--hover); }
tbody[hidden] { display: none; }
td .name { font-weight: 600; overflow-wrap: anywhere; }
td .sub { color: var(--muted); font-size: 0.88em; overflow-wrap: anywhere; }
details { margin: 0.15rem 0; }
summary { cursor: pointer; color: var(--muted); }
.detail-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 0.3rem 1.2rem; }
.detail-grid > div { min-width: 0; overflow-wrap: anywhere; }
ul.plain { margin: 0.2rem 0; padding-left: 1.1rem; }
table.checks { border-collapse: collapse; margin: 0.2rem 0; }
table.checks td { padding: 0.1rem 0.6rem 0.1rem 0; border: 0; text-align: left; vertical-align: top; }
table.checks td:nth-child(-n+3) { white-space: nowrap; }
table.checks td:last-child { overflow-wrap: anywhere; }
pre.console { margin: 0.3rem 0; padding: 0.5rem 0.6rem; background: #0f141a; color: #d7dde6; border-radius: 6px;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 18rem; }
a { color: var(--info); }
@media (max-width: 760px) {
  table.uks, table.uks > tbody, table.uks > tbody > tr, table.uks > tbody > tr > td { display: block; width: 100%; }
  table.uks > thead { display: none; }
  table.uks > tbody { border-bottom: 2px solid var(--line); }
  table.uks > tbody > tr > td, table.uks > tbody > tr.main:last-child > td, table.uks > tbody > tr.details > td {
    border: 0; padding: 0.2rem 0.7rem; }
  td .name { white-space: normal; }
  table.uks > tbody > tr > td[data-label] { position: relative; padding-left: 7.2rem; min-height: 1.7rem; }
  table.uks > tbody > tr > td[data-label]::before { content: attr(data-label); position: absolute; left: 0.7rem; top: 0.3rem;
    color: var(--muted); font-size: 0.85em; }
  table.uks > tbody > tr.main > td:first-child { padding-top: 0.6rem; }
  table.uks > tbody > tr.details > td { padding-bottom: 0.6rem; }
  table.uks > tbody > tr.main:last-child > td:last-child { padding-bottom: 0.6rem; }
}
"""


def _text(value: t.Any) -> str:
    """``value`` as text for the page: None is empty, control characters are shown as escapes, lone surrogates replaced."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def _e(value: t.Any) -> str:
    """HTML-escaped text (also safe inside double-quoted attribute values)."""
    return html.escape(_text(value), quote=True)


def _mapping(value: t.Any) -> dict[str, t.Any]:
    return dict(value) if isinstance(value, t.Mapping) else {}


def _list(value: t.Any) -> list[t.Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _number(value: t.Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(number: float | None) -> str:
    if number is None:
        return "?"
    return str(int(number)) if number == int(number) else "%.1f" % number


def _short(digest: t.Any, size: int = 12) -> str:
    return _text(digest)[:size]


def _badge(text: str, kind: str = "", title: str | None = None) -> str:
    attr = ' title="%s"' % _e(title) if title else ""
    return '<span class="badge %s"%s>%s</span>' % (kind, attr, _e(text))


def _link(url: t.Any, text: str) -> str:
    """A link only for http(s) addresses (a remote javascript: URL stays text)."""
    target = _text(url)
    if re.match(r"^https?://", target, re.I):
        return '<a href="%s" rel="noreferrer noopener">%s</a>' % (_e(target), _e(text))
    return _e(text)


# Albatross's "no limit" (the root policy's unikernel count is the largest OCaml int).
_UNLIMITED = 2.0 ** 31


def _meter(label: str, used: float | None, limit: float | None, unit: str = "", note: str = "") -> str:
    if limit is not None and limit >= _UNLIMITED:
        value = "%s%s (no limit)" % (_fmt(used), unit)
        gauge = ""
    elif limit is None:
        value = "%s%s" % (_fmt(used), unit) + (" (no policy)" if used is not None else "")
        gauge = ""
    else:
        value = "%s / %s%s" % (_fmt(used), _fmt(limit), unit)
        share = 0.0 if not limit else min(1.0, (used or 0) / limit) if used is not None else 0.0
        over = used is not None and ((limit == 0 and used > 0) or (limit > 0 and used > limit))
        kind = " over" if over else " high" if share >= 0.9 else ""
        gauge = ('<div class="bar%s" role="meter" aria-label="%s" aria-valuemin="0" aria-valuemax="%s" aria-valuenow="%s">'
                 '<span style="width:%.1f%%"></span></div>' % (kind, _e(label), _fmt(limit), _fmt(used), share * 100))
    return ('<div class="meter" data-meter="%s"><div class="label"><span>%s</span><span class="mono">%s%s</span></div>%s</div>'
            % (_e(label.lower()), _e(label), _e(value), _e(note), gauge))


def _servers_from_rows(rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Server entries of a report written before it had them: names, addresses and errors of the rows."""
    servers: dict[str, dict[str, t.Any]] = {}
    for row in rows:
        fresh = {"server": row.get("server"), "address": row.get("address"), "reachable": True, "error": None}
        entry = servers.setdefault(_text(row.get("server")), fresh)
        if row.get("error"):
            entry.update(reachable=False, error=row.get("error"))
    return list(servers.values())


def _server_card(server: dict[str, t.Any]) -> str:
    name, reachable = server.get("server"), bool(server.get("reachable", not server.get("error")))
    policy, usage = _mapping(server.get("policy")), _mapping(server.get("usage"))
    out = ['<section class="server" data-server="%s" data-reachable="%s">' % (_e(name), "yes" if reachable else "no")]
    out.append("<h3><span>%s</span>%s</h3>" % (_e(name), _badge("reachable", "ok") if reachable else _badge("unreachable", "bad")))
    where = "root policy" if policy.get("path") == ":" else "policy of %s" % _text(policy.get("path")) if policy.get("path") else ""
    out.append('<div class="sub muted mono">%s%s</div>' % (_e(server.get("address")), " &middot; " + _e(where) if where else ""))
    if not reachable:
        out.append('<p class="error">%s</p>' % _e(server.get("error") or "no answer"))
        out.append("</section>")
        return "".join(out)
    has_policy = bool(policy)
    used_cpus = sorted({_text(c) for c in _list(usage.get("cpuids"))}, key=lambda c: (len(c), c))
    allowed_cpus = [_text(c) for c in _list(policy.get("cpuids"))]
    out.append(_meter("Unikernels", _number(usage.get("unikernels")), _number(policy.get("unikernels")) if has_policy else None))
    out.append(_meter("Memory", _number(usage.get("memory")), _number(policy.get("memory")) if has_policy else None, " MB"))
    out.append(_meter("CPUs", float(len(used_cpus)), float(len(allowed_cpus)) if has_policy else None, "",
                      " (ids %s of %s)" % (",".join(used_cpus) or "none", ",".join(allowed_cpus) or "none") if has_policy
                      else " (ids %s)" % (",".join(used_cpus) or "none")))
    block_limit = _number(policy.get("block")) if has_policy else None
    if has_policy and block_limit is None:
        block_limit = 0.0  # the policy allows no volumes
    out.append(_meter("Block", _number(usage.get("block")) or 0.0, block_limit, " MB"))
    if server.get("policy_error"):
        out.append('<p class="sub">policy: %s</p>' % _e(server.get("policy_error")))
    allowed = [_text(b) for b in _list(policy.get("bridges"))]
    used = [_text(b) for b in _list(usage.get("bridges"))]
    tags = ['<span class="tag%s" title="%s">%s</span>' % (" used" if b in used else "", "in use" if b in used else "allowed", _e(b))
            for b in allowed]
    tags += ['<span class="tag" title="in use, not in the policy">%s %s</span>' % (_e(b), _badge("not allowed", "bad"))
             for b in used if has_policy and b not in allowed]
    tags += ['<span class="tag used" title="in use">%s</span>' % _e(b) for b in used if not has_policy]
    out.append('<div class="tags" data-bridges="%s"><span class="sub">Bridges</span>%s</div>'
               % (_e(" ".join(allowed or used)), "".join(tags) or '<span class="sub">none</span>'))
    out.append("</section>")
    return "".join(out)


def _state(row: dict[str, t.Any]) -> str:
    if row.get("error"):
        return "unreachable"
    if row.get("state"):
        return _text(row["state"])
    return "running" if row.get("digest") else "absent"


def _last_action(row: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """The newer of the row's last upgrade and last rollback report, with its kind."""
    found = []
    for kind in ("upgrade", "rollback"):
        report = row.get("last_" + kind)
        if isinstance(report, t.Mapping) and report.get("outcome"):
            found.append((_text(report.get("finished_at")), kind == "upgrade", kind, dict(report)))
    if not found:
        return None
    _finished, _upgrade, kind, report = max(found, key=lambda f: (f[0], f[1]))
    return dict(report, kind=kind)


def _outcome_kind(outcome: str) -> str:
    return "ok" if outcome in _GOOD else "info" if outcome in _INFO else "warn" if outcome in _WARN else "bad" if outcome in _BAD else ""


def _checks(action: dict[str, t.Any]) -> list[tuple[str, dict[str, t.Any]]]:
    if action["kind"] == "rollback":
        return [("after rollback", _mapping(c)) for c in _list(action.get("checks"))]
    checks = [("pre", _mapping(c)) for c in _list(action.get("prechecks"))]
    checks += [("post", _mapping(c)) for c in _list(action.get("postchecks"))]
    checks += [("after rollback", _mapping(c)) for c in _list(_mapping(action.get("rollback")).get("checks"))]
    return checks


def _checks_table(checks: list[tuple[str, dict[str, t.Any]]]) -> str:
    if not checks:
        return '<div class="sub">no checks ran</div>'
    rows = []
    for phase, check in checks:
        ok = bool(check.get("ok"))
        failed = "; ".join(_text(f) for f in _list(check.get("failed_checks")))
        rows.append('<tr data-check="%s"><td>%s #%s</td><td>%s</td><td>%s round(s)</td><td>%s</td></tr>'
                    % ("ok" if ok else "failed", _e(phase), _e(check.get("check")), _badge("passed", "ok") if ok else _badge("failed", "bad"),
                       _e(check.get("rounds")), _e(failed)))
    return '<table class="checks"><tbody>%s</tbody></table>' % "".join(rows)


def _changes(changes: dict[str, t.Any]) -> str:
    items = []
    for section, title in (("opam_packages", "opam"), ("system_packages", "system"), ("environment", "environment")):
        for line in _list(changes.get(section)):
            items.append("<li>%s: %s</li>" % (title, _e(line)))
    size = _number(changes.get("main_binary_size_change"))
    if size:
        items.append("<li>binary size %s%s bytes</li>" % ("+" if size > 0 else "", _fmt(size)))
    body = "<ul class=\"plain\">%s</ul>" % "".join(items) if items else '<div class="sub">no package changes</div>'
    link = '<div class="sub">%s</div>' % _link(changes.get("url"), "comparison on builder-web") if changes.get("url") else ""
    return body + link


def _build_text(build: dict[str, t.Any]) -> str:
    return "%s / %s" % (_text(build.get("job")), _short(build.get("uuid"), 8))


def _unikernel_group(row: dict[str, t.Any], index: int) -> str:
    state = _state(row)
    name = _text(row.get("unikernel")) if row.get("unikernel") is not None else ""
    build, latest = _mapping(row.get("build")), _mapping(row.get("latest_build"))
    outdated = row.get("out_of_date")
    drift = row.get("drift")
    action = _last_action(row)
    outcome = _text(action.get("outcome")) if action else ""
    action_kind = _outcome_kind(outcome) if action else ""
    data = {
        "server": _text(row.get("server")), "name": name.lower(), "state": state, "started": _text(row.get("started")),
        "outdated": "yes" if outdated is True else "no" if outdated is False else "unknown",
        "drift": "yes" if drift else "no" if isinstance(drift, (list, tuple)) else "unknown",
        "action": "problem" if action_kind in ("bad", "warn") else "ok" if action else "none",
        "order": "%06d" % index,
    }
    data["search"] = " ".join([data["server"], name, state, _text(row.get("digest")), _text(build.get("job")),
                               " ".join(_text(d) for d in _list(drift)), outcome]).lower()
    attrs = " ".join('data-%s="%s"' % (k, _e(v)) for k, v in data.items())
    out = ['<tbody class="uk" %s><tr class="main">' % attrs]
    out.append('<td data-label="Server"><span class="mono">%s</span></td>' % _e(row.get("server")))
    if row.get("error"):
        out.append('<td data-label="Unikernel"><span class="muted">&mdash;</span></td><td data-label="State">%s</td>'
                   % _badge("unreachable", "bad"))
        out.append('<td data-label="Error" colspan="5"><span class="error-text">%s</span></td></tr></tbody>' % _e(row.get("error")))
        return "".join(out)
    out.append('<td data-label="Unikernel"><span class="name">%s</span></td>' % _e(name))
    state_kind = "ok" if state == "running" else "warn" if state == "absent" else "bad"
    out.append('<td data-label="State">%s</td>' % _badge(state, state_kind))
    started = _text(row.get("started"))
    shown = re.sub(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", r"\1 \2\4", started)
    out.append('<td data-label="Started">%s</td>' % ('<time class="mono" datetime="%s">%s</time>' % (_e(started), _e(shown))
                                                     if started else "&mdash;"))
    if row.get("digest"):
        image = '<span class="mono" title="%s">%s</span>' % (_e(row.get("digest")), _e(_short(row.get("digest"))))
        image += '<div class="sub">%s</div>' % (_link(build.get("url"), _build_text(build)) if build else "no builder-web build")
    else:
        image = "&mdash;"
    out.append('<td data-label="Image">%s</td>' % image)
    if outdated is True:
        latest_text = "latest %s" % _build_text(latest) + (" (%s)" % _text(latest.get("finish_time"))[:10] if latest.get("finish_time") else "")
        fresh = _badge("out of date", "warn", latest_text) + '<div class="sub">%s%s</div>' % (
            _link(latest.get("url"), "latest " + _short(latest.get("uuid"), 8)),
            "<br>" + _e(_text(latest.get("finish_time"))[:10]) if latest.get("finish_time") else "")
    elif outdated is False:
        fresh = _badge("up to date", "ok")
    else:
        fresh = _badge("unknown", "muted", "no builder-web build matches the image" if row.get("digest") else None)
    out.append('<td data-label="Build">%s</td>' % fresh)
    if drift is None:
        drifted = _badge("n/a", "muted", "no desired-state file")
    elif drift:
        drifted = _badge("drift", "warn") + '<div class="sub">%s</div>' % _e(", ".join(_text(d) for d in _list(drift)))
    else:
        drifted = _badge("as desired", "ok")
    out.append('<td data-label="Drift">%s</td>' % drifted)
    if action:
        label = "%s: %s" % (action["kind"], _OUTCOME_TEXT.get(outcome, outcome))
        last = _badge(label, action_kind) + '<div class="sub mono">%s</div>' % _e(action.get("finished_at"))
    else:
        last = '<span class="muted">&mdash;</span>'
    out.append('<td data-label="Last upgrade">%s</td></tr>' % last)

    details = []
    if row.get("digest"):
        facts = ['<div><b>Image</b> <span class="mono">%s</span></div>' % _e(row.get("digest"))]
        if build:
            where = " (%s, %s)" % (_e(build.get("platform")), _e(_text(build.get("finish_time"))[:10])) if build.get("platform") else ""
            built = _link(build.get("url"), "%s / %s" % (_text(build.get("job")), _text(build.get("uuid"))))
            facts.append("<div><b>Build</b> %s%s</div>" % (built, where))
        if row.get("memory") is not None or row.get("cpuids"):
            cpus = ",".join(_text(c) for c in _list(row.get("cpuids"))) or "?"
            bridges = ", bridges " + ", ".join(_text(b) for b in _list(row.get("bridges"))) if row.get("bridges") else ""
            facts.append("<div><b>Resources</b> %s MB, CPU %s%s</div>" % (_e(row.get("memory")), _e(cpus), _e(bridges)))
        details.append('<div class="detail-grid">%s</div>' % "".join(facts))
    if outdated is True:
        details.append('<details class="changes" open><summary>What changed in the latest build</summary>%s</details>'
                       % _changes(_mapping(row.get("changes"))))
    if action:
        body = '<div>%s</div>%s' % (_e(action.get("message")), _checks_table(_checks(action)))
        if action.get("report_file"):
            body += '<div class="sub">report: <span class="mono">%s</span></div>' % _e(action.get("report_file"))
        details.append('<details class="action"%s><summary>Last %s: %s</summary>%s</details>'
                       % (" open" if action_kind in ("bad", "warn") else "", _e(action["kind"]), _e(_OUTCOME_TEXT.get(outcome, outcome)), body))
    console = row.get("console")
    if isinstance(console, (list, tuple)):
        lines = "\n".join("%s %s" % (_text(_mapping(line).get("timestamp")), _text(_mapping(line).get("line")))
                          if isinstance(line, t.Mapping) else _text(line) for line in console)
        details.append('<details class="console"><summary>Console (last %d lines)</summary><pre class="console">%s</pre></details>'
                       % (len(console), html.escape(lines, quote=True) or "(no lines)"))
    if details:
        out.append('<tr class="details"><td colspan="8">%s</td></tr>' % "".join(details))
    out.append("</tbody>")
    return "".join(out)


def _as_fleet(report: dict[str, t.Any]) -> dict[str, t.Any]:
    """A fleet report of one row from an upgrade or a rollback report; a fleet report as it is."""
    if "unikernels" in report or "outcome" not in report:
        return report
    kind = "upgrade" if "postchecks" in report or "from" in report else "rollback"
    if kind == "upgrade":
        digest = _mapping(report.get("to")).get("digest") if report.get("outcome") == "upgraded" else _mapping(report.get("from")).get("digest")
        build = _mapping(report.get("to")).get("build") if report.get("outcome") == "upgraded" else _mapping(report.get("from")).get("build")
    else:
        digest = report.get("to_digest") if report.get("outcome") in ("restored", "unchanged") else report.get("from_digest")
        build = None
    row = {"server": report.get("server"), "address": report.get("server"), "unikernel": report.get("full_name") or report.get("name"),
           "state": "unknown", "digest": digest, "build": build if isinstance(build, t.Mapping) else None,
           "started": None, "out_of_date": None, "drift": None, "error": None, "last_" + kind: report}
    if kind == "upgrade" and isinstance(report.get("rollback"), t.Mapping):
        row["last_rollback"] = None  # the upgrade report carries its rollback
    return {"title": "Albatross %s report: %s" % (kind, _text(report.get("name"))), "generated_at": report.get("finished_at"),
            "unikernels": [row], "servers": []}


def fleet_html(report: t.Any, title: str | None = None) -> str:
    """The page: summary, one card per server (policy against use), one sortable row per unikernel."""
    if not isinstance(report, t.Mapping):
        raise AnsibleFilterError("fleet_html needs a report (a dictionary), got %s" % type(report).__name__)
    report = _as_fleet(dict(report))
    rows = [dict(r) for r in _list(report.get("unikernels")) if isinstance(r, t.Mapping)]
    servers = [dict(s) for s in _list(report.get("servers")) if isinstance(s, t.Mapping)]
    if not servers and "servers" not in report:
        servers = _servers_from_rows(rows)
    title = _text(title or report.get("title") or "Albatross fleet report")

    running = [r for r in rows if not r.get("error") and _state(r) == "running"]
    actions = [a for a in (_last_action(r) for r in rows) if a]
    counts = [
        ("servers", "%d/%d" % (sum(1 for s in servers if s.get("reachable", not s.get("error"))), len(servers)), "reachable", ""),
        ("running", str(len(running)), "unikernels running", ""),
        ("outdated", str(sum(1 for r in rows if r.get("out_of_date") is True)), "out of date", "warn"),
        ("drift", str(sum(1 for r in rows if r.get("drift"))), "drifted", "warn"),
        ("problems", str(sum(1 for a in actions if _outcome_kind(_text(a.get("outcome"))) in ("bad", "warn"))), "failed upgrades/rollbacks", "bad"),
    ]
    summary = "".join('<li data-count="%s"><b>%s</b>%s</li>' % (key, _e(value), _e(text)) for key, value, text, _kind in counts
                      if key != "servers" or servers)
    server_names = sorted({_text(r.get("server")) for r in rows} | {_text(s.get("server")) for s in servers})
    states = sorted({_state(r) for r in rows})
    option = '<option value="%s">%s</option>'
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    meta = "Generated %s" % _e(report.get("generated_at") or "")
    if report.get("desired_state_file"):
        meta += ' &middot; desired state <span class="mono">%s</span>' % _e(report.get("desired_state_file"))
    if report.get("builder_web_url"):
        meta += " &middot; builds from %s" % _link(report.get("builder_web_url"), _text(report.get("builder_web_url")))

    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'sha256-%s'; img-src data:; base-uri 'none'; form-action 'none'\">" % script_hash,
        "<title>%s</title><style>%s</style></head>" % (_e(title), _CSS),
        "<body><header><h1>%s</h1><div class=\"meta\">%s</div><ul class=\"summary\">%s</ul></header>" % (_e(title), meta, summary),
    ]
    if servers:
        parts.append('<h2>Servers</h2><div class="servers">%s</div>' % "".join(_server_card(s) for s in servers))
    parts.append("<h2>Unikernels</h2>")
    parts.append(
        '<form id="filters" class="filters" hidden>'
        '<label>Server <select id="f-server"><option value="">all</option>%s</select></label>'
        '<label>State <select id="f-state"><option value="">all</option>%s</select></label>'
        '<label><input type="checkbox" id="f-outdated"> out of date</label>'
        '<label><input type="checkbox" id="f-drift"> drifted</label>'
        '<label><input type="checkbox" id="f-action"> failed upgrade/rollback</label>'
        '<label>Search <input type="search" id="f-text" placeholder="name, digest, job"></label>'
        '<output id="shown" class="muted"></output></form>'
        % ("".join(option % (_e(s), _e(s)) for s in server_names), "".join(option % (_e(s), _e(s)) for s in states)))
    headers = [("server", "Server"), ("name", "Unikernel"), ("state", "State"), ("started", "Started"), (None, "Image"),
               ("outdated", "Build"), ("drift", "Drift"), ("action", "Last upgrade")]
    parts.append('<table id="unikernels" class="uks"><thead><tr>%s</tr></thead>'
                 % "".join('<th scope="col"><button type="button" data-sort="%s">%s</button></th>' % (key, text) if key
                           else '<th scope="col">%s</th>' % text for key, text in headers))
    parts.extend(_unikernel_group(row, n) for n, row in enumerate(rows))
    parts.append("</table>")
    if not rows:
        parts.append('<p class="muted">No unikernels.</p>')
    parts.append("<script>%s</script></body></html>\n" % _SCRIPT)
    return "".join(parts)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"fleet_html": fleet_html}
