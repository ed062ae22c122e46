# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the albatross inventory plugin: N test servers with M unikernels each.

Prints the wall time (and CPU time) of ``ansible-inventory --list`` for one server and for
all N servers, measured in the same run, and their ratio. The target is: N=20 servers with
M=100 unikernels take less than twice as long as one server, and less than 2 s.

It also measures the ansible-core floor: a trivial inventory plugin (``bench/floor_plugins``)
that adds exactly the same groups, hosts and variables (replayed from ``--list --export``,
checked to give the same ``--list`` output) without asking any server. Its time is what
ansible-core itself needs for that many hosts (start, plugin loading, variable manager, JSON
output); the difference is the overhead of the albatross plugin (its imports, the servers'
replies, decoding, building the variables).

Last, the time the plugin spends asking the servers (the same code path, in this process),
which shows how the parallel fetch scales.

The servers keep their state in ``--state`` (default: a directory in the system temp dir),
so the unikernels are deployed once and later runs start at once. ``--fresh`` starts over.

Usage: python bench/inventory_bench.py [--servers 20] [--unikernels 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
FLOOR_PLUGINS = os.path.join(ROOT, "bench", "floor_plugins")
FLOOR_SUFFIX = ".floor.json"
UNSAFE_KEY = "__ansible_unsafe"
BIN = os.path.dirname(sys.executable)
MEMORY = 32


def _setup_imports() -> Any:
    # tests/conftest.py makes the collection importable as ansible_collections.unikernels.albatross.
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import conftest  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    spec = importlib.util.spec_from_file_location("albatross_fixture", os.path.join(ROOT, "tests", "lib", "albatross_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["albatross_fixture"] = module
    spec.loader.exec_module(module)
    return module


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _client(info: Any) -> Any:
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client

    signer = certs.Signer.load(_read(info.client_cert), _read(info.client_key))
    return Client(info.address, _read(info.server_ca), signer, timeout=30.0)


def seed(info: Any, count: int) -> int:
    """Deploy unikernels u000.. on one server until it runs ``count``; returns how many were created."""
    from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import UnikernelConfig

    client = _client(info)
    present = {unikernel.name for unikernel in client.unikernel_info()}
    image = _read(os.path.join(info.images_dir, "hello.hvt"))
    created = 0
    for index in range(count):
        label = "u%03d" % index
        if ":" + label in present:
            continue
        config = UnikernelConfig(cpuids=(0,), memory=MEMORY, argv=("--index=%d" % index, "--ipv4=10.0.%d.%d/16" % (index // 250, index % 250 + 2)))
        client.unikernel_create(label, config, image)
        created += 1
    return created


def write_inventory(path: str, servers: list[Any], max_workers: int) -> str:
    config = {
        "plugin": "unikernels.albatross.albatross",
        "max_workers": max_workers,
        "timeout": 30,
        "servers": [
            {"name": "alb%02d" % index, "server": info.address, "server_ca": info.server_ca,
             "client_cert": info.client_cert, "client_key": info.client_key}
            for index, info in enumerate(servers)
        ],
    }
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path


def _inventory_env(path: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ALBATROSS_", "ANSIBLE_"))}
    env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS
    if path.endswith(FLOOR_SUFFIX):
        # The floor plugin first, then ansible-core's default list: the same plugins are loaded as for the real inventory.
        env["ANSIBLE_INVENTORY_PLUGINS"] = FLOOR_PLUGINS
        env["ANSIBLE_INVENTORY_ENABLED"] = "albatross_floor,host_list,script,auto,yaml,ini,toml"
    return env


def run_inventory(path: str, *extra: str, output: bool = False) -> tuple[float, float, str]:
    """(wall, CPU, stdout if ``output``) of one ``ansible-inventory -i path --list``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, "--list", *extra], env=_inventory_env(path),
                          stdout=subprocess.PIPE if output else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or "WARNING" in proc.stderr:
        raise SystemExit("ansible-inventory failed:\n" + proc.stderr)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout or ""


def time_inventory(path: str, *extra: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``ansible-inventory -i path --list``."""
    wall, cpu, _output = run_inventory(path, *extra)
    return wall, cpu


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {UNSAFE_KEY}:
            return value[UNSAFE_KEY]
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def write_floor(inventory_path: str) -> str:
    """The floor input for ``inventory_path``: its ``--list --export``, plain values, trusted templates named."""
    exported = json.loads(run_inventory(inventory_path, "--export", output=True)[2])
    hostvars = exported.pop("_meta", {}).get("hostvars", {})
    # --export marks untrusted strings; plain top-level strings are trusted templates (ansible_python_interpreter).
    trusted = [[name, key] for name, group in exported.items() for key, value in (group.get("vars") or {}).items() if isinstance(value, str)]
    trusted += [[host, key] for host, values in hostvars.items() for key, value in values.items() if isinstance(value, str)]
    floor = {"groups": _unwrap(exported), "hostvars": _unwrap(hostvars), "trusted": trusted}
    path = inventory_path[:-len(".albatross.yml")] + FLOOR_SUFFIX
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(floor, handle)
    ours, floor_output = run_inventory(inventory_path, output=True)[2], run_inventory(path, output=True)[2]
    if json.loads(ours) != json.loads(floor_output):
        raise SystemExit("the floor plugin does not give the same inventory as %s" % inventory_path)
    return path


def time_fetch(path: str) -> float:
    """Seconds the plugin needs to ask the servers of ``path`` (no inventory building)."""
    from ansible_collections.unikernels.albatross.plugins.inventory.albatross import InventoryModule
    from ansible_collections.unikernels.albatross.plugins.plugin_utils._client import resolve_servers

    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    plugin = InventoryModule()
    plugin._options = {"max_workers": config["max_workers"]}  # pylint: disable=protected-access
    servers = resolve_servers(config["servers"], {})
    started = time.perf_counter()
    jobs = plugin._jobs(servers)  # pylint: disable=protected-access
    with plugin._asking(jobs) as answers:  # pylint: disable=protected-access
        replies = list(answers)
    elapsed = time.perf_counter() - started
    failures = [reply for reply in replies if isinstance(reply, str)]
    if failures:
        raise SystemExit("servers did not answer: %s" % failures)
    if sum(len(reply["unikernels"]) for reply in replies) == 0:
        raise SystemExit("no unikernels found")
    return elapsed


def measure(label: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    walls = [wall for wall, _cpu in runs]
    cpus = [cpu for _wall, cpu in runs]
    best, median = min(walls), statistics.median(walls)
    print("  %-34s wall best %.2f s, median %.2f s; CPU median %.2f s" % (label, best, median, statistics.median(cpus)))
    return best, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--unikernels", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (best and median are shown)")
    parser.add_argument("--max-workers", type=int, default=4, help="max_workers of the inventory (the plugin's default is 4)")
    parser.add_argument("--state", default=os.path.join(tempfile.gettempdir(), "albatross-inventory-bench"))
    parser.add_argument("--fresh", action="store_true", help="remove the state directory first")
    parser.add_argument("--export", action="store_true", help="also time ansible-inventory --list --export (what AWX runs)")
    parser.add_argument("--same-hosts", action="store_true",
                        help="also time one server with servers x unikernels unikernels: the same hosts from one server")
    args = parser.parse_args()

    fixture = _setup_imports()
    if args.fresh and os.path.isdir(args.state):
        shutil.rmtree(args.state)
    os.makedirs(args.state, exist_ok=True)
    memory = max(4096, MEMORY * args.unikernels + 256)
    servers: list[Any] = []
    try:
        started = time.perf_counter()
        for index in range(args.servers):
            servers.append(fixture.start_server(os.path.join(args.state, "srv%02d" % index), stats_interval=3600, memory=memory))
        print("%d test servers started in %.1f s" % (len(servers), time.perf_counter() - started))
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            created = sum(pool.map(lambda info: seed(info, args.unikernels), servers))
        print("%d unikernels per server (%d created now, %.1f s)" % (args.unikernels, created, time.perf_counter() - started))

        one = write_inventory(os.path.join(args.state, "one.albatross.yml"), servers[:1], args.max_workers)
        fleet = write_inventory(os.path.join(args.state, "fleet.albatross.yml"), servers, args.max_workers)
        big = None
        if args.same_hosts:
            total = args.servers * args.unikernels
            info = fixture.start_server(os.path.join(args.state, "big"), stats_interval=3600, memory=MEMORY * total + 256)
            servers.append(info)
            started = time.perf_counter()
            created = seed(info, total)
            print("one more server with %d unikernels (%d created now, %.1f s)" % (total, created, time.perf_counter() - started))
            big = write_inventory(os.path.join(args.state, "big.albatross.yml"), [info], args.max_workers)
        floor_one, floor_fleet = write_floor(one), write_floor(fleet)
        print("floor inventories written (same --list output as the albatross plugin, checked)")
        for path in (one, fleet, big, floor_one, floor_fleet):  # warm up: byte-compiled files, page cache
            if path:
                time_inventory(path)

        figures = {}
        print("ansible-inventory --list (%d runs each, alternating):" % args.repeat)
        runs: dict[str, list[tuple[float, float]]] = {"one": [], "fleet": [], "floor_one": [], "floor_fleet": []}
        for _run in range(args.repeat):
            for key, path in (("one", one), ("fleet", fleet), ("floor_one", floor_one), ("floor_fleet", floor_fleet)):
                runs[key].append(time_inventory(path))
        figures["one"] = measure("1 server x %d unikernels" % args.unikernels, runs["one"])
        figures["fleet"] = measure("%d servers x %d unikernels" % (args.servers, args.unikernels), runs["fleet"])
        ratio_best = figures["fleet"][0] / figures["one"][0]
        ratio_median = figures["fleet"][1] / figures["one"][1]
        print("  ratio %d servers / 1 server: %.2f (best), %.2f (median)" % (args.servers, ratio_best, ratio_median))
        met = ratio_best < 2.0 and figures["fleet"][0] < 2.0
        print("  target (< 2x one server and < 2 s): %s" % ("met" if met else "NOT met"))

        print("ansible-core floor: a trivial plugin adding the same groups, hosts and variables (no servers):")
        hosts = {"one": args.unikernels + 1, "fleet": args.servers * (args.unikernels + 1)}
        figures["floor_one"] = measure("%d hosts (as 1 server)" % hosts["one"], runs["floor_one"])
        figures["floor_fleet"] = measure("%d hosts (as %d servers)" % (hosts["fleet"], args.servers), runs["floor_fleet"])
        floor_ratio = figures["floor_fleet"][0] / figures["floor_one"][0]
        print("  floor ratio: %.2f (best), %.2f (median)" % (floor_ratio, figures["floor_fleet"][1] / figures["floor_one"][1]))
        print("our overhead above the floor (best, median; CPU median):")
        for key, label in (("one", "1 server"), ("fleet", "%d servers" % args.servers)):
            cpu = statistics.median(cpu for _wall, cpu in runs[key]) - statistics.median(cpu for _wall, cpu in runs["floor_" + key])
            print("  %-34s +%.2f s, +%.2f s; CPU +%.2f s" % (
                label, figures[key][0] - figures["floor_" + key][0], figures[key][1] - figures["floor_" + key][1], cpu))
        if floor_ratio >= 2.0 or figures["floor_fleet"][0] >= 2.0:
            print("  the floor alone misses the target (ratio %.2f, %.2f s): no inventory plugin can meet it here" % (
                floor_ratio, figures["floor_fleet"][0]))

        if big:
            big_best = measure("1 server x %d unikernels" % (args.servers * args.unikernels),
                               [time_inventory(big) for _run in range(args.repeat)])[0]
            print("  the same hosts from %d servers / from 1 server: %.2f (best)" % (args.servers, figures["fleet"][0] / big_best))

        if args.export:
            print("ansible-inventory --list --export:")
            export = {"one": [time_inventory(one, "--export") for _run in range(args.repeat)],
                      "fleet": [time_inventory(fleet, "--export") for _run in range(args.repeat)]}
            one_best = measure("1 server", export["one"])[0]
            fleet_best = measure("%d servers" % args.servers, export["fleet"])[0]
            print("  ratio: %.2f (best)" % (fleet_best / one_best))

        print("asking the servers only (plugin fetch, max_workers=%d):" % args.max_workers)
        fetch_one = min(time_fetch(one) for _run in range(args.repeat))
        fetch_fleet = min(time_fetch(fleet) for _run in range(args.repeat))
        print("  1 server %.3f s, %d servers %.3f s, ratio %.2f" % (fetch_one, args.servers, fetch_fleet, fetch_fleet / fetch_one))
    finally:
        for info in servers:
            info.stop()


if __name__ == "__main__":
    main()
