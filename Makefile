# The two commands of the README: `make run` (demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements/dev.lock
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install lock run test test-postgres lint docs format peers bench clean

# Exactly the versions in the lock file (hash-checked), then the project itself.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

## lock: re-resolve requirements/dev.lock after changing dependencies in pyproject.toml
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra docs --python-version 3.11 \
	  --generate-hashes --universal --quiet -o $(LOCK)
	# The service alone (the Docker image), at the same versions as the dev lock.
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --constraint $(LOCK) \
	  --generate-hashes --universal --quiet -o requirements/app.lock

install: $(STAMP)

## run: create the venv, install, migrate, seed the demo and serve on http://127.0.0.1:8000
run: install
	$(BIN)/socialdesk demo

## test: the whole suite on the database in SOCIALDESK_DATABASE_URL (default: SQLite)
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

## test-postgres: the whole suite on a fresh PostgreSQL database
test-postgres: install
	SOCIALDESK_DATABASE_URL=$(PG_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## docs: build the manual in docs/ into site/; a broken link or a page missing from the nav fails
# NO_MKDOCS_2_WARNING: Material's end-of-life banner, not a warning about these docs.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis socialdesk.db* .socialdesk site
