# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the certificate module logic, with real files in tmp_path."""

from __future__ import annotations

import datetime
import os
import stat

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils import _certificate
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import Policy
from ansible_collections.unikernels.albatross.plugins.module_utils._certificate import CertificateModuleError
from ansible_collections.unikernels.albatross.plugins.plugin_utils._action import ActionModuleAdapter, ModuleExit, validate_args

POLICY = {"unikernels": 5, "memory": 1024, "block": 2048, "cpuids": [1, 0], "bridges": ["service"]}


def params(**args):
    checked = validate_args(_certificate.MODULE_SPEC, args, "certificate")
    assert checked.error is None, checked.error
    return checked.params


def run(check_mode=False, now=None, **args):
    return _certificate.run(params(**args), check_mode, now=now)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def load(path):
    return certs.load_certificates(read(path))


@pytest.fixture
def root(tmp_path):
    args = dict(kind="root_ca", path=str(tmp_path / "ca.pem"), key_path=str(tmp_path / "ca.key"), common_name="test-ca")
    run(**args)
    return args


def delegation_args(tmp_path, root, name="alice", policy=None, issuer=None):
    issuer = issuer or root
    return dict(kind="delegation", path=str(tmp_path / (name + ".pem")), key_path=str(tmp_path / (name + ".key")),
                common_name=name, policy=policy or dict(POLICY), issuer_cert=issuer["path"], issuer_key=issuer["key_path"])


def test_root_ca_created_then_unchanged(tmp_path):
    args = dict(kind="root_ca", path=str(tmp_path / "ca.pem"), key_path=str(tmp_path / "ca.key"), common_name="test-ca")
    predicted = run(check_mode=True, **args)
    assert predicted["changed"] and predicted["regenerated"] and predicted["key_generated"]
    assert predicted["serial"] is None
    assert not os.path.exists(args["path"]) and not os.path.exists(args["key_path"])

    first = run(**args)
    assert first["changed"] and first["key_type"] == "ed25519"
    assert mode(args["key_path"]) == 0o600
    cert = load(args["path"])[0]
    assert certs.is_self_signed(cert) and certs.common_name(cert) == "test-ca"
    assert first["issuer"] == "CN=test-ca" and first["policy"] is None
    assert first["diff"]["before"] == {} and first["diff"]["after"]["common_name"] == "test-ca"

    second = run(**args)
    assert not second["changed"] and second["serial"] == first["serial"]
    assert run(check_mode=True, **args)["changed"] is False


def test_server_certificate_profile(tmp_path, root):
    args = dict(kind="server", path=str(tmp_path / "server.pem"), key_path=str(tmp_path / "server.key"),
                issuer_cert=root["path"], issuer_key=root["key_path"], key_type="p256")
    first = run(**args)
    assert first["changed"] and first["common_name"] == "server" and first["key_type"] == "p256"
    chain = load(args["path"])
    assert len(chain) == 1  # issuer is the self-signed root: no chain appended
    chain[0].verify_directly_issued_by(load(root["path"])[0])
    assert not run(**args)["changed"]
    # A CN given now that differs from the certificate: replaced.
    renamed = run(common_name="albatross.example", **args)
    assert renamed["changed"] and renamed["regenerated"] and not renamed["key_generated"]
    assert renamed["diff"]["before"]["common_name"] == "server"
    assert renamed["diff"]["after"]["common_name"] == "albatross.example"


def test_delegation_policy_chain_and_signer(tmp_path, root):
    args = delegation_args(tmp_path, root)
    first = run(**args)
    assert first["changed"]
    assert first["policy"] == {"unikernels": 5, "memory": 1024, "block": 2048, "cpuids": [0, 1], "bridges": ["service"]}
    assert len(load(args["path"])) == 1
    signer = certs.Signer.load(read(args["path"]), read(args["key_path"]))
    assert signer.path == ("alice",) and signer.policy == Policy(5, (0, 1), 1024, 2048, ("service",))
    assert not run(**args)["changed"]

    # A delegation below alice: the file carries alice's certificate after the new one.
    sub = delegation_args(tmp_path, root, name="web", policy={"unikernels": 1, "memory": 64, "cpuids": [0]}, issuer=args)
    made = run(**sub)
    assert made["changed"] and made["policy"]["block"] is None
    chain = load(sub["path"])
    assert [certs.common_name(c) for c in chain] == ["web", "alice"]
    assert certs.Signer.load(read(sub["path"]), read(sub["key_path"])).path == ("alice", "web")
    assert not run(**sub)["changed"]


