# Decoupled: `make run` starts everything, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup lint format chromium postgresql migrate site demo worker web redis clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Decoupled needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV)…"
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

migrate: $(STAMP)
	@mkdir -p var
	@DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0

site: migrate
	@if DJANGO_DEBUG=1 $(PY) manage.py help load_site >/dev/null 2>&1; then \
	  DJANGO_DEBUG=1 $(PY) manage.py load_site || echo "load_site: the course has problems (listed above); starting anyway"; \
	fi

demo: migrate
	@DJANGO_DEBUG=1 $(PY) manage.py demo_accounts

run: site demo
	@echo "Starting Decoupled:"
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) -m config.devserver

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || { echo "Could not install chromium with apt-get"; exit 1; }; \
	  else echo "Browser tests need Debian's chromium: run 'sudo apt-get install chromium'"; exit 1; fi; \
	fi

# The integration tests start their own PostgreSQL (initdb + pg_ctl, tests/integration/conftest.py):
# install Debian's server binaries only when neither PATH nor /usr/lib/postgresql has them.
postgresql:
	@if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian's postgresql for the integration tests…"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || { echo "Could not install postgresql with apt-get"; exit 1; }; \
	  else echo "Integration tests need PostgreSQL's server binaries: run 'sudo apt-get install postgresql'"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: $(STAMP) chromium postgresql lint
	@mkdir -p var
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# One component alone (for debugging); each uses REDIS_URL, default redis://127.0.0.1:6379/0.
worker: migrate
	DJANGO_DEBUG=1 $(PY) -m celery -A config worker -B --pool=threads --concurrency=4 --loglevel=INFO
web: migrate
	DJANGO_DEBUG=1 $(PY) -m uvicorn config.asgi:application --host 127.0.0.1 --port $${PORT:-8000} --timeout-graceful-shutdown 3
redis:
	redis-server --port 6379 --save "" --appendonly no

clean:
	rm -rf var test-artifacts .pytest_cache
