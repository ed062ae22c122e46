# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# `make docs` appends this to the conf.py of `antsibull-docs sphinx-init`: the site builds without
# network access (the test suite talks to loopback only), so Sphinx fetches no intersphinx
# inventories. References into the Ansible and Python docs (ansible.builtin modules,
# common_return_values ...) then stay unresolved, which are the only warnings let through; the
# collection's own references are checked by `antsibull-docs lint-collection-docs`.
intersphinx_mapping = {}
suppress_warnings = ["ref.ref", "ref.envvar"]
