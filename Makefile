# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs.
PYTHON ?= python3.11
VENV   ?= .venv
# This machine has a CPU build of torch 2.13.0 on local disk; an unpinned torch
# would download a multi-GB CUDA build. Elsewhere: make TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
# Exact versions the test suite last passed with (pyproject.toml keeps ranges for library users).
# `make lock` refreshes it; `make test LOCK=` installs from the ranges instead.
LOCK ?= requirements/lock.txt
CONSTRAIN := $(if $(LOCK),-c $(LOCK))
BIN := $(VENV)/bin
STAMP := $(VENV)/.genlab-installed

.PHONY: demo test test-fast setup bench clean browser lock

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(CONSTRAIN) "$(TORCH_SPEC)"
	$(BIN)/pip install -q $(CONSTRAIN) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/genlab quickstart

# The report's browser test drives Debian's chromium. Install it where we can (root + apt);
# elsewhere that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium could not be installed: the browser test will be skipped"

# pytest exits 5 when it collects no test: that is a failure, not a pass.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	$(BIN)/pip install -q $(CONSTRAIN) -e ".[bench]"
	$(BIN)/python bench/generate.py

# Refresh requirements/lock.txt: the newest releases pyproject.toml allows, in a new venv, kept only
# if the unit tier passes with them. Run it on a schedule (e.g. monthly), then `make test` and commit.
# torch is left out: TORCH_SPEC picks the build for the machine (CPU here, CUDA elsewhere).
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q "$(TORCH_SPEC)"
	$(LOCK_VENV)/bin/pip install -q -e ".[dev]"
	$(LOCK_VENV)/bin/python -m pytest -q -m "not slow" tests
	{ echo "# Versions the test suite passed with: written by \`make lock\` on $$(date -u +%Y-%m-%d)," ; \
	  echo "# Python $$($(LOCK_VENV)/bin/python -c 'import platform; print(platform.python_version())'). genlab and torch (TORCH_SPEC) are not listed." ; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -viE '^(genlab|torch|nvidia-|triton)([=@ ]|$$)' ; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)
	@echo "wrote $(LOCK); run make test (it reinstalls .venv from the new lock) and commit it"

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info
