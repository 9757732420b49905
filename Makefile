# One-Click AI Sandbox: development and test entry points.
#
#   make demo        the whole product on this machine (no cloud, no GPU): provision a sandbox through
#                    the Linode API emulator, first boot, validate; prints the chat URL, the API base URL
#                    and one answer, and leaves it running
#   make demo-down   remove everything make demo made
#   make test        everything CI runs, installing what it needs on a fresh Debian 12 machine:
#                    lint, ansible-test sanity, unit tests (newest core), compat (ansible-core 2.17 on
#                    Python 3.10), the collection build, the demo, the control plane, every Molecule
#                    scenario, the first boot end to end
#   make lint | sanity | units | compat | build | demo-test | molecule | e2e    one stage
#   make control-plane           the sandbox control plane's stage (control_plane/README.md)
#   make bench-control-plane     its benchmark table (not a test)
#   make molecule SCENARIO=docker_gpu                               one scenario
#   make e2e | demo PROFILE=real-scale   the lab at real scale (tests/e2e/profiles/; default: fast)
#   make bench-first-boot [PROFILE=fast] one first boot, measured: time to ready per phase, critical path
#   make clean       remove the virtual environments and build output
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
VENV_COMPAT := $(ROOT)/.venv-compat
BUILD := $(ROOT)/.build
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/oneclick/ai_sandbox
# Outside the checkout: inside it, ansible-test would list files with this repository's git (and
# find the copy ignored).
SANITY_ROOT := $(or $(TMPDIR),/tmp)/oneclick-ai_sandbox-sanity/ansible_collections/oneclick/ai_sandbox
SCENARIO ?=
# The lab's profile for e2e, demo and bench-first-boot (tests/e2e/profiles/<name>.yml).
PROFILE ?=
ifneq ($(PROFILE),)
export AI_SANDBOX_LAB_PROFILE := $(PROFILE)
endif

# The controller Python for the newest ansible-core (2.21 needs 3.12+) and Ubuntu 22.04's 3.10.
PYTHON ?= $(shell tests/find-python.sh 3.12 3.13)
PYTHON_COMPAT ?= $(shell tests/find-python.sh 3.10)

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export PYTHONDONTWRITEBYTECODE := 1
export PATH := $(VENV)/bin:$(PATH)

