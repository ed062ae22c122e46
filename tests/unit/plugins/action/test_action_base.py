# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AlbatrossActionBase: argument validation, env fallbacks, no_log masking, check/diff mode."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleError

from ansible_collections.unikernels.albatross.plugins.module_utils._common import (
    CONNECTION_ARGSPEC,
    ModuleSpec,
    build_client,
    run_with_errors,
)
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import (
    AlbatrossTimeout,
    AuthenticationError,
    ValidationError,
)
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import (
    ActionModuleAdapter,
    AlbatrossActionBase,
    ModuleExit,
    validate_args,
)

ENV = ("ALBATROSS_SERVER", "ALBATROSS_SERVER_CA", "ALBATROSS_SERVER_NAME", "ALBATROSS_CLIENT_CERT", "ALBATROSS_CLIENT_KEY",
       "ALBATROSS_CLIENT_KEY_PASSPHRASE", "ALBATROSS_KEY_TYPE", "ALBATROSS_TIMEOUT", "ALBATROSS_PATH")

SPEC = ModuleSpec({"name": {"type": "str", "required": True}, "secret": {"type": "str", "no_log": True}},
                  controller_files=("name",))


class EchoAction(AlbatrossActionBase):
    MODULE_SPEC = SPEC

    def run_module(self, module) -> None:
        module.warn("careful")
        if module.params["name"] == "fail":
            module.fail_json(msg=f"failed with {module.params['client_key_content']}")
        module.exit_json(changed=True, params=dict(module.params), check_mode=module.check_mode,
                         diff_mode=module.diff_mode, diff={"before": {}, "after": {"x": 1}})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def action(args, check_mode=False, diff=False):
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = task.resolved_action = "unikernels.albatross.echo"
    task.get_search_path.return_value = []
    connection = MagicMock()
    connection._shell.tmpdir = None
    loader = MagicMock()
    loader.path_dwim_relative_stack.side_effect = AnsibleError("not found")
    return EchoAction(task, connection, MagicMock(), loader, MagicMock(), MagicMock())


def test_connection_options_match_interface():
    assert set(CONNECTION_ARGSPEC) == {
        "server", "server_ca", "server_ca_content", "server_name", "client_cert", "client_cert_content", "client_key",
        "client_key_content", "client_key_passphrase", "key_type", "timeout", "path"}
    secret = {k for k, v in CONNECTION_ARGSPEC.items() if v.get("no_log")}
    # client_key is a path: shown in messages; the key content and the passphrase are secret.
    assert secret == {"client_key_content", "client_key_passphrase"}


def test_env_fallbacks(monkeypatch):
    monkeypatch.setenv("ALBATROSS_SERVER", "[::1]:1025")
    monkeypatch.setenv("ALBATROSS_CLIENT_CERT", "/env/cert.pem")
    monkeypatch.setenv("ALBATROSS_KEY_TYPE", "p256")
    monkeypatch.setenv("ALBATROSS_TIMEOUT", "2.5")
    monkeypatch.setenv("ALBATROSS_PATH", "alice")
    result = action({"name": "/abs"}).run(task_vars={})
    params = result["params"]
    assert params["server"] == "[::1]:1025" and params["client_cert"] == "/env/cert.pem"
    assert params["key_type"] == "p256" and params["timeout"] == 2.5 and params["path"] == "alice"
    # task arguments win over the environment
    assert action({"name": "/abs", "server": "a:1"}).run(task_vars={})["params"]["server"] == "a:1"


def test_env_file_and_task_content_do_not_clash(monkeypatch):
    monkeypatch.setenv("ALBATROSS_CLIENT_CERT", "/env/cert.pem")
    result = action({"name": "/abs", "client_cert_content": "PEM"}).run(task_vars={})
    assert not result.get("failed"), result


def test_explicit_file_and_content_are_exclusive():
    result = action({"name": "/abs", "client_key": "/k", "client_key_content": "K"}).run(task_vars={})
    assert result["failed"] and "mutually exclusive: client_key|client_key_content" in result["msg"]


def test_no_log_values_are_masked():
    result = action({"name": "fail", "client_key_content": "TOPSECRETKEY", "secret": "hunter22",
                     "client_key_passphrase": "passw0rd!"}).run(task_vars={})
    assert result["failed"]
    text = repr(result)
    assert "TOPSECRETKEY" not in text and "hunter22" not in text and "passw0rd!" not in text
    assert result["invocation"]["module_args"]["client_key_content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_no_log_env_value_is_masked(monkeypatch):
    monkeypatch.setenv("ALBATROSS_CLIENT_KEY_PASSPHRASE", "envsecret123")
    result = action({"name": "/abs"}).run(task_vars={})
    assert "envsecret123" not in repr(result)


def test_validation_errors_and_unknown_options():
    result = action({"bogus": 1}).run(task_vars={})
    assert result["failed"] and "Unsupported parameters" in result["msg"] and "bogus" in result["msg"]
    result = action({"name": "/abs", "key_type": "dsa"}).run(task_vars={})
    assert result["failed"] and "key_type" in result["msg"]


def test_check_and_diff_mode_from_task():
    result = action({"name": "/abs"}, check_mode=True, diff=True).run(task_vars={})
    assert result["check_mode"] and result["diff_mode"] and result["diff"] == {"before": {}, "after": {"x": 1}}
    assert result["warnings"] == ["careful"]
    plain = action({"name": "/abs"}).run(task_vars={})
    assert "diff" not in plain and not plain["check_mode"]


def test_relative_controller_files_use_search_path():
    act = action({"name": "rel.hvt"})
    act._loader.path_dwim_relative_stack.side_effect = None
    act._loader.path_dwim_relative_stack.return_value = "/play/files/rel.hvt"
    assert act.run(task_vars={})["params"]["name"] == "/play/files/rel.hvt"


def test_validate_args_ignores_internal_keys():
    checked = validate_args(SPEC, {"name": "x", "_ansible_check_mode": True})
    assert checked.error is None


def test_build_client_requires_credentials():
    with pytest.raises(ValidationError, match="server is required"):
        build_client({})
    with pytest.raises(ValidationError, match=r"client_cert is required \(option client_cert or client_cert_content, or env ALBATROSS_CLIENT_CERT\)"):
        build_client({"server": "x", "server_ca_content": "CA"})
    with pytest.raises(ValidationError, match="cannot read server_ca '/nonexistent/ca.pem'"):
        build_client({"server": "x", "server_ca": "/nonexistent/ca.pem"})


def raiser(exc):
    def fail():
        raise exc
    return fail


def test_run_with_errors_messages():
    module = ActionModuleAdapter({"server": "127.0.0.1:1025", "timeout": 5.0})
    with pytest.raises(ModuleExit) as exc:
        run_with_errors(module, raiser(AuthenticationError("check the chain")), "creating unikernel web")
    assert exc.value.result["msg"] == "Error creating unikernel web on 127.0.0.1:1025: authentication failed: check the chain"
    with pytest.raises(ModuleExit) as exc:
        run_with_errors(module, raiser(AlbatrossTimeout("read")), "reading unikernel web")
    assert exc.value.result["msg"] == "Error reading unikernel web on 127.0.0.1:1025: timed out after 5.0 s (read)"
    with pytest.raises(ModuleExit) as exc:
        run_with_errors(module, raiser(ValidationError("invalid label")), "validating unikernel -x")
    assert exc.value.result["msg"] == "Error validating unikernel -x: invalid label"
    assert run_with_errors(module, lambda: 42, "anything") == 42
