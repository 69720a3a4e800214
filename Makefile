# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format install migrate seed bench-api clean screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall whenever the declared dependencies change.
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

# The browser tests drive Debian's Chromium through Playwright; the browser comes
# from the system's packages, never from a Playwright download.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

migrate: $(INSTALLED)
	mkdir -p var
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

## make run: web + Celery worker + Celery beat on SQLite and an embedded broker.
run: seed
	@echo
	@echo "  Admissions CRM is starting at http://$(HOST):$(PORT)/"
	@echo "  Sign in as counselor1 (queue, lead pages), verifier1 (/vob/) or supervisor1 (also /dashboard/)"
	@echo "  API: http://$(HOST):$(PORT)/api/v1/   docs: http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  Admin: http://$(HOST):$(PORT)/admin/   (Ctrl-C stops everything)"
	@echo
	CRM_HOST=$(HOST) CRM_PORT=$(PORT) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
		$(VENV)/bin/honcho -f crm/deploy/Procfile -d . start

## make test: the whole suite (SQLite unless DATABASE_URL / REDIS_URL say otherwise).
test: $(INSTALLED) $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

## make screenshots: the browser tests, saving the README's screenshots.
screenshots: $(INSTALLED) $(CHROMIUM)
	E2E_SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest tests/e2e -q

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/djlint templates --lint
	$(VENV)/bin/djlint templates --check
	$(PY) manage.py makemigrations --check --dry-run

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-api: $(INSTALLED)
	$(PY) bench/api_leads.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
