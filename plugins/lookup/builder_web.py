# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Look up unikernel builds on a builder-web instance."""

from __future__ import annotations

DOCUMENTATION = r"""
name: builder_web
short_description: Builds of unikernels on builder-web (latest, by uuid, by image hash) and their differences
version_added: 1.0.0
author:
  - unikernels.albatross contributors (@unikernels)
description:
  - Asks a L(builder-web,https://github.com/robur-coop/builder-web) instance, such as U(https://builds.robur.coop),
    about reproducible unikernel builds.
  - With O(query=latest) (the default) the terms are job names; each gives the newest build of that job that has a
    main binary (optionally of one O(platform)).
  - With O(query=build) the terms are build uuids of the job O(job).
  - With O(query=hash) the terms are SHA-256 hashes of images, such as the C(digest) that
    M(unikernels.albatross.unikernel_info) reports for a running unikernel; each gives the newest build that produced it.
    This is how to find out which build a unikernel runs.
  - With O(query=compare) there must be exactly two terms, the uuids of an old and a new build; the result is one
    summary of what changed between them (packages, environment, binary size).
  - Every build comes with the SHA-256 and size of its main binary, so it can be compared with a running
    unikernel's digest without downloading anything.
  - Connection failures, time-outs and server errors are retried O(retries) times before the lookup fails.
requirements:
  - requests >= 2.28.0 on the controller
options:
  _terms:
    description: Job names, build uuids, image hashes or two build uuids, depending on O(query).
    type: list
    elements: str
    required: true
  query:
    description: What the terms are and what to look up.
    type: str
    choices: [latest, build, hash, compare]
    default: latest
  url:
    description: Base URL of builder-web.
    type: str
    default: https://builds.robur.coop
    env:
      - name: ALBATROSS_BUILDER_WEB_URL
    vars:
      - name: albatross_builder_web_url
  job:
    description: The job of the builds, for O(query=build).
    type: str
  platform:
    description:
      - For O(query=latest), only consider builds of this platform (for example V(ubuntu-22.04)).
      - When left out, the newest build of any platform wins, as in Mollymawk.
    type: str
  on_missing:
    description:
      - What to do when builder-web does not know a job, build or hash (HTTP 404).
      - V(error) fails, V(warn) returns V(null) for that term with a warning, V(skip) returns V(null) silently.
    type: str
    choices: [error, warn, skip]
    default: error
  timeout:
    description: Seconds for connecting and for each read.
    type: float
    default: 30
  retries:
    description: How often to retry after connection failures, time-outs and 5xx answers (with growing pauses).
    type: int
    default: 3
  ca_path:
    description:
      - PEM file of CA certificates to verify builder-web's TLS certificate with, instead of the system's.
      - Verification cannot be turned off.
    type: path
notes:
  - The lookup runs on the controller and needs the Python library C(requests).
seealso:
  - module: unikernels.albatross.unikernel
  - module: unikernels.albatross.unikernel_info
"""

EXAMPLES = r"""
- name: Newest build of the job "tlstunnel"
  ansible.builtin.debug:
    msg: "{{ lookup('unikernels.albatross.builder_web', 'tlstunnel') }}"

- name: Which build does the running unikernel come from, and is it the latest?
  vars:
    running: "{{ lookup('unikernels.albatross.builder_web', web_info.unikernels[0].digest, query='hash') }}"
    latest: "{{ lookup('unikernels.albatross.builder_web', running.job, platform=running.platform) }}"
  ansible.builtin.debug:
    msg: "{{ 'up to date' if running.uuid == latest.uuid else 'update available: ' ~ latest.uuid }}"

- name: What changed between two builds
  ansible.builtin.debug:
    msg: "{{ lookup('unikernels.albatross.builder_web', old_uuid, new_uuid, query='compare').opam_packages }}"

- name: A build by uuid, from our own builder-web
  ansible.builtin.set_fact:
    build: >-
      {{ lookup('unikernels.albatross.builder_web', '4a7bd1ae-0b3e-4b3c-9f3b-8a0c8b1e2f01', query='build',
                job='dns-primary', url='https://builds.example.org') }}

- name: Hashes unknown to builder-web give null instead of an error
  ansible.builtin.set_fact:
    builds: "{{ query('unikernels.albatross.builder_web', *digests, query='hash', on_missing='skip') }}"
"""

