# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``fleet`` module: many unikernels and volumes in one task (PRIVATE to the collection).

Each item runs the very logic of the ``unikernel`` or ``block`` module through a
``CapturingModule``, so a fleet item behaves exactly like the single-object module with
the same options. Items run in phases so that dependencies hold: volumes to create first,
then unikernels, then (only when nothing failed) pruned unikernels, then volumes to remove.
Within a phase, up to ``max_parallel`` items run at once, each thread with its own client.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils import _block, _unikernel
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import parse_name, validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    CapturingModule,
    ModuleExit,
    ModuleLike,
    ModuleSpec,
    build_client,
    client_for,
    run_with_errors,
    validate_args,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import is_marker, owner_of

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "unikernels": {"type": "list", "elements": "dict", "default": []},
    "volumes": {"type": "list", "elements": "dict", "default": []},
    "prune": {"type": "bool", "default": False},
    "max_parallel": {"type": "int", "default": 4},
}

MODULE_SPEC = ModuleSpec(ARGUMENT_SPEC, controller_files=("unikernels[].image", "volumes[].data"))

_KINDS: dict[str, tuple[ModuleSpec, t.Callable[[ModuleLike, t.Any], None]]] = {
    "unikernel": (dataclasses.replace(_unikernel.MODULE_SPEC, connection=False), _unikernel.run_module),
    "volume": (dataclasses.replace(_block.BLOCK_SPEC, connection=False), _block.run_block),
}


@dataclasses.dataclass
class Item:
    kind: str
    label: str
    params: dict[str, t.Any]
    result: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)


def _validate_items(module: ModuleLike, kind: str, option: str) -> list[Item]:
    spec = _KINDS[kind][0]
    items, errors, seen = [], [], set()
    for index, raw in enumerate(module.params.get(option) or ()):
        where = f"{option}[{index}]"
        checked = validate_args(spec, raw, where)
        if checked.error:
            errors.append(f"{where}: {checked.error}")
            continue
        try:
            label = validate_label(checked.params["name"])
        except ValidationError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if label in seen:
            errors.append(f"{where}: {kind} {label} is listed more than once")
        seen.add(label)
        # The items' own error messages name the server like the single modules do.
        params = dict(checked.params, server=module.params.get("server"), timeout=module.params.get("timeout"))
        items.append(Item(kind, label, params))
    if errors:
        module.fail_json(msg="Invalid fleet: " + "; ".join(errors))
    return items


def _own_labels(names: t.Iterable[str], own_path: tuple[str, ...]) -> set[str]:
    """Labels directly under the credentials' path (sub-paths belong to their own tenants)."""
    labels = set()
    for name in names:
        try:
            path, label = parse_name(name)
        except ValidationError:
            continue
        if label is not None and tuple(path) == own_path:
            labels.add(label)
    return labels


def _summary(item: Item) -> dict[str, t.Any]:
    result = item.result
    summary = {"kind": item.kind, "name": item.label, "changed": bool(result.get("changed")),
               "failed": bool(result.get("failed"))}
    if item.kind == "unikernel":
        summary["action"] = result.get("action", "none")
        summary["unikernel"] = result.get("unikernel")
    else:
        before = (result.get("diff") or {}).get("before")
        state = item.params.get("state")
        summary["action"] = "none" if not summary["changed"] else (
            "removed" if state == "absent" else "created" if not before else "data_written")
        summary["block"] = result.get("block")
    if summary["failed"]:
        summary["action"] = "failed"
        summary["msg"] = result.get("msg")
    return summary


class _PlannedClient:
    """Check mode: volumes look free when every unikernel using them is planned to go.

    In a real run those unikernels are destroyed in an earlier phase; in check mode they
    still run, and the volume removal must be predicted as the real run would do it.
    """

    def __init__(self, client: t.Any, gone: set[str]) -> None:
        self._client = client
        self._gone = gone

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._client, name)

    def block_info(self, name: str | None = None) -> list:
        volumes = self._client.block_info(name)
        if not any(v.active for v in volumes):
            return volumes
        own_path = tuple(getattr(self._client, "path", ()))
        users: dict[str, set[str]] = {}
        for info in self._client.unikernel_info():
            path, label = parse_name(info.name)
            if tuple(path) == own_path and label is not None:
                for block in info.block_devices:
                    users.setdefault(block.host_device, set()).add(label)
        freed = []
        for volume in volumes:
            label = parse_name(volume.name)[1]
            if volume.active and users.get(label) and users[label] <= self._gone:
                volume = dataclasses.replace(volume, active=False)
            freed.append(volume)
        return freed


class _Runner:
    def __init__(self, module: ModuleLike, client_factory: t.Callable[[], t.Any]) -> None:
        self.module = module
        self.factory = client_factory
        self.local = threading.local()
        self.gone: set[str] | None = None

    def _client(self) -> t.Any:
        if not hasattr(self.local, "client"):
            self.local.client = self.factory()
        if self.gone is not None:
            return _PlannedClient(self.local.client, self.gone)
        return self.local.client

    def _run_item(self, item: Item) -> None:
        run = _KINDS[item.kind][1]
        capture = CapturingModule(item.params, check_mode=self.module.check_mode, diff_mode=True)
        try:
            run(capture, self._client())
            item.result = {"failed": True, "msg": "ended without a result"}
        except ModuleExit as exc:
            item.result = exc.result
        except Exception as exc:  # a bug in one item must not hide the others' results
            item.result = {"failed": True, "msg": f"unexpected error: {exc!r}"}
        item.warnings = list(capture.warnings)

    def phase(self, items: list[Item]) -> None:
        if not items:
            return
        workers = max(1, min(int(self.module.params.get("max_parallel") or 1), len(items)))
        if workers == 1:
            for item in items:
                self._run_item(item)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(self._run_item, items))


