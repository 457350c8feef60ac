# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs.
PYTHON ?= python3.11
VENV   ?= .venv
# This machine has a CPU build of torch 2.13.0 on local disk; an unpinned torch
# would download a multi-GB CUDA build. Elsewhere: make TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.genlab-installed

.PHONY: demo test test-fast setup bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
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
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/generate.py

clean:
	rm -rf $(VENV) build *.egg-info
