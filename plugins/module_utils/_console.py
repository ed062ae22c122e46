# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logic of the console_info and stats_info modules (PRIVATE to the collection).

Both read albatross streams that never end by themselves: the client library stops
after the history (console) or one sample per unikernel (stats).
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    console_line_to_dict,
    run_with_errors,
    statistics_to_dict,
)

DEFAULT_LINES = 20
MAX_LINES = 1024  # albatross-console keeps this many lines per unikernel

CONSOLE_INFO_SPEC = ModuleSpec(
    argument_spec=dict(
        name=dict(type="str", required=True),
        lines=dict(type="int"),
        since=dict(type="str"),
        wait=dict(type="float", default=0),
    ),
    mutually_exclusive=(("lines", "since"),),
)

STATS_INFO_SPEC = ModuleSpec(argument_spec=dict(name=dict(type="str")))


def parse_since(module: ModuleLike, text: str) -> datetime.datetime:
    """RFC 3339 (``2024-01-02T03:04:05Z``, offsets and fractions allowed); no offset means UTC."""
    try:
        value = datetime.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        module.fail_json(msg="since must be an RFC 3339 time such as 2024-01-02T03:04:05Z, got %r" % text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def run_console_info(module: ModuleLike, client) -> None:
    params = module.params
    label = run_with_errors(module, lambda: validate_label(params["name"]), "checking the unikernel name")
    since = parse_since(module, params["since"]) if params.get("since") else None
    count = params.get("lines")
    if since is None and count is None:
        count = DEFAULT_LINES
    if count is not None and not 0 <= count <= MAX_LINES:
        module.fail_json(msg="lines must be between 0 and %d (albatross keeps %d lines), got %d" % (MAX_LINES, MAX_LINES, count))
    wait = params.get("wait") or 0
    if wait < 0:
        module.fail_json(msg="wait must be 0 or more seconds, got %s" % wait)
    lines = run_with_errors(module, lambda: client.console(label, count=count, since=since, wait=wait),
                            "reading the console of %s" % label)
    module.exit_json(changed=False, lines=[console_line_to_dict(line) for line in lines])


def _bridges(infos) -> dict[str, dict[str, str]]:
    return {info.name: {n.name: n.bridge for n in info.network_interfaces} for info in infos}


def stats_entry(stats, bridges: dict[str, str]) -> dict[str, t.Any]:
    plain = statistics_to_dict(stats)
    entry = {"name": stats.name, "rusage": plain["rusage"]}
    if plain.get("kinfo_mem") is not None:
        entry["memory"] = plain["kinfo_mem"]
    if plain.get("vmm") is not None:
        entry["vmm"] = plain["vmm"]
    interfaces = []
    for ifdata in plain.get("ifdata") or []:
        ifdata["bridge"] = bridges.get(ifdata["name"])
        interfaces.append(ifdata)
    entry["interfaces"] = interfaces
    return entry


def run_stats_info(module: ModuleLike, client) -> None:
    name = module.params.get("name")
    label = run_with_errors(module, lambda: validate_label(name), "checking the unikernel name") if name else None
    infos = run_with_errors(module, lambda: client.unikernel_info(label), "reading unikernel info")
    if not infos:
        # Nothing runs (or not this one): albatross would send no sample, so do not wait for one.
        module.exit_json(changed=False, stats=[])
    samples = run_with_errors(module, lambda: client.stats(label), "reading statistics" + (" of %s" % label if label else ""))
    bridges = _bridges(infos)
    stats = [stats_entry(s, bridges.get(s.name, {})) for s in samples]
    module.exit_json(changed=False, stats=sorted(stats, key=lambda s: s["name"]))


def run_console_info_module(module: ModuleLike) -> None:
    run_console_info(module, client_for(module))


def run_stats_info_module(module: ModuleLike) -> None:
    run_stats_info(module, client_for(module))