RETURN = r"""
_raw:
  description:
    - One build per term for O(query=latest), O(query=build) and O(query=hash) (V(null) for a missing one when
      O(on_missing) is not V(error)); one comparison for O(query=compare).
    - "A build has the keys C(job), C(uuid), C(platform), C(start_time) and C(finish_time) (RFC 3339), C(main_binary)
      (bool), C(main_binary_sha256) (hex, V(null) if unknown), C(main_binary_size) (bytes), C(main_binary_filename),
      C(solo5_manifest) and C(solo5_abi) (as builder-web reports them, when it does), and C(url) (its page)."
    - "A comparison has C(left) and C(right) (builds, without the binary hash), C(same_job), C(main_binary_size_change)
      (bytes, new minus old), C(opam_packages) and C(system_packages) and C(environment) (each with C(added) and
      C(removed) lists of C({name, version}) and a C(changed) list of C({name, version_left, version_right})),
      C(opam_files_changed) (list of C({package_version, effectively_equal, diff})), C(duniverse) (as builder-web
      reports it) and C(url) (the comparison page)."
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.unikernels.albatross.plugins.module_utils._builder_web import (
    BuilderWeb,
    BuilderWebError,
    UnknownBuild,
)
from ansible_collections.unikernels.albatross.plugins.plugin_utils._unsafe import make_unsafe

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        query = self.get_option("query")
        url = self.get_option("url")
        if self._templar is not None and isinstance(url, str) and "{" in url:
            # Taken from a variable without templating (albatross_builder_web_url: "{{ ... }}").
            url = self._templar.template(url)
        try:
            web = BuilderWeb(url, timeout=self.get_option("timeout"), retries=self.get_option("retries"),
                             verify=self.get_option("ca_path") or True)
        except (BuilderWebError, ValueError) as exc:
            # One sentence and no chain: Ansible prints every "caused by" of a lookup error.
            raise AnsibleLookupError("builder_web lookup: %s" % exc) from None
        if query == "compare":
            if len(terms) != 2:
                raise AnsibleLookupError("builder_web lookup with query=compare needs exactly two build uuids, got %d term(s)" % len(terms))
            return [make_unsafe(self._call(lambda: web.compare(terms[0], terms[1]), "comparing builds %s and %s" % (terms[0], terms[1]), url))]
        if query == "build" and not self.get_option("job"):
            raise AnsibleLookupError("builder_web lookup with query=build needs the job option")
        results = []
        for term in terms:
            results.append(make_unsafe(self._one(web, query, str(term), url)))
        return results

    def _one(self, web, query, term, url):
        if query == "latest":
            platform = self.get_option("platform")
            return self._call(lambda: web.latest_build(term, platform).to_dict(), "the latest build of job %s" % term, url)
        if query == "build":
            job = self.get_option("job")
            return self._call(lambda: web.build(job, term).to_dict(), "build %s of job %s" % (term, job), url)
        return self._call(lambda: web.build_by_hash(term).to_dict(), "the build of the image with SHA-256 %s" % term, url)

    def _call(self, fn, what, url):
        try:
            return fn()
        except UnknownBuild as exc:
            mode = self.get_option("on_missing")
            if mode == "error":
                raise AnsibleLookupError("builder-web at %s does not know %s (%s)" % (url, what, exc)) from None
            if mode == "warn":
                display.warning("builder-web at %s does not know %s" % (url, what))
            return None
        except (BuilderWebError, ValueError) as exc:
            # The library's messages name builder-web and the URL asked; say only what was looked up.
            raise AnsibleLookupError("cannot look up %s: %s" % (what, exc)) from None
