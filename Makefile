PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
APT := apt-get -y -o DPkg::Lock::Timeout=600

.PHONY: install test serve openapi bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[service,test]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	$(APT) update
	$(APT) install chromium

test: $(STAMP) $(CHROMIUM)
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
