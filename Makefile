# `make run` serves Settle with demo data at http://127.0.0.1:8000; `make test` runs every check.
# Both create .venv with Python 3.11 first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/settle
PYTEST_ARGS ?=
GET_PIP_URL := https://bootstrap.pypa.io/get-pip.py
CHECKS := lint format-check typecheck import-check migrations-check pytest

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help run test test-postgres browser $(CHECKS) format clean

help:
	@echo "make run            serve Settle at http://$(BIND) with the task worker and demo data (Ctrl-C stops)"
	@echo "make test           ruff, ruff format --check, mypy, lint-imports, makemigrations --check, pytest"
	@echo "make test-postgres  pytest on PostgreSQL at TEST_DATABASE_URL ($(TEST_DATABASE_URL))"
	@echo "make format         ruff format and the safe ruff fixes"
	@echo "make clean          remove .venv, collected static files and caches (keeps the database in var/)"

# Debian and Ubuntu ship ensurepip separately (python3.11-venv); without it, pip comes from get-pip.py.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
		{ echo "Settle needs Python 3.11; install python3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { \
		echo "Creating $(VENV) without ensurepip; fetching pip from $(GET_PIP_URL)"; \
		rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && \
		$(BIN)/python -c 'import sys, urllib.request; urllib.request.urlretrieve(*sys.argv[1:])' $(GET_PIP_URL) $(VENV)/get-pip.py && \
		$(BIN)/python $(VENV)/get-pip.py --quiet && rm $(VENV)/get-pip.py; } || { rm -rf $(VENV); exit 1; }

# Stamps: reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/settle migrate --noinput
	$(BIN)/settle collectstatic --noinput --verbosity 0
	$(BIN)/settle demo --if-empty
	exec $(BIN)/settle serve --with-worker --bind $(BIND)

# Every check runs even after one fails, so a single run reports all of them.
test: $(VENV)/.installed-test browser
	@$(MAKE) --no-print-directory --keep-going $(CHECKS)

# Browser tests drive Debian's chromium through Playwright (never a browser Playwright downloads).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is not installed: browser tests will be skipped (sudo apt-get install chromium)"; fi; }

test-postgres: $(VENV)/.installed-test browser
	SETTLE_TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --output-format concise .

format-check: $(VENV)/.installed-test
	$(BIN)/ruff format --check --output-format concise .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

import-check: $(VENV)/.installed-test
	$(BIN)/lint-imports

migrations-check: $(VENV)/.installed-test
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

pytest: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/static .mypy_cache .ruff_cache .import_linter_cache .hypothesis
