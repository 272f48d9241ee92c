# The two commands a new user needs: `make run` and `make test`. Each one creates
# the virtual environment and installs the project into it (again only when
# pyproject.toml changed), so either works first on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two test processes (pytest-xdist), each taking whole files: most tests wait on daemons,
# sockets and fsync, so two halve the suite's time on a 2-core machine (19 -> 10 min
# measured); `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test lint bench venv generate clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make run: start the daemon on the embedded SQLite default under ./cashserver-data
run: $(STAMP)
	$(BIN)/cashserver serve

## make test: lint, type-check, then the whole suite (unit, integration, end to end)
test: $(STAMP) lint system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make system-deps: the system packages the tests need and pip cannot give: chromium for
## the console's browser tests (Playwright drives it; its own browser download cannot work
## here), the Apache Thrift compiler (the reference peer the interop tests regenerate) and
## Debian's prometheus package (promtool checks the alert rules, the server scrapes a real
## daemon). Installed when root; else the tests that need them say why they are skipped,
## loudly. prometheus is installed for its binaries only: under a policy-rc.d that forbids
## starting services (removed again if this made it), without its recommended exporters,
## and its unit disabled, so no Prometheus service runs afterwards.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v thrift >/dev/null 2>&1 || missing="$$missing thrift-compiler"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "!!! missing and cannot be installed here:$$missing: the tests that need them will be SKIPPED"; \
	  fi; \
	fi
	@if ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    made=""; \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made=1; \
	    fi; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; \
	    status=$$?; \
	    if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	    if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; \
	    exit $$status; \
	  else \
	    echo "!!! promtool and prometheus are missing and cannot be installed here: the alert rule tests will be SKIPPED"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cashserver tests benchmarks tools

## make bench: every benchmark, one JSON line each (not timed tests: compare ratios)
bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python benchmarks/loader.py
	PYTHONPATH=. $(BIN)/python benchmarks/front_convert.py
	PYTHONPATH=. $(BIN)/python benchmarks/export.py
	PYTHONPATH=. $(BIN)/python benchmarks/ingest.py --protocol 4
	PYTHONPATH=. $(BIN)/python benchmarks/ingest.py --protocol 3
	PYTHONPATH=. $(BIN)/python benchmarks/pull.py
	PYTHONPATH=. $(BIN)/python benchmarks/reports.py --receipts 1000000
	PYTHONPATH=. $(BIN)/python benchmarks/reports.py --postgres --receipts 1000000
	PYTHONPATH=. $(BIN)/python benchmarks/pg_loader.py
	PYTHONPATH=. $(BIN)/python benchmarks/pg_ingest.py
	PYTHONPATH=. $(BIN)/python benchmarks/cluster_ingest.py
	PYTHONPATH=. $(BIN)/python benchmarks/trimmer.py
	PYTHONPATH=. $(BIN)/python benchmarks/forward.py

## make generate: regenerate from the IDL: the protobuf code and the packaged Thrift IDL
## (cashserver/rpc/_generated), and the Apache Thrift test client (tests/interop/gen)
generate: $(STAMP)
	$(BIN)/python tools/generate_proto.py
	sh tools/generate_thrift_client.sh

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
