# The two commands in README.md: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# glibc's allocator returns activation buffers to the OS after every batch; keeping them
# roughly doubles CPU inference throughput (docs/performance.md).
export GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295

.PHONY: run test lint typecheck check-migrations check-deploy worker clean-data

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m config.run_local

test: $(BIN)/.installed lint typecheck check-migrations check-deploy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's Django plugin imports the settings but never connects; placeholder URLs keep the
# settings from starting embedded servers (mypy exits without running atexit cleanup).
typecheck: $(BIN)/.installed
	DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://typecheck@127.0.0.1:1/unused \
		REDIS_URL=redis://127.0.0.1:1/0 $(BIN)/mypy catalog search storeapi insights config

check-migrations: $(BIN)/.installed
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

# Django's deployment checklist on the production settings as they ship (HSTS, SSL redirect, secure
# cookies, DEBUG off): any warning fails. Placeholder URLs: the check connects to nothing.
check-deploy: $(BIN)/.installed
	DJANGO_SETTINGS_MODULE=config.settings.production DATABASE_URL=postgres://deploy-check@127.0.0.1:1/unused \
		REDIS_URL=redis://127.0.0.1:1/0 DJANGO_SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

clean-data:
	rm -rf .data
