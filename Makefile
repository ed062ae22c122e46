# unikernels.albatross — developer entry points.
#   make demo   environment + collection install + test server on loopback + demo playbook
#   make test   every test: units, ansible-test sanity, integration, lint
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/.build
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
# The newest CPython >= 3.11 on the machine (the controller Pythons of the supported ansible-core
# versions): python3.N on PATH or under pyenv, each one tried, since pyenv's shims exist for versions
# that are not selected and then fail. PYTHON=/path/to/python3.N chooses one.
PYTHON_OK := import sys; sys.exit(sys.version_info < (3, 11))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for v in 15 14 13 12 11; do \
	for p in $$(ls -d $(HOME)/.pyenv/versions/3.$$v.*/bin/python3.$$v 2>/dev/null | sort -rV) $$(command -v python3.$$v); do \
	"$$p" -c '$(PYTHON_OK)' 2>/dev/null && { echo "$$p"; exit 0; }; done; done; \
	p=$$(command -v python3) && "$$p" -c '$(PYTHON_OK)' 2>/dev/null && echo "$$p")
endif
NO_PYTHON := no Python 3.11 or newer found: install one (Debian/Ubuntu: apt-get install python3 python3-venv; or pyenv install 3.13), or name it with PYTHON=/path/to/python3.N
# pip takes the newest of these that the Python accepts: 2.21 on 3.12 and newer, 2.19 on 3.11.
ANSIBLE_CORE ?= ansible-core>=2.19,<2.22
COMPAT_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) $(shell command -v python3.11 2>/dev/null))
COMPAT_VENV := $(ROOT)/.venv-2.19
# Release tooling (galaxy-importer pins attrs<24 and flake8<7): an environment of its own.
RELEASE_VENV := $(ROOT)/.venv-release
RELEASE := $(BUILD)/release
# awx.awx for ansible-lint of extras/awx/create_credential_type.yml. Galaxy is not reachable from CI; the
# last ansible community package that bundles awx.awx (13.x, awx.awx 24.6.1) is on PyPI.
AWX_COLLECTION = $(COLLECTIONS)/ansible_collections/awx/awx/MANIFEST.json
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/unikernels/albatross
SANITY_DIR := $(BUILD)/sanity/ansible_collections/unikernels/albatross
PYTEST_ARGS ?=

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv link demo test unit integration sanity sanity-tree lint compat release-check changelog clean docs docs-venv

help:
	@echo "make demo   - run the demo playbook against the bundled albatross test server (loopback)"
	@echo "make test   - run every test (units, sanity, integration, lint, docs site)"
	@echo "make docs   - build the documentation site into .build/docsite/build/html"
	@echo "make clean  - remove the environments (.venv*) and everything built (.build)"

# The marker is written only after every install succeeded and names the Python version and the
# requirements: an interrupted install runs again; an environment whose Python does not start or
# is not the version of PYTHON is made again from scratch.
PYTHON_VERSION = $(shell "$(PYTHON)" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)
VENV_ID = $(PYTHON_VERSION) $(shell cat requirements.txt tests/requirements.txt | cksum)

venv:
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 2; }
	@"$(PYTHON)" -c '$(PYTHON_OK)' || { echo "$(PYTHON) is older than 3.11: $(NO_PYTHON)"; exit 2; }
	@if [ "$$(cat $(VENV)/.installed 2>/dev/null)" = "$(VENV_ID)" ] && $(PY) -c '' 2>/dev/null; then exit 0; fi; \
	set -e; rm -f $(VENV)/.installed; \
	if [ "$$($(PY) -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" != "$(PYTHON_VERSION)" ]; then \
	  echo "creating $(VENV) with $(PYTHON) ($(PYTHON_VERSION))"; rm -rf $(VENV); \
	  "$(PYTHON)" -m venv $(VENV) || { rm -rf $(VENV); echo "$(PYTHON) -m venv failed: install its venv module (Debian/Ubuntu: apt-get install python3-venv)"; exit 2; }; \
	fi; \
	$(PY) -m pip install -q --upgrade pip; \
	$(PY) -m pip install -q '$(ANSIBLE_CORE)' -r requirements.txt -r tests/requirements.txt; \
	echo "$(VENV_ID)" > $(VENV)/.installed

