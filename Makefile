PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install servers test serve openapi bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[service,postgres,test]'
	touch $(STAMP)

install: $(STAMP)

# The cluster tests run a real PostgreSQL and nginx: Debian's packages, installed when absent
# (CI is a fresh Debian with Python only, as root). Nothing is started here: the tests start
# their own servers on free ports in temporary folders.
servers:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -x /usr/sbin/nginx ]; then :; \
	else apt-get update -o DPkg::Lock::Timeout=600 && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends postgresql nginx-light; fi

test: $(STAMP) servers
	$(BIN)/ruff check adcore service
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/uvicorn service.main:app --host $${NABLA_HOST:-127.0.0.1} --port $${NABLA_PORT:-8000} --workers $${NABLA_WORKERS:-1} --loop uvloop --http httptools

openapi: $(STAMP)
	$(BIN)/python -m service.export_openapi > openapi/openapi.json.tmp && mv openapi/openapi.json.tmp openapi/openapi.json

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
