# spocbot: the two commands a newcomer needs are `make demo` and `make test`.
# Every target creates the virtual environment itself.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: demo test unit servers stop-servers lint typecheck check bench bench-graph clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: run the main job on the embedded mail servers with the demo register and mail
demo: $(STAMP)
	$(BIN)/spocbot --config data/demo/spocbot.toml demo

## test: every test; as root it installs and starts Dovecot + Postfix on loopback first
test: $(STAMP) servers
ifeq ($(IS_ROOT),yes)
	SPOCBOT_REQUIRE_SERVERS=1 $(BIN)/pytest
else
	$(BIN)/pytest
endif

## unit: the fast tests only (no servers)
unit: $(STAMP)
	$(BIN)/pytest tests/unit

## servers: install (apt) and start the test mail servers; needs root, skipped otherwise
servers:
ifeq ($(IS_ROOT),yes)
	bash .ci/install-servers.sh
	bash tests/servers/start-servers.sh
else
	@echo "Not root: Dovecot/Postfix are not installed or started; integration tests that need them are skipped."
endif

stop-servers:
	bash tests/servers/stop-servers.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

## bench: the IMAP benchmark (10,000 messages on the real Dovecot server)
bench: $(STAMP) servers
	$(BIN)/python benchmarks/imap_pass.py

## bench-graph: Graph requests per 1,000 messages and per breach (local Graph server)
bench-graph: $(STAMP)
	$(BIN)/python benchmarks/graph_requests.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
