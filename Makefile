# Newsroom — the two commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 preferred, 3.12 accepted (Django 6.1 needs 3.12 or newer).
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	command -v $$p; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
LOCALDB := $(PY) -m newsroom.localdb
PORT ?= 8000

# Development defaults; any of them can be overridden from the environment.
export DEBUG ?= true
export DJANGO_SETTINGS_MODULE := newsroom.settings
export PYTHONDONTWRITEBYTECODE := 1

# With DATABASE_URL set, that server is used and nothing is started.
ifeq ($(strip $(DATABASE_URL)),)
DB_START = $(LOCALDB) start
export DATABASE_URL := $(shell $(or $(PYTHON),python3) newsroom/localdb.py url)
else
DB_START = echo external
endif

.PHONY: help run test test-faults test-scale redis-server bench bench-tools lint format manage stop install lock browser browser-chromium db migrate check-python clean

help:
	@echo "make run      set up everything and serve the site with demo content"
	@echo "make test     lint, migrations check and the whole test suite (browser tests included)"
	@echo "make test-scale  scale-out test with real processes (a few minutes)"
	@echo "make bench    benchmark on a large newsroom (about 13 minutes; bench/README.md)"
	@echo "make manage ARGS=\"...\"   any management command against the same database"
	@echo "make stop     stop the project-local PostgreSQL"
	@echo "make lint     ruff check and format check;  make format  to fix"
	@echo "make lock     update requirements.lock from pyproject.toml"

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Python 3.12 or newer is needed (3.13 preferred). Install it, or set PYTHON=/path/to/python3.13." >&2; \
		exit 1; fi

# The virtual environment is rebuilt only when the lock file changes.
$(VENV)/.installed: requirements.lock | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies from requirements.lock ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }; test $${PIPESTATUS[0]} -eq 0
	@touch $@

install: $(VENV)/.installed

db: install
	@$(DB_START) >/dev/null

migrate: db
	@$(MANAGE) migrate --noinput

run: migrate
	@$(MANAGE) seed_demo
	@$(MANAGE) demo_logins
	@echo "Serving http://127.0.0.1:$(PORT)/ and a task worker; Ctrl-C stops both."
	@$(MANAGE) db_worker --no-reload --queue-name '*' & worker=$$!; \
	$(MANAGE) runserver 127.0.0.1:$(PORT) & web=$$!; \
	trap 'kill -TERM $$web $$worker 2>/dev/null' INT TERM; \
	wait -n $$web $$worker; kill -TERM $$web $$worker 2>/dev/null; wait; \
	echo "Stopped."

# Runs the whole suite against the local PostgreSQL and stops the server
# afterwards only if this run started it (a `make run` may be using it).
test: install browser
	@started=$$($(DB_START)) || exit 1; status=0; \
	$(PY) -m ruff check . && \
	$(PY) -m ruff format --check . && \
	$(MANAGE) makemigrations --check --dry-run && \
	$(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ "$$started" = started ]; then $(LOCALDB) stop >/dev/null; fi; \
	exit $$status

# The scale-out test (docs/deploy.md, "The scale test"): two gunicorn
# instances, three db_worker processes, redis-server and an SMTP server, on a
# database of its own. A few minutes, so `make test` leaves it out and says so.
test-scale: install redis-server
	@started=$$($(DB_START)) || exit 1; status=0; \
	TEST_DB_SUFFIX=scale $(PY) -m pytest tests/scale $(PYTEST_ARGS) || status=$$?; \
	if [ "$$started" = started ]; then $(LOCALDB) stop >/dev/null; fi; \
	exit $$status

# Debian's redis-server, installed when missing and we may (root with apt-get).
redis-server:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing redis-server for the scale test (apt-get install redis-server) ..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
			|| echo "Could not install redis-server; the scale test will fail."; \
		else echo "redis-server is missing: install Debian's redis-server package."; fi; \
	fi

# Benchmark on a large newsroom (bench/README.md). BENCH_* variables and
# BENCH_ARGS="--help" pass through.
bench: install bench-tools
	@started=$$($(DB_START)) || exit 1; status=0; \
	$(PY) bench/run.py $(BENCH_ARGS) || status=$$?; \
	if [ "$$started" = started ]; then $(LOCALDB) stop >/dev/null; fi; \
	exit $$status

# wrk, nginx and redis-server from Debian when we may (as for Chromium).
# Debian starts the nginx and redis services on install; the benchmark runs
# its own, so stop those.
# py-spy from bench/requirements.lock, into the project's environment.
bench-tools:
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing$$missing for the benchmark (apt-get install$$missing) ..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| { echo "Could not install$$missing." >&2; exit 1; }; \
			for service in nginx redis-server; do case "$$missing" in *$$service*) \
				if command -v systemctl >/dev/null 2>&1; then systemctl disable --now $$service >/dev/null 2>&1 || true; fi;; \
			esac; done; \
		else echo "The benchmark needs$$missing: sudo apt-get install$$missing" >&2; exit 1; fi; \
	fi
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r bench/requirements.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }; test $${PIPESTATUS[0]} -eq 0

# The PostgreSQL restart and backup/restore tests alone (make test runs them too).
test-faults: install
	@$(MAKE) --no-print-directory test PYTEST_ARGS="-m faults tests/faults"

# Browser tests need Chromium (Debian's package, installed when we may) and
# axe-core from npm for the accessibility checks.
browser: browser-chromium tests/site/axe/node_modules/.installed
tests/site/axe/node_modules/.installed: tests/site/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/site/axe --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility (axe-core) tests will not run."; fi
browser-chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Chromium for the browser tests (apt-get install chromium) ..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Could not install Chromium; the browser tests will not run."; \
		fi; \
	fi

lint: install
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

format: install
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .

manage: migrate
	@$(MANAGE) $(ARGS)

stop:
	@if [ -x $(PY) ]; then $(LOCALDB) stop; else $(or $(PYTHON),python3) -m newsroom.localdb stop; fi

lock: install
	@$(PY) -m pip install --quiet uv
	@$(VENV)/bin/uv pip compile pyproject.toml --group dev --python-version 3.13 \
		--generate-hashes --upgrade -o requirements.lock
	@echo "requirements.lock updated; run make test, then commit it."

clean: stop
	rm -rf $(VENV) .local staticfiles