link:
	@mkdir -p $(dir $(LINK))
	@test -L $(LINK) || ln -sfn $(ROOT) $(LINK)

demo: venv link
	$(PY) tests/demo/run_demo.py

test: unit sanity lint compat release-check integration docs
	@echo "all test stages passed"

unit: venv link
	$(PY) -m pytest -q -rs -n 2 tests/unit $(PYTEST_ARGS)

integration: venv link
	$(PY) -m pytest -q -rs -n 2 --dist loadfile tests/integration $(PYTEST_ARGS)

# ansible-test wants the collection at ansible_collections/<ns>/<name>: test a copy of the
# files git knows about (tracked, or untracked but not ignored).
sanity-tree:
	rm -rf $(BUILD)/sanity && mkdir -p $(SANITY_DIR)
	cd $(ROOT) && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(SANITY_DIR)
	cd $(SANITY_DIR) && git init -q && git add -A
	mkdir -p $(HOME)/.ansible/test/cache
	for v in 24_2 25_0 25_1 25_2 25_3; do cp $(ROOT)/tests/sanity/get_pip.py $(HOME)/.ansible/test/cache/get_pip_$$v.py; done

sanity: venv sanity-tree
	cd $(SANITY_DIR) && $(VENV)/bin/ansible-test sanity --venv --python $$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color no
	test -z "$$(ls $(ROOT)/tests/sanity/ignore-*.txt 2>/dev/null)"

# ansible-lint installs the collection into ANSIBLE_HOME (default ~/.ansible): keep that under .build.
lint: venv link $(AWX_COLLECTION)
	cd $(ROOT) && ANSIBLE_HOME=$(BUILD)/ansible-home $(VENV)/bin/ansible-lint --profile production roles playbooks extras/awx
	cd $(ROOT) && $(VENV)/bin/antsibull-changelog lint

# The oldest supported ansible-core (2.19) on Python 3.11: unit tests and sanity. The albatross test server
# itself keeps running on the main environment.
compat: venv link sanity-tree
	@if [ -z "$(COMPAT_PYTHON)" ]; then echo "compat: no python3.11 on this machine, skipped"; exit 0; fi; \
	test -x $(COMPAT_VENV)/bin/python || $(COMPAT_PYTHON) -m venv $(COMPAT_VENV); \
	$(COMPAT_VENV)/bin/python -m pip install -q 'ansible-core>=2.19,<2.20' -r requirements.txt pytest pytest-xdist hypothesis pyOpenSSL 'ansible-builder>=3.1,<4' && \
	ALBATROSS_TEST_SERVER_PYTHON=$(PY) $(COMPAT_VENV)/bin/python -m pytest -q -rs -n 2 tests/unit $(PYTEST_ARGS) && \
	cd $(SANITY_DIR) && $(COMPAT_VENV)/bin/ansible-test sanity --venv --python 3.11 --color no

$(AWX_COLLECTION): | venv
	rm -rf $(BUILD)/wheels && mkdir -p $(BUILD)/wheels $(COLLECTIONS)
	$(PY) -m pip download -q --no-deps --ignore-requires-python 'ansible>=13,<14' -d $(BUILD)/wheels
	$(PY) -c 'import glob, sys, zipfile; z = zipfile.ZipFile(glob.glob(sys.argv[1])[0]); \
		z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("ansible_collections/awx/awx/")])' \
		'$(BUILD)/wheels/ansible-13*.whl' $(COLLECTIONS)
	rm -rf $(BUILD)/wheels

$(RELEASE_VENV)/.installed: tests/release-requirements.txt
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 2; }
	rm -rf $(RELEASE_VENV) && "$(PYTHON)" -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/python -m pip install -q --upgrade pip
	$(RELEASE_VENV)/bin/python -m pip install -q '$(ANSIBLE_CORE)' -r tests/release-requirements.txt
	touch $@