def test_policy_change_regenerates_and_keeps_key(tmp_path, root):
    args = delegation_args(tmp_path, root)
    run(**args)
    key_before = read(args["key_path"])
    args["policy"] = dict(POLICY, memory=2048)
    predicted = run(check_mode=True, **args)
    assert predicted["changed"] and predicted["regenerated"] and not predicted["key_generated"]
    assert predicted["diff"]["before"]["policy"]["memory"] == 1024
    assert predicted["diff"]["after"]["policy"]["memory"] == 2048
    assert "policy" in predicted["reasons"][0]
    result = run(**args)
    assert result["changed"] and result["policy"]["memory"] == 2048
    assert read(args["key_path"]) == key_before
    assert not run(**args)["changed"]


def test_regenerate_fail_and_never(tmp_path, root):
    args = delegation_args(tmp_path, root)
    run(**args)
    before = read(args["path"])
    args["policy"] = dict(POLICY, unikernels=6)
    with pytest.raises(CertificateModuleError, match="regenerate=fail.*policy"):
        run(regenerate="fail", **args)
    assert read(args["path"]) == before
    assert not run(regenerate="never", **args)["changed"]
    assert read(args["path"]) == before
    # Same options: fail does not fail.
    args["policy"] = dict(POLICY)
    assert not run(regenerate="fail", **args)["changed"]


def test_regenerate_never_without_key_fails(tmp_path, root):
    os.unlink(root["key_path"])
    with pytest.raises(CertificateModuleError, match="regenerate=never"):
        run(regenerate="never", **root)
    assert not os.path.exists(root["key_path"])


def test_regenerate_always_keeps_key(tmp_path, root):
    key_before = read(root["key_path"])
    serial = run(**root)["serial"]
    renewed = run(regenerate="always", **root)
    assert renewed["changed"] and renewed["serial"] != serial and not renewed["key_generated"]
    assert read(root["key_path"]) == key_before


def test_key_type_compared_only_when_given(tmp_path):
    args = dict(kind="root_ca", path=str(tmp_path / "ca.pem"), key_path=str(tmp_path / "ca.key"), common_name="ca", key_type="p384")
    run(**args)
    del args["key_type"]
    assert not run(**args)["changed"]
    args["key_type"] = "ed25519"
    result = run(**args)
    assert result["changed"] and result["key_generated"] and result["key_type"] == "ed25519"
    assert result["diff"]["before"]["key_type"] == "p384"
    with pytest.raises(CertificateModuleError, match="key would be replaced|would be regenerated"):
        args.update(key_type="p256", regenerate="fail")
        run(**args)


def test_key_mode_is_corrected(tmp_path, root):
    os.chmod(root["key_path"], 0o644)
    assert run(check_mode=True, **root)["changed"]
    assert mode(root["key_path"]) == 0o644
    result = run(**root)
    assert result["changed"] and not result["regenerated"]
    assert mode(root["key_path"]) == 0o600
    assert not run(**root)["changed"]


def test_expired_certificate_is_replaced(tmp_path, root):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=4000)
    result = run(now=later, **root)
    assert result["changed"] and any("expired" in r for r in result["reasons"])


def test_valid_days_alone_does_not_regenerate(tmp_path, root):
    assert not run(valid_days=30, **root)["changed"]


def test_wrong_issuer_regenerates(tmp_path, root):
    other = dict(kind="root_ca", path=str(tmp_path / "other.pem"), key_path=str(tmp_path / "other.key"), common_name="other")
    run(**other)
    args = delegation_args(tmp_path, root)
    run(**args)
    moved = run(**delegation_args(tmp_path, other))
    assert moved["changed"] and any("not signed by issuer_cert" in r for r in moved["reasons"])
    load(args["path"])[0].verify_directly_issued_by(load(other["path"])[0])


def test_chain_rewritten_when_issuer_renewed(tmp_path, root):
    alice = delegation_args(tmp_path, root)
    run(**alice)
    web = delegation_args(tmp_path, root, name="web", policy={"unikernels": 1, "memory": 64, "cpuids": [0]}, issuer=alice)
    first = run(**web)
    run(regenerate="always", **alice)  # same key, new certificate
    result = run(**web)
    assert result["changed"] and not result["regenerated"] and result["serial"] == first["serial"]
    assert load(web["path"])[1].serial_number == load(alice["path"])[0].serial_number


