# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options of the albatross TLS endpoint (modules and plugins variants)."""

from __future__ import annotations


class ModuleDocFragment:
    # Modules (action plugins running on the controller). Env vars are named in the
    # descriptions because module documentation has no env: key.
    DOCUMENTATION = r"""
options:
  server:
    description:
      - Address C(host[:port]) of the albatross TLS endpoint (C(albatross-tls-endpoint)).
      - The port defaults to V(1025). Host names and IPv6 addresses in brackets (V([::1]:1025)) are accepted.
      - If not set, the environment variable E(ALBATROSS_SERVER) is used. One of them is required.
    type: str
  server_ca:
    description:
      - PEM file holding the CA certificate that signed the server's certificate. It is the only trust anchor;
        TLS verification cannot be disabled.
      - Read on the controller.
      - If neither this nor O(server_ca_content) is set, the environment variable E(ALBATROSS_SERVER_CA) is used.
      - Mutually exclusive with O(server_ca_content).
    type: path
  server_ca_content:
    description:
      - The PEM text of the server CA certificate, instead of O(server_ca).
      - Mutually exclusive with O(server_ca).
    type: str
  server_name:
    description:
      - Also check that the server certificate carries this name.
      - Albatross server certificates usually carry only C(CN=server), so this is off unless set.
      - If not set, the environment variable E(ALBATROSS_SERVER_NAME) is used.
    type: str
  client_cert:
    description:
      - PEM file with the certificate that signs the short-lived per-command certificates, followed by its chain.
      - This is the root CA or a delegation (policy) CA. The chain goes up to, but need not include, the root CA.
      - The delegation chain decides the path under which names live.
      - Read on the controller.
      - If neither this nor O(client_cert_content) is set, the environment variable E(ALBATROSS_CLIENT_CERT) is used.
      - Mutually exclusive with O(client_cert_content).
    type: path
  client_cert_content:
    description:
      - The PEM text of O(client_cert) instead of a file.
      - Mutually exclusive with O(client_cert).
    type: str
  client_key:
    description:
      - PEM file with the private key of O(client_cert). It is read on the controller and never copied anywhere.
      - The path may show in messages and logs; the key itself never does (O(client_key_content) and
        O(client_key_passphrase) are C(no_log)).
      - If neither this nor O(client_key_content) is set, the environment variable E(ALBATROSS_CLIENT_KEY) is used.
      - Mutually exclusive with O(client_key_content).
    type: path
  client_key_content:
    description:
      - The PEM text of O(client_key) instead of a file (for example from Ansible Vault). Never logged.
      - Mutually exclusive with O(client_key).
    type: str
  client_key_passphrase:
    description:
      - Passphrase of an encrypted O(client_key).
      - If not set, the environment variable E(ALBATROSS_CLIENT_KEY_PASSPHRASE) is used.
    type: str
  key_type:
    description:
      - Key type of each per-command (leaf) certificate.
      - If not set, the environment variable E(ALBATROSS_KEY_TYPE) is used, then V(ed25519).
    type: str
    choices: [ed25519, p256, p384, p521, rsa2048, rsa4096]
    default: ed25519
  timeout:
    description:
      - Seconds to wait for the connection and for each read. Uploads go on as long as bytes move. Must be greater than 0.
      - If not set, the environment variable E(ALBATROSS_TIMEOUT) is used, then V(30).
    type: float
    default: 30
  path:
    description:
      - Act under this tenant path (for example V(alice)) below the path of O(client_cert), the way Mollymawk
        uses one CA per server.
      - Albatross re-installs every policy carried in the certificate chain, so the path's current policy is read
        first and re-asserted exactly. A path without a policy is an error.
      - If not set, the environment variable E(ALBATROSS_PATH) is used.
    type: str
notes:
  - The connection options can be set once for all albatross modules with
    C(module_defaults) and the group C(group/unikernels.albatross.api).
  - Every operation is authorised by a fresh certificate signed with O(client_key) that carries the command.
"""

    # Plugins (inventory, lookup): same options with env: entries.
    PLUGINS = r"""
options:
  server:
    description:
      - Address C(host[:port]) of the albatross TLS endpoint. The port defaults to V(1025).
      - Host names and IPv6 addresses in brackets (V([::1]:1025)) are accepted.
    type: str
    env:
      - name: ALBATROSS_SERVER
  server_ca:
    description:
      - PEM file holding the CA certificate that signed the server's certificate (the trust anchor).
      - TLS verification cannot be disabled. Mutually exclusive with O(server_ca_content).
    type: path
    env:
      - name: ALBATROSS_SERVER_CA
  server_ca_content:
    description:
      - The PEM text of the server CA certificate, instead of O(server_ca).
    type: str
  server_name:
    description:
      - Also check that the server certificate carries this name (albatross server certificates usually carry only C(CN=server)).
    type: str
    env:
      - name: ALBATROSS_SERVER_NAME
  client_cert:
    description:
      - PEM file with the certificate that signs the per-command certificates (root CA or delegation CA), followed by its chain.
      - Mutually exclusive with O(client_cert_content).
    type: path
    env:
      - name: ALBATROSS_CLIENT_CERT
  client_cert_content:
    description:
      - The PEM text of O(client_cert) instead of a file.
    type: str
  client_key:
    description:
      - PEM file with the private key of O(client_cert). Mutually exclusive with O(client_key_content).
    type: path
    env:
      - name: ALBATROSS_CLIENT_KEY
  client_key_content:
    description:
      - The PEM text of O(client_key) instead of a file.
    type: str
  client_key_passphrase:
    description:
      - Passphrase of an encrypted O(client_key).
    type: str
    env:
      - name: ALBATROSS_CLIENT_KEY_PASSPHRASE
  key_type:
    description:
      - Key type of each per-command (leaf) certificate.
    type: str
    choices: [ed25519, p256, p384, p521, rsa2048, rsa4096]
    default: ed25519
    env:
      - name: ALBATROSS_KEY_TYPE
  timeout:
    description:
      - Seconds to wait for the connection and for each read.
    type: float
    default: 30
    env:
      - name: ALBATROSS_TIMEOUT
  path:
    description:
      - Act under this tenant path below the path of O(client_cert). The path's current policy is read and re-asserted;
        a path without a policy is an error.
    type: str
    env:
      - name: ALBATROSS_PATH
notes:
  - Files are read on the controller.
"""
