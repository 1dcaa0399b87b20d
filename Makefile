# Two commands from a fresh clone:  `make chat`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: chat setup models test-models test-tools test test-fast bench clean

chat: setup  ## Install everything (first run builds llama.cpp, ~10 min) and open the chat
	$(BIN)/assistant chat

setup: $(STAMP) models

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[all,test]' -r requirements-dev.txt
	touch $(STAMP)

models: $(STAMP)  ## Fetch and verify the default model
	$(BIN)/assistant models pull smollm2

test-models: $(STAMP)  ## Models the real-model tests use
	$(BIN)/assistant models pull smollm2
	$(BIN)/assistant models pull gemma3-270m

test-tools:  ## System tools the tests use: tmux (real-terminal chat test), via apt-get when missing
	@command -v tmux >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  $$SUDO apt-get install -y tmux >/dev/null 2>&1 || { $$SUDO apt-get update && $$SUDO apt-get install -y tmux; }; }

test: setup test-models test-tools  ## Set up what the tests need and run the whole suite
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## Unit tests only (no real model)
	$(BIN)/python -m pytest -q -m "not model"

bench: setup test-models  ## Benchmarks; results go to docs/performance.md
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build dist *.egg-info