SHELL_FILES = $(shell git ls-files --cached --others --exclude-standard '*.sh' .ci/run)
PLAYBOOKS = $(wildcard playbooks/*.yml)

.PHONY: help test deps testbed stackscript lint sanity units compat build demo-test molecule e2e demo demo-down \
	bench-first-boot control-plane bench-control-plane clean

help:
	@sed -n '2,17p' Makefile | sed 's/^# \{0,1\}//'

test: lint sanity units compat build demo-test control-plane molecule e2e
	@echo "make test: all stages passed"

# --- environments -------------------------------------------------------------------------------
deps: $(VENV)/.installed $(VENV_COMPAT)/.installed $(COLLECTION_LINK)

$(VENV)/.installed: tests/requirements/dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12+ is needed for the newest ansible-core"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/requirements/dev.txt
	touch $@

$(VENV_COMPAT)/.installed: tests/requirements/compat.txt
	@test -n "$(PYTHON_COMPAT)" || { echo "Python 3.10 (Ubuntu 22.04's) is needed for the compat stage"; exit 1; }
	$(PYTHON_COMPAT) -m venv $(VENV_COMPAT)
	$(VENV_COMPAT)/bin/pip install -q --upgrade pip
	$(VENV_COMPAT)/bin/pip install -q -r tests/requirements/compat.txt
	touch $@

# Ansible finds this checkout as oneclick.ai_sandbox through a link in a collections path.
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

testbed:
	tests/testbed/testbed.sh all

# The StackScript carries copies of the failure contract, its helper and the collection pins.
stackscript: $(VENV)/.installed
	$(VENV)/bin/python stackscripts/build.py

# --- stages -------------------------------------------------------------------------------------
lint: $(VENV)/.installed $(COLLECTION_LINK)
	tests/testbed/testbed.sh tools
	yamllint --strict .
	ruff check .
	ruff format --check .
	shellcheck $(SHELL_FILES)
	$(VENV)/bin/python stackscripts/build.py --check
	ansible-lint

# ansible-test wants the collection under ansible_collections/<ns>/<name>: test a copy of the
# files git knows (tracked, and untracked but not ignored), so nothing local leaks in. The control
# plane is not part of the collection (its own stage tests it), nor are the stand-in GPU's commands
# (tests/standins/nvidia/bin: scripts for Debian machines, run by /usr/bin/python3).
sanity: $(VENV)/.installed
	tests/ansible-test-pip-bootstrap.sh $(VENV)/bin/python
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard ':!control_plane' ':!tests/standins/nvidia/bin' \
	  | xargs -0 cp --parents -t $(SANITY_ROOT)
	cd $(SANITY_ROOT) && ansible-test sanity --venv --python $(shell $(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color no

units: $(VENV)/.installed $(COLLECTION_LINK)
	tests/testbed/testbed.sh tools
	PYTHONPATH=$(COLLECTIONS) pytest -q -p no:cacheprovider tests/unit

compat: $(VENV_COMPAT)/.installed $(COLLECTION_LINK)
	PYTHONPATH=$(COLLECTIONS) $(VENV_COMPAT)/bin/pytest -q -p no:cacheprovider -m "not stackscript" tests/unit
	$(VENV_COMPAT)/bin/python -c 'import ansible.release as r, sys; print("ansible-core", r.__version__, "on Python", sys.version.split()[0])'
	$(foreach playbook,$(PLAYBOOKS),$(VENV_COMPAT)/bin/ansible-playbook --syntax-check -i localhost, $(playbook);)

build: $(VENV)/.installed
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --output-path $(BUILD)/dist .
	tests/check-build.sh $(BUILD)/dist/oneclick-ai_sandbox-*.tar.gz

# Each run starts from fresh instances: the inner engines' volumes (which outlive `molecule destroy`
# and would carry containers of an earlier run) are removed first.
molecule: $(VENV)/.installed $(COLLECTION_LINK) testbed
	docker volume ls -q --filter name=ai-sandbox- | xargs -r docker volume rm -f >/dev/null
	eval "$$(tests/testbed/testbed.sh env)" && \
	  if [ -n "$(SCENARIO)" ]; then molecule test -s $(SCENARIO); else molecule test --all; fi

# The first boot end to end (tests/e2e/lab.py: the Linode API emulator's machines are containers).
e2e: $(VENV)/.installed $(COLLECTION_LINK) testbed
	PYTHONPATH=tests/e2e pytest -q -s -p no:cacheprovider tests/e2e

# The README's first command as a newcomer runs it: in `make test` this is the first stage that needs
# Docker, so on a fresh machine (CI) it starts with no engine running and no images.
demo-test:
	@if docker info >/dev/null 2>&1; then echo "demo-test: a Docker engine already answers"; \
	  else echo "demo-test: no Docker engine answers yet; make demo must start one"; fi
	$(MAKE) --no-print-directory demo
	$(MAKE) --no-print-directory demo-down

# The sandbox control plane (control_plane/): its own Python project and virtual environment.
CP_VENV := $(ROOT)/control_plane/.venv

$(CP_VENV)/.installed: control_plane/pyproject.toml control_plane/constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is needed for the control plane"; exit 1; }
	$(PYTHON) -m venv $(CP_VENV)
	$(CP_VENV)/bin/pip install -q --upgrade pip
	$(CP_VENV)/bin/pip install -q -c control_plane/constraints.txt -e 'control_plane[dev]'
	touch $@

control-plane: $(CP_VENV)/.installed
	control_plane/scripts/stage.sh test

bench-control-plane: $(CP_VENV)/.installed
	control_plane/scripts/stage.sh bench

demo: $(VENV)/.installed $(COLLECTION_LINK)
	PYTHONPATH=tests/e2e $(VENV)/bin/python tests/e2e/demo.py up

# A benchmark, not a test: the real-scale profile unless PROFILE says otherwise; prints and keeps
# (.build/bench/) the time to ready per phase, the critical path, the serial sum and their ratio.
bench-first-boot: $(VENV)/.installed $(COLLECTION_LINK) testbed
	PYTHONPATH=tests/e2e $(VENV)/bin/python tests/e2e/bench.py

demo-down: $(VENV)/.installed
	PYTHONPATH=tests/e2e $(VENV)/bin/python tests/e2e/demo.py down

clean:
	rm -rf $(VENV) $(VENV_COMPAT) $(BUILD) $(CP_VENV)
