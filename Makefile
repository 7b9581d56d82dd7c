# chartguard: every target bootstraps first (idempotent, seconds when warm).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CG := $(VENV)/bin/chartguard
PYTEST := $(PY) -m pytest
MARK ?=

.PHONY: bootstrap rehearse test test-quick lint bench serve clean

bootstrap:
	@bash scripts/bootstrap.sh

rehearse: bootstrap
	$(CG) rehearse

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy chartguard_common ehr_core infra loadtests chaos monitoring runbooks bench

test: bootstrap lint
	$(PYTEST) $(if $(MARK),-m "$(MARK)",)

test-quick: bootstrap
	$(PYTEST) -m "unit"

bench: bootstrap
	$(PY) -m bench
	$(PY) -m bench.report

serve: bootstrap
	$(CG) ehr serve

clean:
	rm -rf .state test-artifacts bench/results/*.tmp
