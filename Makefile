# The two commands of the README: `make run` and `make test`. Both do all set-up
# on a fresh machine: system packages (xmlsec1 for SAML, Debian's chromium for the
# browser tests, ffmpeg to decode recordings for speech-to-text), the virtualenv
# with pinned requirements, migrations.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := xmlsec1 chromium fonts-dejavu-core ffmpeg nginx libnginx-mod-rtmp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-postgres test-scale test-zapier test-salesforce-package setup system-deps venv tools migrate lint bench clean

setup: system-deps venv tools migrate

system-deps:
	@missing=""; \
	command -v xmlsec1 >/dev/null 2>&1 || missing="$$missing xmlsec1"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing="$$missing libnginx-mod-rtmp"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Azurite (Azure Blob Storage emulator, npm) for the Custom Media Bucket tests.
AZURITE_VERSION := 3.35.0
tools: .tools/node_modules/.bin/azurite-blob

.tools/node_modules/.bin/azurite-blob:
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm install --silent --no-audit --no-fund --prefix .tools azurite@$(AZURITE_VERSION)

migrate: venv
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0

run: setup
	@$(PY) manage.py seed_demo
	@echo "Chorus is starting at http://$(HOST):$(PORT)/ (web server, django-q2 worker, RTMP ingest for Zoom Streaming). Ctrl-C stops them."
	@trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py qcluster & \
	$(PY) manage.py run_stream_ingest --callback-url http://$(HOST):$(PORT) & \
	$(VENV)/bin/gunicorn chorus.wsgi --bind $(HOST):$(PORT) --workers 2 --access-logfile - & \
	wait

# The suite runs in parallel with pytest-xdist (one worker per core; PYTEST_WORKERS=0
# runs it serially) and prints the 20 slowest tests at the end (pytest.ini).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup
test: setup
	AZURITE_BLOB=$(CURDIR)/.tools/node_modules/.bin/azurite-blob $(PY) -m pytest $(PYTEST_PARALLEL)

# ruff, then the layer contracts of .importlinter (ARCHITECTURE.md "Layers").
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) db.sqlite3 .staticfiles

# The whole suite but the browser tests again on PostgreSQL (SKIP LOCKED claims,
# upserts, JSON filters, SQL scoping) and Redis (the django-q2 broker, the shared
# cache): scripts/with-pg-redis.sh starts both on free loopback ports in a temporary
# directory of its own (no system service is used) and stops them afterwards.
# Installs Debian's postgresql and redis-server when missing.
test-postgres: setup
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	AZURITE_BLOB=$(CURDIR)/.tools/node_modules/.bin/azurite-blob bash scripts/with-pg-redis.sh \
	  $(PY) -m pytest $(PYTEST_PARALLEL) -m "not browser"

test-scale: test-postgres

# The Chorus app for Zapier (zapier-app/): its unit tests, then its integration tests
# against a running product (a temporary database, an Enterprise org and token, a dev
# server on a free port) — zapier-app/run-integration.sh.
test-zapier: setup
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd zapier-app && npm ci --silent --no-audit --no-fund && bash run-integration.sh

# The Chorus for Salesforce package (salesforce-package/): loaded and converted to
# metadata format offline with Salesforce's source-deploy-retrieve (no org needed).
test-salesforce-package:
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd salesforce-package/tools && npm ci --silent --no-audit --no-fund && node convert.mjs
