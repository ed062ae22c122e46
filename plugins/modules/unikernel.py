#!/usr/bin/python
# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module unikernels.albatross.unikernel (documentation; the code runs as an action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: unikernel
short_description: A unikernel on an albatross server, present with this image and configuration, absent, or restarted
version_added: "1.0.0"
description:
  - Makes sure a unikernel runs on an albatross server with exactly the given image and configuration,
    is not there, or restarts it.
  - The image comes from a local file (O(image)), a URL (O(image_url)) or builder-web (O(builder_web)).
    It is compared by its SHA-256 digest with what runs. When the digest is known in advance
    (O(image_sha256), builder-web metadata), nothing is downloaded while the unikernel is up to date.
  - Only the options that are set are compared with what runs. An option left out never causes a change;
    the defaults named below apply only when the unikernel is created. O(add_name) and O(compression) are
    never compared because the server does not report them.
  - A unikernel that differs is replaced (albatross force-create) according to O(recreate). When only
    options that a restart can change differ (everything except the image, O(memory) and O(cpus)), the
    unikernel is restarted with the new arguments instead, which keeps the image on the server.
  - Input is checked before anything is changed (the name, the device lists against the solo5 manifest of the image,
    and the configuration against the policy of the path).
author:
  - unikernels.albatross contributors (@unikernels)
requirements:
  - asn1crypto >= 1.5.0 on the controller (the albatross wire protocol)
  - cryptography >= 41.0.0 on the controller (keys and certificates)
  - requests >= 2.28.0 on the controller, for O(image_url) and O(builder_web)
extends_documentation_fragment:
  - unikernels.albatross.connection
  - unikernels.albatross.attributes
  - unikernels.albatross.attributes.ACTIONGROUP_API
  - unikernels.albatross.attributes.CONTROLLER
attributes:
  check_mode:
    support: full
    details:
      - Check mode takes the same decisions and runs the same checks as a real run. It downloads an image
        only when its digest cannot be known otherwise (O(image_url) without O(image_sha256), or a builder-web
        build whose hash builder-web does not list). So a new image from O(image_url) or O(builder_web) that
        check mode does not download is not checked against O(block_devices) and O(network_interfaces).
      - When the device names change without a new image, the running image is read from the server (in check
        mode too) to check its manifest against them.
  diff_mode:
    support: full
    details:
      - The diff shows the image digest and the compared configuration before and after.
  idempotent:
    support: partial
    details:
      - O(state=restarted) and O(recreate=always) change the unikernel on every run.
