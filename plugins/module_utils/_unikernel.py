# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``unikernel`` module: options and reconciliation (PRIVATE to the collection).

``reconcile(client, params, ops)`` is shared with ``fleet``. ``ops`` (``Ops``) carries the
binding: ``step(what, fn)`` runs one operation and turns errors into a failure naming it,
``fail(msg)`` ends with an error, ``warn(msg)``, ``describe(what, exc)`` words a library error
like ``step`` would, and ``check_mode``. The decision is the same in check mode; only the writes
are skipped.

Replacing is not atomic on the server: a force-create (and a restart with new arguments)
stops the old unikernel first and then creates the new one; when that create fails, neither
runs. So before any replace or restart with new arguments the running image and configuration
are read into memory, and when the unikernel does not run after a failed (or unanswered)
attempt, the old one is created again from them (``_Present._recover``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import tempfile
import typing as t

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossError,
    CertificateError,
    CommandFailed,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import name_to_string, validate_label
from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    ModuleLike,
    ModuleSpec,
    client_for,
    format_error,
    run_with_errors,
    unikernel_to_dict,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._backup import backup_key, backup_paths, write_backup
from ansible_collections.unikernels.albatross.plugins.module_utils._files import LocalFileError
from ansible_collections.unikernels.albatross.plugins.module_utils._image_source import ImageSource
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel_state import (
    NOT_RESTARTABLE,
    arguments_of,
    config_of,
    current_view,
    desired_view,
    diff_side,
    differences,
    options_of,
    target_view,
)

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent", "restarted"]},
    "image": {"type": "path"},
    "image_url": {"type": "str"},
    "image_sha256": {"type": "str"},
    "builder_web": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "required": True},
            "job": {"type": "str", "required": True},
            "build": {"type": "str", "default": "latest"},
        },
    },
    "cpuids": {"type": "list", "elements": "int"},
    "memory": {"type": "int"},
    "cpus": {"type": "int"},
    "arguments": {"type": "list", "elements": "str"},
    "block_devices": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "host_device": {"type": "str"},
            "sector_size": {"type": "int"},
        },
    },
    "network_interfaces": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "bridge": {"type": "str"},
            "mac": {"type": "str"},
        },
    },
    "fail_behaviour": {"type": "str", "choices": ["quit", "restart"]},
    "restart_exit_codes": {"type": "list", "elements": "int"},
    "startup": {"type": "int"},
    "add_name": {"type": "bool"},
    "compression": {"type": "int", "default": 0, "choices": list(range(10))},
    "recreate": {"type": "str", "default": "on_change", "choices": ["on_change", "never", "always"]},
    "backup_dir": {"type": "path"},
    "backup_key": {"type": "str", "no_log": False},
}

MODULE_SPEC = ModuleSpec(
    ARGUMENT_SPEC,
    mutually_exclusive=(("image", "image_url", "builder_web"),),
    required_by={"image_sha256": "image_url"},
    controller_files=("image",),
)


def _plain_describe(what: str, exc: BaseException) -> str:
    return f"Error {what}: {exc}"


@dataclasses.dataclass
class Ops:
    step: t.Callable[[str, t.Callable[[], t.Any]], t.Any]
    fail: t.Callable[..., t.NoReturn]  # fail(msg, **more result keys)
    warn: t.Callable[[str], None]
    check_mode: bool = False
    describe: t.Callable[[str, BaseException], str] = _plain_describe


def _attempt(fn: t.Callable[[], t.Any]) -> AlbatrossError | None:
    """``fn()``; an error after something may have been sent is returned, not raised.

    Errors raised before anything is sent (bad input, credentials) propagate: they change nothing.
    """
    try:
        fn()
    except (ValidationError, CertificateError):
        raise
    except AlbatrossError as exc:
        return exc
    return None


