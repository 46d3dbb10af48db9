# MailerLogic — `make run` and `make test` are the two commands of the README.
-include .env

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?=

.PHONY: run
run: install
	$(BIN)/mailerlogic run-all

.PHONY: test
test: install services lint
	set -a && . .services/env && set +a && $(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: install
install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: test-unit
test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The issue's fuzzing run: schemathesis over /api/openapi.json, in process; prints cases, time, findings.
FUZZ_CASES ?= 20000

.PHONY: fuzz
fuzz: install
	MAILERLOGIC_FUZZ_CASES=$(FUZZ_CASES) $(BIN)/python -m pytest tests/fuzz -s --timeout 7200 $(PYTEST_ARGS)

.PHONY: lint
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy commands projections read_api event_store consumers security web warehouse mailerlogic

.PHONY: fmt
fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: services
services: install
	bash scripts/services.sh start

.PHONY: services-stop
services-stop:
	bash scripts/services.sh stop

.PHONY: bench
bench: install services
	set -a && . .services/env && set +a && $(BIN)/python -m bench

.PHONY: clean
clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
