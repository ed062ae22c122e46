# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""liveliness_check module logic: option handling and results (checks against loopback listeners)."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _liveliness_check
from ansible_collections.unikernels.albatross.plugins.module_utils._liveliness import DnsCheck, HttpCheck, TcpCheck
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import ActionModuleAdapter, ModuleExit, validate_args


@pytest.fixture
def listener():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(check_mode=False, **args):
    checked = validate_args(_liveliness_check.MODULE_SPEC, args, "liveliness_check")
    if checked.error:
        return {"failed": True, "msg": checked.error}
    module = ActionModuleAdapter(checked.params, check_mode=check_mode)
    with pytest.raises(ModuleExit) as info:
        _liveliness_check.run_module(module)
    result = info.value.result
    result["warnings"] = module.warnings
    return result


def test_one_of_required():
    result = run()
    assert result["failed"] and "one of the following is required: http, dns, tcp" in result["msg"]


def test_defaults_and_single_or_list():
    params = validate_args(_liveliness_check.MODULE_SPEC, {"http": {"url": "http://x/"}, "tcp": [{"host": "h", "port": 1}]}).params
    assert params["retries"] == 10 and params["delay"] == 2.0 and params["timeout"] == 60.0
    checks, errors = _liveliness_check.parse_checks(params)
    assert errors == []
    assert checks == [HttpCheck("http://x/"), TcpCheck("h", 1)]
    params = validate_args(_liveliness_check.MODULE_SPEC, {"dns": [
        {"server": "127.0.0.1", "name": "a.test"},
        {"server": "::1", "name": "b.test", "type": "aaaa", "expected": ["::1"], "tcp": True, "port": 5353, "timeout": 1}]}).params
    checks, errors = _liveliness_check.parse_checks(params)
    assert errors == []
    assert checks == [DnsCheck("127.0.0.1", "a.test"), DnsCheck("::1", "b.test", port=5353, type="AAAA", expected=("::1",), tcp=True, timeout=1.0)]
    http = {"url": "http://x/", "method": "head", "status_code": [200, "204"], "headers": {"A": 1}}
    params = validate_args(_liveliness_check.MODULE_SPEC, {"http": http}).params
    check = _liveliness_check.parse_checks(params)[0][0]
    assert check.method == "HEAD" and check.status_code == (200, 204) and check.headers == (("A", "1"),)


@pytest.mark.parametrize("args, message", [
    ({"http": {}}, "http: missing required arguments: url"),
    ({"http": [{"url": "u"}, {"uri": "u"}]}, "http[1]: "),
    ({"http": {"url": "u", "status_code": ["x"]}}, "http: "),
    ({"http": "http://x/"}, "http: expected a dict, got str"),
    ({"http": []}, "http: give at least one check"),
    ({"dns": {"server": "127.0.0.1"}}, "dns: missing required arguments: name"),
    ({"dns": {"server": "127.0.0.1", "name": "x", "port": 0}}, "dns: port must be between 1 and 65535"),
    ({"tcp": {"host": "h", "port": 70000}}, "tcp: port must be between 1 and 65535"),
    ({"tcp": {"host": "h", "port": 1, "timeout": 0}}, "tcp: timeout must be positive"),
    ({"tcp": {"host": "h", "port": 1}, "retries": -1}, "retries must not be negative"),
    ({"tcp": {"host": "h", "port": 1}, "timeout": 0}, "timeout must be positive"),
])
def test_invalid_checks(args, message):
    result = run(**args)
    assert result["failed"] and result["msg"].startswith("Invalid liveliness checks: ")
    assert message in result["msg"]


def test_pass(listener):
    result = run(tcp={"host": "127.0.0.1", "port": listener}, retries=0)
    assert result["changed"] is False and "failed" not in result
    assert result["ok"] is True and result["rounds"] == 1 and result["failed_checks"] == []
    assert result["attempts"][0]["target"] == "TCP 127.0.0.1:%d" % listener
    assert set(result["attempts"][0]) == {"round", "timestamp", "check", "target", "ok", "detail", "elapsed"}


def test_check_mode_runs_checks(listener):
    result = run(check_mode=True, tcp=[{"host": "127.0.0.1", "port": listener}])
    assert result["ok"] is True and result["attempts"]


def test_fail_lists_failing_checks(listener):
    port = closed_port()
    result = run(tcp=[{"host": "127.0.0.1", "port": listener}, {"host": "127.0.0.1", "port": port}], retries=1, delay=0.01)
    assert result["failed"] is True and result["ok"] is False and result["rounds"] == 2
    assert result["msg"].startswith("Liveliness checks failed after 2 round(s) in ")
    assert "TCP 127.0.0.1:%d: connection failed" % port in result["msg"]
    assert "TCP 127.0.0.1:%d:" % listener not in result["msg"]
    assert len(result["attempts"]) == 4 and len(result["failed_checks"]) == 1


def test_unusable_check_fails_clearly():
    result = run(dns={"server": "not-an-ip", "name": "x.test"})
    assert result["failed"] and result["msg"] == "Cannot run the liveliness checks: DNS server must be an IP address, got 'not-an-ip'"


def test_tls_verification_cannot_be_turned_off():
    result = run(http={"url": "http://127.0.0.1:%d/" % closed_port(), "validate_certs": False}, retries=0)
    assert result["failed"] and "validate_certs" in result["msg"]