def test_unreadable_key_is_never_overwritten(tmp_path):
    key_path = tmp_path / "ca.key"
    key_path.write_bytes(b"not a key\n")
    with pytest.raises(CertificateModuleError, match="not an unencrypted PEM private key"):
        run(kind="root_ca", path=str(tmp_path / "ca.pem"), key_path=str(key_path), common_name="ca")
    assert key_path.read_bytes() == b"not a key\n"
    assert not (tmp_path / "ca.pem").exists()


def test_regenerate_never_keeps_the_file_as_it_is(tmp_path, root):
    alice = delegation_args(tmp_path, root)
    run(**alice)
    web = delegation_args(tmp_path, root, name="web", policy={"unikernels": 1, "memory": 64, "cpuids": [0]}, issuer=alice)
    run(**web)
    run(regenerate="always", **alice)
    before = read(web["path"])
    assert not run(regenerate="never", **web)["changed"]
    with open(root["path"], "w") as handle:
        handle.write("garbage")
    assert not run(regenerate="never", **root)["changed"]
    assert read(web["path"]) == before and read(root["path"]) == b"garbage"


def test_garbage_certificate_is_replaced(tmp_path, root):
    with open(root["path"], "w") as handle:
        handle.write("garbage")
    result = run(**root)
    assert result["changed"] and result["regenerated"] and not result["key_generated"]


@pytest.mark.parametrize("policy, match", [
    ({"unikernels": 0, "memory": 64, "cpuids": [0]}, "not usable"),
    ({"unikernels": 1, "memory": 8, "cpuids": [0]}, "not usable"),
])
def test_unusable_policy(tmp_path, root, policy, match):
    args = delegation_args(tmp_path, root, policy=policy)
    with pytest.raises(CertificateModuleError, match=match):
        run(**args)
    assert not os.path.exists(args["path"]) and not os.path.exists(args["key_path"])


def test_policy_larger_than_issuer_policy(tmp_path, root):
    alice = delegation_args(tmp_path, root)
    run(**alice)
    web = delegation_args(tmp_path, root, name="web", policy=dict(POLICY, memory=4096), issuer=alice)
    with pytest.raises(CertificateModuleError, match="exceeds the policy of issuer_cert.*memory"):
        run(**web)
    assert not os.path.exists(web["path"])


@pytest.mark.parametrize("args, match", [
    ({"common_name": "Bad:Name"}, "albatross label"),
    ({"issuer_key": "/nonexistent/key"}, "cannot read issuer file"),
])
def test_bad_delegation_input(tmp_path, root, args, match):
    full = delegation_args(tmp_path, root)
    full.update(args)
    with pytest.raises(CertificateModuleError, match=match):
        run(**full)
    assert not os.path.exists(full["path"])


def test_issuer_key_mismatch(tmp_path, root):
    other = dict(kind="root_ca", path=str(tmp_path / "other.pem"), key_path=str(tmp_path / "other.key"), common_name="other")
    run(**other)
    full = delegation_args(tmp_path, root)
    full["issuer_key"] = other["key_path"]
    with pytest.raises(CertificateModuleError, match="does not match"):
        run(**full)


def test_delegation_label_is_lower_cased(tmp_path, root):
    args = delegation_args(tmp_path, root, name="Alice")
    assert run(**args)["common_name"] == "alice"
    assert not run(**args)["changed"]


def test_misc_input_errors(tmp_path, root):
    with pytest.raises(CertificateModuleError, match="different files"):
        run(kind="root_ca", path=str(tmp_path / "x"), key_path=str(tmp_path / "x"), common_name="x")
    with pytest.raises(CertificateModuleError, match="does not exist"):
        run(kind="root_ca", path=str(tmp_path / "no" / "ca.pem"), key_path=str(tmp_path / "k"), common_name="x")
    with pytest.raises(CertificateModuleError, match="only used with kind=delegation"):
        run(policy=dict(POLICY), **root)
    checked = validate_args(_certificate.MODULE_SPEC, {"kind": "delegation", "path": "/x", "key_path": "/y"})
    assert "common_name" in checked.error and "policy" in checked.error


def test_run_module_adapter(tmp_path):
    module = ActionModuleAdapter(params(kind="root_ca", path=str(tmp_path / "ca.pem"), key_path=str(tmp_path / "ca.key"),
                                        common_name="ca"), check_mode=False)
    with pytest.raises(ModuleExit) as exc:
        _certificate.run_module(module)
    assert exc.value.result["changed"] is True and "failed" not in exc.value.result
    module.params["path"] = module.params["key_path"]
    with pytest.raises(ModuleExit) as exc:
        _certificate.run_module(module)
    assert exc.value.result["failed"] is True
