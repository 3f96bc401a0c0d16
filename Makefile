PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test serve openapi bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[service,postgres,test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
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
