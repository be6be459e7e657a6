# Executable documentation: each target is a command the README names.
# `make run` and `make test` create .venv and install the package on first use.

VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run demo test unit lint e2e faults clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

## the main job: poll the feeds of config/syndicate.toml (embedded unless REDIS_URL is set)
run: $(STAMP)
	$(BIN)/syndicate run $(ARGS)

## the main job with sample feeds served from 127.0.0.1 (no network needed)
demo: $(STAMP)
	$(BIN)/syndicate run --demo $(ARGS)

## the whole test suite against the real Redis (started if none is running)
test: $(STAMP)
	scripts/ensure-redis.sh $(BIN)/python
	$(BIN)/ruff check worker tests
	$(BIN)/pytest $(ARGS)

## the fault tests alone (SIGKILL, Redis restart, webhook outage, two beats), with figures
faults: $(STAMP)
	scripts/ensure-redis.sh $(BIN)/python
	FAULTS_REPORT=var/faults.json $(BIN)/pytest tests/faults -m faults -q -s
	@cat var/faults.json

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check worker tests
	$(BIN)/ruff format --check worker tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
