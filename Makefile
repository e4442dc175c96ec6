# Two commands matter: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LC_ALL := C.UTF-8
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint bench venv clean-data fmt

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; KIKI needs Python 3.11 (set PY=/path/to/python3.11)"; exit 2; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

## make run: embedded Postgres/Redis unless DATABASE_URL/REDIS_URL are set, migrate, demo tenant, all processes
run: $(STAMP)
	$(BIN)/python -m kiki_project.supervisor

## make test: the whole suite (uses DATABASE_URL/REDIS_URL when set, else embedded servers), in
## TEST_WORKERS xdist processes (each with its own test database and Redis databases; files stay whole)
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy kiki_project apps ml
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

clean-data:
	rm -rf .kiki
