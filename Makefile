# The two commands of the README: `make run` and `make test`. Both do all set-up
# on a fresh machine: system packages (xmlsec1 for SAML, Debian's chromium for the
# browser tests), the virtualenv with pinned requirements, migrations.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := xmlsec1 chromium fonts-dejavu-core
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup system-deps venv migrate lint bench clean

setup: system-deps venv migrate

system-deps:
	@missing=""; \
	command -v xmlsec1 >/dev/null 2>&1 || missing="$$missing xmlsec1"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
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

migrate: venv
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0

run: setup
	@$(PY) manage.py seed_demo
	@echo "Chorus is starting at http://$(HOST):$(PORT)/ (web server + django-q2 worker). Ctrl-C stops both."
	@trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py qcluster & \
	$(VENV)/bin/gunicorn chorus.wsgi --bind $(HOST):$(PORT) --workers 2 --access-logfile - & \
	wait

test: setup
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) db.sqlite3 .staticfiles