# What Galaxy and Automation Hub get: the tarball of `ansible-galaxy collection build` (galaxy.yml's
# build_ignore), imported by galaxy-importer as Automation Hub does (extras/release/galaxy-importer.cfg);
# errors and unexpected warnings fail (extras/release/check_import.py). Then the build context of the
# execution environment (extras/ee), from that tarball; building the image needs a container runtime.
release-check: venv $(RELEASE_VENV)/.installed
	rm -rf $(RELEASE) && mkdir -p $(RELEASE)/ee
	cd $(ROOT) && $(VENV)/bin/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	$(VENV)/bin/ansible-galaxy collection build --output-path $(RELEASE) $(ROOT)
	cd $(RELEASE) && GALAXY_IMPORTER_CONFIG=$(ROOT)/extras/release/galaxy-importer.cfg PATH=$(RELEASE_VENV)/bin:$$PATH \
		$(RELEASE_VENV)/bin/python -m galaxy_importer.main unikernels-albatross-*.tar.gz > importer.log 2>&1 \
		|| { cat importer.log; exit 1; }
	$(PY) $(ROOT)/extras/release/check_import.py $(RELEASE)/importer.log
	cp $(RELEASE)/unikernels-albatross-*.tar.gz $(RELEASE)/ee/unikernels-albatross.tar.gz
	cd $(ROOT) && $(RELEASE_VENV)/bin/ansible-builder create -f extras/ee/execution-environment.yml -c $(RELEASE)/ee/context

# Against a real albatross, never in CI and not part of `make test`: REALALB is an installation as
# ../shared/tools/realalb/start.sh leaves it, with its daemons running (see docs/testing.md).
.PHONY: test-real
test-real: venv link
	@test -n "$(REALALB)" || { echo "test-real: set REALALB to the real albatross installation (see docs/testing.md)"; exit 2; }
	$(PY) tests/integration/_real_albatross.py "$(REALALB)" $(PYTEST_ARGS)

# The antsibull-docs site of the collection (plugins, roles, the guides of docs/*.md) in
# .build/docsite/build/html. Its tools live in an environment of their own under .build; the guides
# are converted to docs/docsite/rst first, and any Sphinx or antsibull-docs warning fails the build.
DOCS_VENV := $(BUILD)/docs-venv
DOCSITE := $(BUILD)/docsite
DOCS_REQUIREMENTS := antsibull-docs>=2.16 sphinx sphinx-ansible-theme ansible-pygments pypandoc_binary pyyaml

DOCS_ID = $(PYTHON_VERSION) $(DOCS_REQUIREMENTS) $(shell cksum < requirements.txt)

docs-venv:
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 2; }
	@if [ "$$(cat $(DOCS_VENV)/.installed 2>/dev/null)" = "$(DOCS_ID)" ] && $(DOCS_VENV)/bin/python -c '' 2>/dev/null; then exit 0; fi; \
	set -e; echo "creating $(DOCS_VENV)"; rm -rf $(DOCS_VENV); "$(PYTHON)" -m venv $(DOCS_VENV); \
	$(DOCS_VENV)/bin/python -m pip install -q --upgrade pip; \
	$(DOCS_VENV)/bin/python -m pip install -q '$(ANSIBLE_CORE)' -r requirements.txt $(foreach r,$(DOCS_REQUIREMENTS),'$(r)'); \
	echo "$(DOCS_ID)" > $(DOCS_VENV)/.installed

docs: docs-venv link
	$(DOCS_VENV)/bin/python $(ROOT)/docs/docsite/md_to_rst.py
	PATH=$(DOCS_VENV)/bin:$$PATH $(DOCS_VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs $(LINK)
	rm -rf $(DOCSITE) && mkdir -m 0755 -p $(DOCSITE)
	PATH=$(DOCS_VENV)/bin:$$PATH $(DOCS_VENV)/bin/antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir $(DOCSITE) unikernels.albatross
	cat $(ROOT)/docs/docsite/offline_conf.py >> $(DOCSITE)/conf.py
	cd $(DOCSITE) && PATH=$(DOCS_VENV)/bin:$$PATH ./build.sh
	@echo "docs: $(DOCSITE)/build/html/index.html"

# Releases the fragments as galaxy.yml's version: bump that first (1.0.0 is released in changelogs/changelog.yaml).
# antsibull-changelog asks ansible-doc (of this venv) which plugins are new.
changelog: venv
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/antsibull-changelog release

clean:
	rm -rf $(BUILD) tests/output $(VENV) $(COMPAT_VENV) $(RELEASE_VENV)
