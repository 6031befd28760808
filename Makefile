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

# One test process per CPU (pytest-xdist; each has its own test database), a test file
# kept on one process so its module fixtures (servers, browsers) start once.
# `make test WORKERS=0` runs in this process alone.
WORKERS ?= auto
test: install
	$(VENV)/bin/pytest -q -n $(WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check fairdesk tests conftest.py
	$(VENV)/bin/ruff format --check fairdesk tests conftest.py
	$(VENV)/bin/mypy fairdesk
	$(VENV)/bin/fairdesk makemigrations --check --dry-run
