# RewardSmith: `make demo` sets everything up and runs the demo; `make test` sets up and runs the checks.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup system demo test lint typecheck unit slow clean

setup: $(STAMP) system

# torch first, pinned to the local CPU build: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

system:
	./scripts/setup-system.sh

demo: setup
	$(BIN)/rewardsmith run mountain-car --rounds 2 --samples 4

lint: setup
	$(BIN)/ruff check rewardsmith core agent envs sandboxes prompts tests bench

# mypy cannot follow rewardsmith/__init__.py's path extension, so it runs in .typecheck/, where
# rewardsmith/ holds links to the checkout's folders: the module names of an install (rewardsmith.agent, ...).
PACKAGE_DIRS := core agent envs sandboxes prompts
typecheck: setup
	mkdir -p .typecheck/rewardsmith
	ln -sfn ../../rewardsmith/__init__.py .typecheck/rewardsmith/__init__.py
	for d in $(PACKAGE_DIRS); do ln -sfn ../../$$d .typecheck/rewardsmith/$$d; done
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml

unit: setup
	$(BIN)/pytest -q

test: lint typecheck unit

slow: setup
	$(BIN)/pytest -q -m slow

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .typecheck
