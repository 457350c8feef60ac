# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs.
PYTHON ?= python3.11
VENV   ?= .venv
# This machine has a CPU build of torch 2.13.0 on local disk; an unpinned torch
# would download a multi-GB CUDA build. Elsewhere: make TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.genlab-installed

.PHONY: demo test test-fast setup bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/genlab quickstart

# pytest exits 5 when it collects no test: that is a failure, not a pass.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/generate.py

clean:
	rm -rf $(VENV) build *.egg-info
