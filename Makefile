# The two commands a newcomer needs: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

.PHONY: install demo test lint
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/fairdesk demo

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check fairdesk tests conftest.py
	$(VENV)/bin/ruff format --check fairdesk tests conftest.py
	$(VENV)/bin/mypy fairdesk
	$(VENV)/bin/fairdesk makemigrations --check --dry-run
