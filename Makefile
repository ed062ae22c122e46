# unikernels.albatross — developer entry points.
#   make demo   environment + collection install + test server on loopback + demo playbook
#   make test   every test: units, ansible-test sanity, integration, lint
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/.build
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
# Newest CPython on the machine (pyenv ships 3.13; its shims are unreliable, so use the binary).
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null) $(shell command -v python3))
ANSIBLE_CORE ?= ansible-core>=2.21,<2.22
COMPAT_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) $(shell command -v python3.11 2>/dev/null))
COMPAT_VENV := $(ROOT)/.venv-2.19
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/unikernels/albatross
SANITY_DIR := $(BUILD)/sanity/ansible_collections/unikernels/albatross
PYTEST_ARGS ?=

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv link demo test unit integration sanity sanity-tree lint compat changelog clean

help:
	@echo "make demo   - run the demo playbook against the bundled albatross test server (loopback)"
	@echo "make test   - run every test (units, sanity, integration, lint)"

$(VENV)/.installed: requirements.txt tests/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(ANSIBLE_CORE)' -r requirements.txt -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

link:
	@mkdir -p $(dir $(LINK))
	@test -L $(LINK) || ln -sfn $(ROOT) $(LINK)

demo: venv link
	$(PY) tests/demo/run_demo.py

test: unit sanity lint compat integration
	@echo "all test stages passed"

unit: venv link
	$(PY) -m pytest -q -n 2 tests/unit $(PYTEST_ARGS)

integration: venv link
	$(PY) -m pytest -q -n 2 --dist loadfile tests/integration $(PYTEST_ARGS)

# ansible-test wants the collection at ansible_collections/<ns>/<name>: test a copy of the
# files git knows about (tracked, or untracked but not ignored).
sanity-tree:
	rm -rf $(BUILD)/sanity && mkdir -p $(SANITY_DIR)
	cd $(ROOT) && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(SANITY_DIR)
	cd $(SANITY_DIR) && git init -q && git add -A
	mkdir -p $(HOME)/.ansible/test/cache
	for v in 24_2 25_0 25_1 25_2 25_3; do cp $(ROOT)/tests/sanity/get_pip.py $(HOME)/.ansible/test/cache/get_pip_$$v.py; done

sanity: venv sanity-tree
	cd $(SANITY_DIR) && $(VENV)/bin/ansible-test sanity --venv --python 3.13 --color no
	test -z "$$(ls $(ROOT)/tests/sanity/ignore-*.txt 2>/dev/null)"

lint: venv link
	cd $(ROOT) && $(VENV)/bin/ansible-lint --profile production roles playbooks
	cd $(ROOT) && $(VENV)/bin/antsibull-changelog lint

# The oldest supported ansible-core (2.19) on Python 3.11: unit tests and sanity. The albatross test server
# itself keeps running on the main environment (it needs Python 3.13's verified-chain API).
compat: venv link sanity-tree
	@if [ -z "$(COMPAT_PYTHON)" ]; then echo "compat: no python3.11 on this machine, skipped"; exit 0; fi; \
	test -x $(COMPAT_VENV)/bin/python || $(COMPAT_PYTHON) -m venv $(COMPAT_VENV); \
	$(COMPAT_VENV)/bin/python -m pip install -q 'ansible-core>=2.19,<2.20' -r requirements.txt pytest pytest-xdist hypothesis pyOpenSSL && \
	ALBATROSS_TEST_SERVER_PYTHON=$(PY) $(COMPAT_VENV)/bin/python -m pytest -q -n 2 tests/unit $(PYTEST_ARGS) && \
	cd $(SANITY_DIR) && $(COMPAT_VENV)/bin/ansible-test sanity --venv --python 3.11 --color no

changelog: venv
	$(VENV)/bin/antsibull-changelog release

clean:
	rm -rf $(BUILD) tests/output
