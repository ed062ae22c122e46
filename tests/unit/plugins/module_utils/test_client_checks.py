# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client-side checks of create that must fail before any connection is made."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross import certs
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.client import Client
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.model import NetworkInterface, UnikernelConfig
from ansible_collections.unikernels.albatross.tests.images.make_images import make_image


@pytest.fixture(name="client")
def client_fixture():
    # A port nothing listens on: any attempt to connect would fail differently.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ca_cert, ca_key = certs.make_root_ca("test-ca")
    return Client(f"127.0.0.1:{port}", certs.cert_to_pem(ca_cert), certs.Signer.from_objects(ca_cert, ca_key), timeout=1.0)


@pytest.mark.parametrize("target, message", [
    ("virtio", "unsupported solo5 target virtio"),
    ("muen", "unsupported solo5 target muen"),
])
def test_unsupported_abi_target_is_refused_before_sending(client, target, message):
    image = make_image(networks=("service",), target=target)
    config = UnikernelConfig(network_interfaces=(NetworkInterface("service"),))
    with pytest.raises(ValidationError, match=message):
        client.unikernel_create("web", config, image)


def test_target_is_checked_before_devices(client):
    image = make_image(networks=("service",), target="virtio")
    with pytest.raises(ValidationError, match="unsupported solo5 target"):
        client.unikernel_create("web", UnikernelConfig(), image)
