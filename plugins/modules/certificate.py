#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key and certificate files of the albatross PKI."""

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Key and certificate files for albatross (root CA, server, delegation)
version_added: "1.0.0"
description:
  - Creates a private key and a certificate for the albatross PKI, and keeps them valid on later runs, like
    C(community.crypto.x509_certificate) with its O(regenerate) option.
  - O(kind=root_ca) is the self-signed trust anchor (the C(CACERT) of C(albatross-tls-endpoint), and the
    O(unikernels.albatross.unikernel_info#module:server_ca) of the API modules).
  - O(kind=server) is the TLS server certificate of C(albatross-tls-endpoint) (C(CERT) and C(KEY)), signed by the root CA.
  - O(kind=delegation) is a policy CA (what C(albatross-client sign) makes of an C(add-policy) request). Its
    common name becomes a path element on the server, and every command signed through it installs its policy
    there. Its certificate file holds the new certificate followed by the issuer's chain when the issuer is not
    self-signed, so O(path) and O(key_path) work as C(client_cert) and C(client_key) of the API modules.
  - The key and certificate are made on the controller. Keys are written with mode C(0600), atomically.
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross policy extension)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
options:
  kind:
    description:
      - What to create.
      - V(root_ca) is self-signed, a CA with C(keyCertSign), without albatross extension.
      - V(server) has C(serverAuth), no CA flag, and is signed by O(issuer_cert).
      - V(delegation) is a CA carrying the albatross extension C(policy add) with O(policy), signed by O(issuer_cert).
    type: str
    required: true
    choices: [root_ca, server, delegation]
  path:
    description:
      - The certificate file (PEM). Written with mode C(0644).
      - Its directory must exist.
    type: path
    required: true
  key_path:
    description:
      - The private key file (PEM, PKCS#8, unencrypted). Written with mode C(0600); a looser mode of an existing key
        is corrected.
      - An existing key is kept and used for a new certificate, unless O(key_type) asks for another type of key.
      - A file that exists but is not an unencrypted private key is never overwritten; the module fails instead.
    type: path
    required: true
  common_name:
    description:
      - Subject common name of the certificate.
      - Required for O(kind=root_ca) and O(kind=delegation). For O(kind=delegation) it must be an albatross label
        (1 to 63 of C([a-zA-Z0-9.-]), not starting with C(-)); it is lower-cased, as albatross does.
      - For O(kind=server) it defaults to V(server) when a certificate is created, like C(albatross-client generate).
        When left out, the common name of an existing server certificate is not compared.
    type: str
  policy:
    description:
      - The resource policy of a delegation (required for O(kind=delegation), not allowed otherwise).
      - It must be usable (at least one unikernel and one CPU id, more than 16 MB memory) and, when the issuer
        itself carries a policy, not exceed it. Both are checked before anything is written, with albatross' wording.
    type: dict
    suboptions:
      unikernels:
        description: Maximum number of unikernels under the path.
        type: int
        required: true
      memory:
        description: Maximum memory in MB of all unikernels under the path.
        type: int
        required: true
      block:
        description: Maximum block storage in MB under the path. Left out means no volumes are allowed.
        type: int
      cpuids:
        description: CPU ids the unikernels may be pinned to.
        type: list
        elements: int
        required: true
      bridges:
        description: Host bridges the unikernels may use.
        type: list
        elements: str
        default: []
  issuer_cert:
    description:
      - The CA certificate (PEM) that signs the new certificate, followed by its chain when it is a delegation.
      - Required for O(kind=server) and O(kind=delegation). For a server certificate use the root CA.
    type: path
  issuer_key:
    description:
      - The private key of the first certificate in O(issuer_cert).
      - Required with O(issuer_cert).
    type: path
  issuer_key_passphrase:
    description: Passphrase of O(issuer_key), if it is encrypted.
    type: str
  key_type:
    description:
      - Type of the key, used when a key is created. Defaults to V(ed25519) then.
      - When given, an existing key of another type is replaced (subject to O(regenerate)). When left out, the type
        of an existing key is not compared.
    type: str
    choices: [ed25519, p256, p384, p521, rsa2048, rsa4096]
  valid_days:
    description:
      - Validity of a new certificate in days, counted from now (minus 10 seconds, like albatross-client).
      - Defaults to V(3650) for O(kind=root_ca) and V(365) for O(kind=server) and O(kind=delegation), the
        defaults of C(albatross-client).
      - This is B(not) used for idempotence; see O(regenerate).
    type: int
  regenerate:
    description:
      - When to replace an existing certificate, with the meaning of C(community.crypto.x509_certificate).
      - V(never) creates the certificate (and key) only when O(path) does not exist; an existing certificate is never
        checked nor replaced.
      - V(fail) creates missing files, but fails when an existing certificate or key would have to be replaced.
      - V(partial_idempotence) replaces the certificate when it does not match the options. It does not match when
        it cannot be read, its common name differs, it is not signed by O(issuer_cert) (or not self-signed for a
        root CA), its public key is not the key in O(key_path), its profile is wrong for O(kind) (CA flag, key usage,
        C(serverAuth)), its policy differs from O(policy), or it has expired.
      - V(always) replaces the certificate on every run (the key is kept, see O(key_path)).
      - Validity times alone never cause a replacement, except an expired certificate. To renew a certificate
        before it expires, run once with V(always).
      - A certificate file whose chain is outdated (the issuer's chain changed but the certificate is still valid)
        is rewritten with the current chain, without a new certificate, unless O(regenerate=never).
    type: str
    default: partial_idempotence
    choices: [never, fail, partial_idempotence, always]
extends_documentation_fragment:
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.controller
attributes:
  check_mode:
    support: full
    details:
      - Nothing is generated in check mode. RV(serial) is V(null) then for a new certificate, and RV(not_after) is
        the predicted time.
  diff_mode:
    support: full
    details:
      - The diff shows the common name, issuer, validity, serial, policy and key type before and after.
  idempotent:
    support: full
  action_group:
    description: Use C(group/unikernels.albatross.api) in C(module_defaults) to set defaults for this module.
    support: none
    membership: []
    details:
      - This module takes no connection options and is not in C(group/unikernels.albatross.api).
notes:
  - The profiles are those of C(albatross-client generate) (root CA and server certificate) and C(albatross-client sign)
    (delegation). The root CA additionally carries a subject key identifier, which strict X.509 verifiers expect.
  - Albatross accepts at most 8 certificates above the per-command certificate, so a delegation chain is limited to
    that depth.
  - Because every command signed through a delegation re-installs its policy on the server, changing O(policy) here
    changes the server's policy for the path at the next command.
seealso:
  - module: unikernels.albatross.policy
  - module: unikernels.albatross.policy_info
author:
  - unikernels.albatross contributors (@unikernels)
"""

EXAMPLES = r"""
- name: Root CA of the albatross server
  unikernels.albatross.certificate:
    kind: root_ca
    path: /etc/albatross/pki/cacert.pem
    key_path: /etc/albatross/pki/ca.key
    common_name: albatross-ca

- name: Server certificate of albatross-tls-endpoint
  unikernels.albatross.certificate:
    kind: server
    path: /etc/albatross/pki/server.pem
    key_path: /etc/albatross/pki/server.key
    issuer_cert: /etc/albatross/pki/cacert.pem
    issuer_key: /etc/albatross/pki/ca.key

- name: Delegation for tenant alice (path "alice")
  unikernels.albatross.certificate:
    kind: delegation
    path: /etc/albatross/pki/alice.pem
    key_path: /etc/albatross/pki/alice.key
    common_name: alice
    issuer_cert: /etc/albatross/pki/cacert.pem
    issuer_key: /etc/albatross/pki/ca.key
    policy:
      unikernels: 5
      memory: 1024
      block: 2048
      cpuids: [0, 1]
      bridges: [service]
  register: alice

- name: Use the delegation as client credentials
  unikernels.albatross.unikernel_info:
    server: albatross.example.com
    server_ca: /etc/albatross/pki/cacert.pem
    client_cert: "{{ alice.path }}"
    client_key: "{{ alice.key_path }}"

- name: Renew the root CA with the same key (existing certificates it signed stay valid)
  unikernels.albatross.certificate:
    kind: root_ca
    path: /etc/albatross/pki/cacert.pem
    key_path: /etc/albatross/pki/ca.key
    common_name: albatross-ca
    regenerate: always
"""

RETURN = r"""
path:
  description: The certificate file.
  returned: success
  type: str
  sample: /etc/albatross/pki/alice.pem
key_path:
  description: The private key file.
  returned: success
  type: str
  sample: /etc/albatross/pki/alice.key
kind:
  description: The O(kind) of certificate.
  returned: success
  type: str
  sample: delegation
common_name:
  description: Subject common name of the certificate.
  returned: success
  type: str
  sample: alice
issuer:
  description: Issuer distinguished name (RFC 4514).
  returned: success
  type: str
  sample: CN=albatross-ca
serial:
  description:
    - Serial number in lower-case hexadecimal.
    - V(null) in check mode when a new certificate would be made.
  returned: success
  type: str
  sample: 3f1d0c9a5b7e21d4a0c2
not_before:
  description: Start of the validity (RFC 3339, UTC).
  returned: success
  type: str
  sample: "2026-01-01T12:00:00Z"
not_after:
  description: End of the validity (RFC 3339, UTC); predicted in check mode for a new certificate.
  returned: success
  type: str
  sample: "2027-01-01T12:00:10Z"
policy:
  description: The policy the certificate carries (delegations only), V(null) otherwise.
  returned: success
  type: dict
  contains:
    unikernels:
      description: Maximum number of unikernels.
      type: int
      sample: 5
    memory:
      description: Maximum memory in MB.
      type: int
      sample: 1024
    block:
      description: Maximum block storage in MB, V(null) when no volumes are allowed.
      type: int
      sample: 2048
    cpuids:
      description: Allowed CPU ids, sorted.
      type: list
      elements: int
      sample: [0, 1]
    bridges:
      description: Allowed host bridges, sorted.
      type: list
      elements: str
      sample: [service]
key_type:
  description: Type of the key.
  returned: success
  type: str
  sample: ed25519
regenerated:
  description: Whether a new certificate was (or, in check mode, would be) made.
  returned: success
  type: bool
  sample: true
key_generated:
  description: Whether a new key was (or, in check mode, would be) made.
  returned: success
  type: bool
  sample: false
reasons:
  description: Why the certificate was (or would be) made.
  returned: when RV(regenerated) is true
  type: list
  elements: str
  sample: ["its policy is unikernels=2 memory=512 block=None cpuids=[0] bridges=[], not unikernels=5 ..."]
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._certificate import MODULE_SPEC, run_module
from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module


def main() -> None:
    run_as_module(MODULE_SPEC, run_module)


if __name__ == "__main__":
    main()