def run_fleet(module: ModuleLike, client_factory: t.Callable[[], t.Any] | None = None) -> None:
    params = module.params
    if (params.get("max_parallel") or 0) < 1:
        module.fail_json(msg="max_parallel must be at least 1")
    unikernels = _validate_items(module, "unikernel", "unikernels")
    volumes = _validate_items(module, "volume", "volumes")
    if client_factory is None:
        client_for(module)  # credentials problems are reported once, before anything runs

        def client_factory() -> t.Any:
            return build_client(params)
    runner = _Runner(module, client_factory)

    pruned_unikernels: list[Item] = []
    pruned_volumes: list[Item] = []
    if params.get("prune"):
        client = runner._client()
        running = run_with_errors(module, client.unikernel_info, "listing unikernels")
        own_path = tuple(getattr(client, "path", ()))
        extra = sorted(_own_labels((info.name for info in running), own_path) - {i.label for i in unikernels})
        pruned_unikernels = [Item("unikernel", label, {"name": label, "state": "absent", "server": params.get("server")})
                             for label in extra]
        stored = run_with_errors(module, client.block_info, "listing volumes")
        pruned_volumes = [Item("volume", label, dict(_block_defaults(), name=label, state="absent", server=params.get("server")))
                          for label in _volumes_to_prune(_own_labels((volume.name for volume in stored), own_path),
                                                         {i.label for i in volumes})]

    phases = [
        [v for v in volumes if v.params.get("state") != "absent"],
        unikernels,
        pruned_unikernels,
        [v for v in volumes if v.params.get("state") == "absent"] + pruned_volumes,
    ]
    skipped: list[Item] = []
    for number, items in enumerate(phases):
        failed = any(i.result.get("failed") for phase in phases[:number] for i in phase)
        if failed and number >= 2:
            skipped.extend(items)  # never prune or remove after a failure
            continue
        if number == 3 and module.check_mode:
            runner.gone = {i.label for phase in phases[1:3] for i in phase
                           if i.kind == "unikernel" and i.result.get("action") == "destroyed"}
        runner.phase(items)
    _finish(module, [item for phase in phases for item in phase], skipped)


def _volumes_to_prune(stored: set[str], listed: set[str]) -> list[str]:
    """Unlisted volumes, and write-in-progress markers whose volume is neither listed nor stored.

    A listed volume keeps its marker (its item rewrites the data and then removes the marker); an
    unlisted volume's item removes its marker together with it (block with state=absent does both).
    """
    volumes = {label for label in stored if not is_marker(label)}
    known = volumes | listed
    orphans = set()
    for label in stored - volumes:
        owner = owner_of(label, known)
        if owner is None or owner not in known:
            orphans.add(label)
    return sorted(volumes - listed) + sorted(orphans)


def _block_defaults() -> dict[str, t.Any]:
    spec = _KINDS["volume"][0]
    return {name: option.get("default") for name, option in spec.argument_spec.items()}


def _finish(module: ModuleLike, ordered: list[Item], skipped: list[Item]) -> None:
    """Results in the order things ran (or would run)."""
    unikernels = [i for i in ordered if i.kind == "unikernel"]
    volumes = [i for i in ordered if i.kind == "volume"]
    done = [i for i in ordered if i not in skipped]
    for item in done:
        for warning in item.warnings:
            module.warn(f"{item.kind} {item.label}: {warning}")
    summaries = {id(i): _summary(i) for i in done}
    for item in skipped:
        summaries[id(item)] = {"kind": item.kind, "name": item.label, "changed": False, "failed": False, "action": "skipped"}
    plan = [{"kind": s["kind"], "name": s["name"], "action": s["action"]}
            for s in (summaries[id(i)] for i in ordered) if s["action"] != "none"]
    diff: dict[str, dict[str, t.Any]] = {"before": {"unikernels": {}, "volumes": {}}, "after": {"unikernels": {}, "volumes": {}}}
    for item in done:
        item_diff = item.result.get("diff")
        if item.result.get("changed") and item_diff:
            key = "unikernels" if item.kind == "unikernel" else "volumes"
            diff["before"][key][item.label] = item_diff.get("before")
            diff["after"][key][item.label] = item_diff.get("after")
    result = {
        "changed": any(s["changed"] for s in summaries.values()),
        "plan": plan,
        "unikernels": [summaries[id(i)] for i in unikernels],
        "volumes": [summaries[id(i)] for i in volumes],
        "diff": diff,
    }
    failures = [s for s in summaries.values() if s["failed"]]
    if failures:
        details = "; ".join(f"{s['kind']} {s['name']}: {s['msg']}" for s in failures)
        module.fail_json(msg=f"{len(failures)} of {len(summaries)} fleet items failed: {details}", **result)
    module.exit_json(**result)


def run_module(module: ModuleLike, client: t.Any = None) -> None:
    """Entry point of both bindings; unit tests pass a ``client`` shared by all items."""
    run_fleet(module, (lambda: client) if client is not None else None)