@contextlib.contextmanager
def _signals_deferred() -> t.Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver the first one to the previous handler.

    Ansible's worker process ends at once (``os._exit``) on either signal, so a ctrl-c or an AWX
    cancel while albatross replaces a unikernel would leave no process to create the old one
    again. The block is one change and its recovery, each bounded by the connection timeout.
    Only the main thread can set handlers; elsewhere (fleet's parallel items) signals are not held back.
    """
    pending: list[int] = []
    previous: dict[int, t.Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda number, frame: pending.append(number))
    except ValueError:
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])


class _Present:
    """state=present: decide created / replaced / restarted_with_arguments / none, then act."""

    def __init__(self, client: t.Any, params: t.Mapping[str, t.Any], ops: Ops, label: str) -> None:
        self.client, self.params, self.ops, self.label = client, params, ops, label
        self.add_name = params["add_name"] if params.get("add_name") is not None else True
        self.started_before: t.Any = None
        self.kept: dict[str, str] | None = None

    def run(self, info: t.Any) -> dict[str, t.Any]:
        label, ops = self.label, self.ops
        if info is not None and info.typ != "solo5":
            ops.fail(f"unikernel {label} is a {info.typ} guest; this module manages solo5 unikernels only.")
        desired = ops.step(f"validating unikernel {label}", lambda: desired_view(self.params))
        source = ops.step(f"validating unikernel {label}", lambda: ImageSource.from_params(self.params))
        current = current_view(info) if info is not None else None
        self.started_before = info.started if info is not None else None
        if current is None and source is None:
            ops.fail(f"Cannot create unikernel {label}: one of image, image_url or builder_web is required to create it.")
        digest = ops.step(f"reading {source.describe()}", source.digest) if source is not None else None
        target = target_view(current, desired, digest)
        action, diffs = self._decide(current, target)
        result: dict[str, t.Any] = {"changed": action != "none", "action": action,
                                    "diff": {"before": diff_side(label, current), "after": diff_side(label, target)}}
        if current is not None:
            result["differences"] = diffs
        if source is not None:
            result["image_source"] = source.details
        if action == "none":
            if current is not None:
                result["diff"]["after"] = result["diff"]["before"]
            return result
        image = self._image(source, action)
        checked = self._manifest_image(current, target, image)
        # Named in manifest errors: the task's image source, or the server's own image.
        self.image_text = source.describe() if source is not None and checked is image else "the running image"
        self._preflight(target, checked)
        if ops.check_mode:
            return result
        old_image = None
        if current is not None:
            # What runs now, kept in memory: albatross stops it before it starts the new one.
            old_image = self._old_image(current, checked)
            if self.params.get("backup_dir"):
                result["backup"] = self.kept = self._backup(current, old_image)
        self._act(action, current, target, image, old_image)
        return result

    def _decide(self, current: dict | None, target: dict) -> tuple[str, list[str]]:
        if current is None:
            return "created", []
        diffs = differences(current, target)
        recreate = self.params.get("recreate") or "on_change"
        if recreate == "always":
            return "replaced", diffs
        if not diffs:
            return "none", diffs
        if recreate == "never":
            self.ops.warn(f"unikernel {self.label} differs from the task in {', '.join(diffs)}, "
                          "but recreate=never: it was left as it is.")
            return "none", diffs
        if any(key in NOT_RESTARTABLE for key in diffs):
            return "replaced", diffs
        return "restarted_with_arguments", diffs

    def _image(self, source: ImageSource | None, action: str) -> bytes | None:
        """The image to upload; downloads only what is really needed (never in check mode)."""
        if action == "restarted_with_arguments":
            return source.loaded if source is not None else None
        if source is not None:
            if self.ops.check_mode and source.kind != "file" and source.loaded is None:
                return None
            return self.ops.step(f"reading {source.describe()}", source.load)
        if self.ops.check_mode:
            return None
        # Replacing without an image source: the server's own image, with the new config.
        return self.ops.step(f"getting the image of unikernel {self.label}", lambda: self.client.unikernel_get(self.label))

    def _manifest_image(self, current: dict | None, target: dict, image: bytes | None) -> bytes | None:
        """The image whose manifest the target's devices must match, read in check mode too.

        Without an image at hand (restart with new arguments, or check mode), the running
        image is fetched only when the device names change: otherwise it matches already.
        A remote image that check mode does not download cannot be checked.
        """
        if image is not None or current is None or current["digest"] != target["digest"]:
            return image
        if _device_names(current) == _device_names(target):
            return None
        return self.ops.step(f"getting the image of unikernel {self.label}", lambda: self.client.unikernel_get(self.label))

    def _preflight(self, target: dict, image: bytes | None) -> None:
        """Checks that need no change on the server: manifest against devices, policy."""
        label, ops = self.label, self.ops
        if image is not None:
            def check_manifest() -> None:
                from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.manifest import check_image
                check_image(image, [b["name"] for b in target["block_devices"]],
                            [n["name"] for n in target["network_interfaces"]], getattr(self, "image_text", "the image"))
            ops.step(f"checking the image of unikernel {label}", check_manifest)
        self._no_pending_writes(target)
        policies = ops.step(f"reading the policy for unikernel {label}", self._policies)
        own = dict(policies).get(name_to_string(tuple(getattr(self.client, "path", ())))) if policies else None
        if own is not None:
            from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.policy import check_fine_with_policy
            ops.step(f"checking unikernel {label} against the policy", lambda: check_fine_with_policy(own, arguments_of(target, self.add_name)))

    def _no_pending_writes(self, target: dict) -> None:
        """Refuse to start the unikernel on a volume whose last data write did not finish (its marker volume is there)."""
        volumes = sorted({b["host_device"] for b in target["block_devices"]})
        if not volumes:
            return
        from ansible_collections.unikernels.albatross.plugins.module_utils._volume_marker import marker_label
        label = self.label
        for volume in volumes:
            marker = marker_label(volume)
            found = self.ops.step(f"reading the volumes of unikernel {label}", lambda: self.client.block_info(marker))
            if found:
                self.ops.fail(f"Cannot start unikernel {label} on volume {volume}: a data write to it did not finish (its "
                              f"write-in-progress marker {marker} exists), so it does not hold the data last asked for; "
                              "write the data again with unikernels.albatross.block, then run this task again.")

    def _policies(self) -> list | None:
        try:
            return self.client.policy_info()
        except CommandFailed:
            return None  # not allowed to read it: the server checks the policy anyway

    def _old_image(self, current: dict, checked: bytes | None) -> bytes:
        """The running image (uncompressed), reusing one already read when it is the same."""
        if checked is not None and hashlib.sha256(checked).hexdigest() == current["digest"]:
            return checked
        label = self.label
        image = self.ops.step(f"getting the image of unikernel {label} (kept to restore it if the change fails)",
                              lambda: self.client.unikernel_get(label))
        if hashlib.sha256(image).hexdigest() != current["digest"]:
            self.ops.fail(f"Unikernel {label} changed while its image was read (someone else replaced it); "
                          "nothing was changed by this task, run it again.")
        return image

    def _kept_options(self, current: dict) -> dict:
        """The options a rollback replays. Albatross does not report add_name, so the task's value (the one the
        unikernel was deployed with, as far as anyone can tell) is kept with them when the task gives one."""
        options = options_of(current)
        if self.params.get("add_name") is not None:
            options["add_name"] = self.params["add_name"]
        return options

    def _backup(self, current: dict, image: bytes) -> dict[str, str]:
        directory = self.params["backup_dir"]
        key = self.params.get("backup_key") or _default_backup_key(self.client, self.params)
        paths = backup_paths(directory, key, self.label)

        def write() -> None:
            try:
                write_backup(paths, self.label, current["digest"], self._kept_options(current), image)
            except (LocalFileError, OSError) as exc:
                raise ValidationError(f"cannot write the backup in {os.path.dirname(paths['image'])}: {exc}") from exc
        self.ops.step(f"keeping a backup of unikernel {self.label}", write)
        return paths

    def _act(self, action: str, current: dict | None, target: dict, image: bytes | None, old_image: bytes | None) -> None:
        with _signals_deferred():
            self._change(action, current, target, image, old_image)

    def _change(self, action: str, current: dict | None, target: dict, image: bytes | None, old_image: bytes | None) -> None:
        client, label = self.client, self.label
        level = self.params.get("compression") or 0
        if action == "restarted_with_arguments":
            what = f"restarting unikernel {label} with new arguments"
            error = self.ops.step(what, lambda: _attempt(
                lambda: client.unikernel_restart(label, arguments_of(target, self.add_name))))
        else:
            config = config_of(target, self.add_name)
            what = f"{'creating' if action == 'created' else 'replacing'} unikernel {label}"
            error = self.ops.step(what, lambda: _attempt(
                lambda: client.unikernel_create(label, config, image, force=action == "replaced", compression=level)))
        if error is not None:
            self._recover(what, error, current, target, old_image)

    def _now(self) -> tuple[bool, dict | None, t.Any]:
        """(could read, current view or None, started) of the unikernel, without failing."""
        try:
            infos = self.client.unikernel_info(self.label)
        except AlbatrossError:
            return False, None, None
        return True, (current_view(infos[0]) if infos else None), (infos[0].started if infos else None)

    def _recover(self, what: str, error: AlbatrossError, current: dict | None, target: dict, old_image: bytes | None) -> None:
        """After a failed or unanswered create, replace or restart: find out what runs, restore the old one if nothing does.

        A failure reply, a broken connection or a time-out do not say for sure whether albatross
        acted: an upload cut short is dropped by the server, but once the whole image arrived
        albatross goes on without the client. Only the state read afterwards tells.
        """
        label = self.label
        extra: dict[str, t.Any] = {"server_message": error.message} if isinstance(error, CommandFailed) else {}

        def fail(msg: str, **kwargs: t.Any) -> t.NoReturn:
            self.ops.fail(msg, **extra, **kwargs)
        ops = dataclasses.replace(self.ops, fail=fail)
        reason = ops.describe(what, error)
        read, now, started = self._now()
        # Every create starts the unikernel anew, so a new start time tells a made change from an unchanged
        # unikernel also when the configurations are equal (recreate=always).
        fresh = current is None or started != self.started_before
        if now is not None and fresh and not differences(now, target):
            ops.warn(f"{reason}; but unikernel {label} runs the requested image and configuration, so the change was made.")
            return
        if current is None:
            ops.fail(reason)
        if now is not None:
            if not differences(now, current):
                ops.fail(f"{reason}. Unikernel {label} still runs its previous image and configuration"
                         + (" (it was restarted)." if fresh else "; nothing was changed."))
            ops.fail(f"{reason}. Unikernel {label} now runs with {', '.join(differences(now, current))} different from both "
                     "the previous and the requested configuration (changed by someone else?); it was left as it is.")
        # Nothing runs (or the server cannot say): albatross stopped the old unikernel and the new one did
        # not start. Create the old one again. A plain create never stops anything, so should the new
        # one have come up meanwhile, this fails with "already running" and nothing is lost.
        restore = config_of(current, self.add_name)
        level = self.params.get("compression") or 0
        restore_error = _attempt(lambda: self.client.unikernel_create(label, restore, old_image, compression=level))
        read, now, started = self._now()
        cause = _cause(error)
        server = self.params.get("server") or getattr(self.client, "server", None) or "the server"
        change = f"{what[0].upper()}{what[1:]} on {server} failed ({cause})"
        if now is not None and not differences(now, current):
            ops.fail(f"{change}, so the previous unikernel "
                     f"(image {current['digest'][:12]} with its configuration) was created again and runs.", restored=True)
        if now is not None and not differences(now, target):
            ops.warn(f"{reason}; but unikernel {label} runs the requested image and configuration, so the change was made.")
            return
        kept = self.kept or self._emergency_copy(current, old_image)
        restore_cause = _cause(restore_error) if restore_error is not None else (
            "it did not run afterwards" if read else "its state could not be read afterwards")
        ops.fail(f"{change}, and creating the previous unikernel again "
                 f"failed too ({restore_cause}), so unikernel {label} may not run: its previous image and configuration "
                 f"are in {kept['image']} and {kept['config']}; restore them with the unikernels.albatross.rollback role "
                 "or this module (image and the options in the JSON file) once the server is reachable.", restored=False, kept=kept)

    def _emergency_copy(self, current: dict, image: bytes | None) -> dict[str, str]:
        """Without backup_dir: the old image and configuration in a new private directory, so they are not lost."""
        try:
            directory = tempfile.mkdtemp(prefix=f"albatross-{self.label}-")
            paths = backup_paths(directory, ".", self.label)
            write_backup(paths, self.label, current["digest"], self._kept_options(current), image or b"")
            return {key: os.path.normpath(value) for key, value in paths.items()}
        except (LocalFileError, OSError) as exc:
            return {"image": f"(nowhere: {exc})", "config": "(nowhere)"}


def _cause(error: AlbatrossError) -> str:
    if isinstance(error, CommandFailed):
        return f"the server answered: {error.message}"
    return f"{type(error).__name__}: {error}" if not str(error) else str(error)


def _default_backup_key(client: t.Any, params: t.Mapping[str, t.Any]) -> str:
    """The key of docs/upgrades.md: the server address and the full tenant path of the credentials."""
    server = params.get("server") or getattr(client, "server", None)
    path = ":".join(getattr(client, "path", ()) or ())
    return backup_key(server, path or None)


def _device_names(view: dict) -> tuple[list[str], list[str]]:
    return [b["name"] for b in view["block_devices"]], [n["name"] for n in view["network_interfaces"]]


def reconcile(client: t.Any, params: t.Mapping[str, t.Any], ops: Ops) -> dict[str, t.Any]:
    """Bring one unikernel to ``params``; the result dict of the ``unikernel`` module."""
    label = ops.step(f"validating unikernel {params['name']}", lambda: validate_label(params["name"]))
    state = params.get("state") or "present"
    infos = ops.step(f"reading unikernel {label}", lambda: client.unikernel_info(label))
    info = infos[0] if infos else None
    if state == "present":
        result = _Present(client, params, ops, label).run(info)
    elif state == "absent":
        result = _absent(client, ops, label, info)
    else:
        result = _restarted(client, ops, label, info)
    if result["changed"] and not ops.check_mode:
        infos = ops.step(f"reading unikernel {label}", lambda: client.unikernel_info(label))
        info = infos[0] if infos else None
        if info is None and state != "absent":
            ops.warn(f"unikernel {label} is not running after the change; see unikernels.albatross.console_info")
    result["unikernel"] = unikernel_to_dict(info) if info is not None else None
    return result


def _absent(client: t.Any, ops: Ops, label: str, info: t.Any) -> dict[str, t.Any]:
    result = {"changed": info is not None, "action": "destroyed" if info is not None else "none",
              "diff": {"before": diff_side(label, current_view(info) if info else None), "after": diff_side(label, None)}}
    if info is None or ops.check_mode:
        return result

    def destroy() -> None:
        try:
            client.unikernel_destroy(label)
        except CommandFailed as exc:
            if "not found" not in exc.message:
                raise
            result.update(changed=False, action="none")
    ops.step(f"destroying unikernel {label}", destroy)
    return result


def _restarted(client: t.Any, ops: Ops, label: str, info: t.Any) -> dict[str, t.Any]:
    if info is None:
        ops.fail(f"Cannot restart unikernel {label}: it is not running (a restart does not start a stopped unikernel; "
                 "use state=present to create it).")
    view = diff_side(label, current_view(info))
    if not ops.check_mode:
        what = f"restarting unikernel {label}"
        with _signals_deferred():
            error = ops.step(what, lambda: _attempt(lambda: client.unikernel_restart(label)))
            if error is not None:
                _restart_failed(client, ops, label, info, ops.describe(what, error), error)
    return {"changed": True, "action": "restarted", "diff": {"before": view, "after": view}}


def _restart_failed(client: t.Any, ops: Ops, label: str, info: t.Any, reason: str, error: AlbatrossError) -> None:
    """Say what runs after a failed or unanswered restart (albatross stops the unikernel before it starts it again)."""
    extra = {"server_message": error.message} if isinstance(error, CommandFailed) else {}
    try:
        infos = client.unikernel_info(label)
    except AlbatrossError:
        ops.fail(f"{reason}; whether unikernel {label} runs could not be read afterwards.", **extra)
    if infos and infos[0].started != info.started:
        ops.warn(f"{reason}; but unikernel {label} was started again, so the restart was made.")
        return
    if infos:
        ops.fail(f"{reason}. Unikernel {label} still runs; it was not restarted.", **extra)
    ops.fail(f"{reason}. Albatross stopped unikernel {label} and could not start it again, so it does not run now: "
             "create it with state=present and its image.", **extra)


def module_ops(module: ModuleLike) -> Ops:
    return Ops(step=lambda what, fn: run_with_errors(module, fn, what),
               fail=lambda msg, **kwargs: module.fail_json(msg=msg, **kwargs), warn=module.warn, check_mode=module.check_mode,
               describe=lambda what, exc: format_error(what, exc, module.params))


def run_module(module: ModuleLike, client: t.Any = None) -> None:
    """Entry point of both bindings; ``client`` is injected by unit tests."""
    if client is None:
        client = client_for(module)
    result = reconcile(client, module.params, module_ops(module))
    if not module.diff_mode:
        result.pop("diff", None)
    module.exit_json(**result)
