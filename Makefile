PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT := apt-get -y -o DPkg::Lock::Timeout=600

.PHONY: install system test serve openapi bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[service,postgres,test]'
	touch $(STAMP)

install: $(STAMP)

# What the tests drive for real, from Debian's packages, installed when absent (CI is a fresh
# Debian with Python only, as root): Node.js (the JavaScript array reader), PostgreSQL and
# nginx (the cluster tests), Chromium (the browser tests; Playwright's own browser download is
# not used). Nothing is started here: the tests start their own servers on free ports in
# temporary folders.
system:
	@missing=""; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then $(APT) update && \
	  DEBIAN_FRONTEND=noninteractive $(APT) install $$missing; fi

test: $(STAMP) system
	$(BIN)/ruff check adcore service
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/uvicorn service.main:app --host $${NABLA_HOST:-127.0.0.1} --port $${NABLA_PORT:-8000} --workers $${NABLA_WORKERS:-1} --loop uvloop --http httptools

openapi: $(STAMP)
	$(BIN)/python -m service.export_openapi > openapi/openapi.json.tmp && mv openapi/openapi.json.tmp openapi/openapi.json

bench: $(STAMP)
	$(BIN)/python -m bench.run

# The differential run against JAX (bench/fuzz.py), by hand: JAX lives in a virtualenv of
# its own, never in the project's dependencies. PROGRAMS=200 make fuzz for a short run.
BENCH_STAMP := .venv-bench/.installed
$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet --upgrade pip
	.venv-bench/bin/pip install --quiet -e '.[compiler]' jax jaxlib
	touch $(BENCH_STAMP)

fuzz: $(BENCH_STAMP)
	PYTHONPATH=. .venv-bench/bin/python -m bench.fuzz --programs $${PROGRAMS:-2000}

clean:
	rm -rf $(VENV) .venv-bench .pytest_cache .hypothesis