options:
  name:
    description:
      - The unikernel's name, an albatross label (1 to 63 characters of V(a-z), V(A-Z), V(0-9), V(.) and V(-),
        not starting with V(-)). It is lower-cased.
      - It lives under the path of the credentials (O(client_cert), O(path)).
    type: str
    required: true
  state:
    description:
      - V(present) creates the unikernel, or replaces it when it differs from the options.
      - V(absent) destroys it. A unikernel that does not run is already absent.
      - V(restarted) restarts a running unikernel with its current configuration; it fails when the unikernel
        does not run (albatross does not start a stopped unikernel on restart).
    type: str
    choices: [present, absent, restarted]
    default: present
  image:
    description:
      - Local file (on the controller) with the uncompressed solo5 image.
      - A relative path is looked up like the O(ansible.builtin.copy#module:src) of M(ansible.builtin.copy)
        (the role's or playbook's C(files/) directory first).
      - Mutually exclusive with O(image_url) and O(builder_web). One image source is required to create the
        unikernel; without one, an existing unikernel keeps its image.
    type: path
  image_url:
    description:
      - URL of the uncompressed image. TLS certificates are always verified.
    type: str
  image_sha256:
    description:
      - Expected SHA-256 (64 hex digits) of the image at O(image_url). The download is checked against it, and
        it is not downloaded at all while the running unikernel has this digest.
    type: str
  builder_web:
    description:
      - Take the image from a builder-web instance (for example U(https://builds.robur.coop)).
    type: dict
    suboptions:
      url:
        description: Base URL of builder-web.
        type: str
        required: true
      job:
        description: The job name, for example V(traceroute-hvt).
        type: str
        required: true
      build:
        description:
          - V(latest) for the latest successful build of O(builder_web.job), a build UUID, or the SHA-256 of the main
            binary.
        type: str
        default: latest
  cpuids:
    description:
      - CPU ids the unikernel may run on. V([0]) when created without this option.
    type: list
    elements: int
  memory:
    description:
      - Memory in MB. V(32) when created without this option.
    type: int
  cpus:
    description:
      - Number of virtual CPUs (used by bhyve guests; solo5 unikernels use one). V(1) when created without this option.
    type: int
  arguments:
    description:
      - Command line arguments of the unikernel, for example V(["--ipv4=10.0.0.2/24", "--ipv4-gateway=10.0.0.1"]).
      - No arguments when created without this option.
      - At most 8192 bytes in total (UTF-8, counting one separator per argument). They travel inside the
        per-command certificate and become the unikernel's command line, so longer ones are refused before
        anything is sent.
    type: list
    elements: str
  block_devices:
    description:
      - Block devices, as the image's manifest names them. Each needs a volume (M(unikernels.albatross.block))
        under the same path.
    type: list
    elements: dict
    suboptions:
      name:
        description: Device name in the image's manifest.
        type: str
        required: true
      host_device:
        description: Name of the volume on the server; defaults to O(block_devices[].name).
        type: str
      sector_size:
        description: Sector size in bytes, a power of 2 of at least 512. Not compared when left out (V(512) when created).
        type: int
  network_interfaces:
    description:
      - Network interfaces, as the image's manifest names them.
    type: list
    elements: dict
    suboptions:
      name:
        description: Interface name in the image's manifest.
        type: str
        required: true
      bridge:
        description: Host bridge to attach to; defaults to O(network_interfaces[].name).
        type: str
      mac:
        description:
          - MAC address, for example V(00:80:41:ab:cd:ef). Compared only when set; albatross derives a stable one
            from the names otherwise.
        type: str
  fail_behaviour:
    description:
      - What albatross does when the unikernel exits. V(quit) when created without this option.
      - With V(restart), it is restarted on the exit codes in O(restart_exit_codes) (any code when empty), except
        after a signal or exit codes 1 and 60 to 64.
    type: str
    choices: [quit, restart]
  restart_exit_codes:
    description:
      - Exit codes that restart the unikernel. Setting this implies O(fail_behaviour=restart).
      - Each is an exit status from V(0) to V(255).
    type: list
    elements: int
  startup:
    description:
      - Start priority when albatross starts (lower first; albatross uses 50 when unset).
    type: int
  add_name:
    description:
      - Pass C(--name=<name>) as the first argument. V(true) when created, replaced or restarted with new
        arguments without this option.
      - Not compared, because albatross does not report it.
    type: bool
  compression:
    description:
      - zlib level (V(1) to V(9)) for uploading the image; V(0) uploads it uncompressed. Not compared.
    type: int
    default: 0
    choices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  recreate:
    description:
      - V(on_change) replaces (or restarts with new arguments) the unikernel when it differs from the options.
      - V(never) leaves a differing unikernel as it is, with a warning that names the differences.
      - V(always) replaces it on every run.
    type: str
    choices: [on_change, never, always]
    default: on_change
  backup_dir:
    description:
      - Directory on the controller in which the image and configuration of a unikernel are kept before it is
        replaced or restarted with new arguments, as C(<backup_dir>/<key>/<name>.hvt) and C(<name>.json) (mode 0600,
        directories 0700), the layout the P(unikernels.albatross.rollback#role) role reads (see O(backup_key)).
        The JSON holds the digest and the options of this module under C(options), so the old state can be restored
        with O(image) and those options, or with that role. Albatross does not report O(add_name), so the JSON carries
        the value this task gives, when it gives one.
      - Created when missing. The image is written first and the JSON last, so a JSON whose digest matches the image
        is always a complete pair.
    type: path
  backup_key:
    description:
      - Subdirectory of O(backup_dir) for this server, so that unikernels of the same name on different servers (or
        tenant paths) never share a kept copy.
      - Defaults to O(server), followed by C(_) and the albatross path of the credentials (O(client_cert) and O(path))
        when that is not the root, with every character other than C(A-Za-z0-9._-) replaced by C(_); for example
        C(alb1.example.org_1025_alice). This is the default key of the P(unikernels.albatross.upgrade#role) and
        P(unikernels.albatross.rollback#role) roles when the inventory plugin sets the connection variables.
    type: str
notes:
  - Albatross 2.7.2 ignores O(memory) and O(cpus) on a restart with new arguments, so a change of them (or of the
    image) always replaces the unikernel.
  - A replace (albatross force-create) and a restart with new arguments stop the running unikernel before the new
    one is created; when that create fails, albatross leaves neither running. So the module reads the running image
    into memory before either change and, when the unikernel does not run after a failed or unanswered attempt,
    creates the previous one again (never stopping anything that runs) and fails with a message saying so. Only if
    that fails too does the unikernel stay stopped; the message then names the files that hold the previous image
    and configuration (in O(backup_dir), or a new private directory).
  - When the connection breaks during the change, the module reads what runs before it reports; a change the server
    made although its reply was lost is reported as made, with a warning. A later run with the same options
    converges in every case (docs/reliability.md).
  - SIGINT and SIGTERM (ctrl-c, an AWX cancel) are held back from the start of a create, replace or restart until it and
    the restore above are settled, each command bounded by O(timeout); then they take effect.
    Only a SIGKILL at that moment can leave neither unikernel running.
  - O(add_name) is not reported by albatross, so a restored previous unikernel gets the O(add_name) of the task
    (V(true) when not set).
seealso:
  - module: unikernels.albatross.unikernel_info
  - module: unikernels.albatross.block
  - module: unikernels.albatross.fleet
"""

EXAMPLES = r"""
- name: Run a unikernel from a local image
  unikernels.albatross.unikernel:
    server: albatross.example.org
    server_ca: pki/ca.pem
    client_cert: pki/operator.pem
    client_key: pki/operator.key
    name: web
    image: web.hvt
    memory: 64
    arguments:
      - --ipv4=10.0.0.2/24
      - --ipv4-gateway=10.0.0.1
    network_interfaces:
      - name: service
        bridge: br0

- name: Connection options once for several tasks
  module_defaults:
    group/unikernels.albatross.api:
      server: albatross.example.org
      server_ca: pki/ca.pem
      client_cert: pki/operator.pem
      client_key: pki/operator.key
  block:
    - name: Latest build of a builder-web job, downloaded only when it is new
      unikernels.albatross.unikernel:
        name: dns
        builder_web:
          url: https://builds.robur.coop
          job: dns-primary-git
        backup_dir: backups
        fail_behaviour: restart

    - name: Restart it
      unikernels.albatross.unikernel:
        name: dns
        state: restarted

    - name: Remove a unikernel
      unikernels.albatross.unikernel:
        name: old
        state: absent
"""

RETURN = r"""
action:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: str
  choices: [created, replaced, restarted_with_arguments, restarted, destroyed, none]
  sample: created
unikernel:
  description:
    - The unikernel as the server reports it after the task (in check mode, as it is now); V(null) when it does not run.
  returned: always
  type: dict
  contains:
    name:
      description: Full albatross name (path and label).
      type: str
      sample: ":web"
    typ:
      description: Unikernel type.
      type: str
      sample: solo5
    memory:
      description: Memory in MB.
      type: int
      sample: 32
    cpuids:
      description: CPU ids.
      type: list
      elements: int
      sample: [0]
    cpus:
      description: Number of virtual CPUs.
      type: int
      sample: 1
    digest:
      description: SHA-256 of the uncompressed image (hex).
      type: str
      sample: 5e9c1d0e0ab5f5c8f1ac5a1b3bd30c2f2e8d9e4f6a7b8c9d0e1f2a3b4c5d6e7f
    arguments:
      description: Command line arguments.
      type: list
      elements: str
      sample: ["--ipv4=10.0.0.2/24"]
    block_devices:
      description: Block devices with the volume's size in MB.
      type: list
      elements: dict
      sample: [{"name": "storage", "host_device": "data", "sector_size": 512, "size": 16}]
    network_interfaces:
      description: Network interfaces with the MAC in use.
      type: list
      elements: dict
      sample: [{"name": "service", "bridge": "br0", "mac": "00:80:41:12:34:56"}]
    fail_behaviour:
      description: V(quit) or V(restart).
      type: str
      sample: quit
    restart_exit_codes:
      description: Exit codes that restart the unikernel (empty means any).
      type: list
      elements: int
      sample: []
    startup:
      description: Start priority, V(null) when not set.
      type: int
      sample: 50
    started:
      description: When it was started (RFC 3339).
      type: str
      sample: "2025-01-01T12:00:00Z"
    linux_boot_partition:
      description: Boot partition of a bhyve guest.
      type: str
      sample: null
differences:
  description: The compared fields that differed between what ran and the options.
  returned: when the unikernel existed and O(state=present)
  type: list
  elements: str
  sample: [digest, memory]
image_source:
  description: Where the image came from (C(type), and C(url), C(job), C(uuid), C(sha256) as far as known).
  returned: when O(state=present) and an image source is set
  type: dict
  sample: {"type": "builder_web", "url": "https://builds.robur.coop", "job": "dns-primary-git", "uuid": "7b6e...", "sha256": "5e9c..."}
backup:
  description: Paths of the kept image and configuration.
  returned: when O(backup_dir) is set and a running unikernel was replaced or restarted with new arguments
  type: dict
  sample: {"image": "backups/alb1_1025/web.hvt", "config": "backups/alb1_1025/web.json"}
restored:
  description:
    - On a failed replace or restart with new arguments that stopped the running unikernel, whether the previous
      unikernel was created again and runs.
  returned: when such a change failed
  type: bool
  sample: true
"""

from ansible_collections.unikernels.albatross.plugins.module_utils._common import run_as_module
from ansible_collections.unikernels.albatross.plugins.module_utils._unikernel import MODULE_SPEC, run_module


def main() -> None:
    run_as_module(MODULE_SPEC, run_module)


if __name__ == "__main__":
    main()
