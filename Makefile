# The two commands: `make run` and `make test`. Both install what is missing into .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HTTP_PORT ?= 8000
WORKERS ?= 2

.PHONY: run test install db lint format proto bench lock clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

db: install
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --no-input

# The API (gunicorn) and the consumer together; Ctrl-C stops both.
run: db
	$(PY) manage.py collectstatic --no-input --verbosity 0
	HTTP_PORT=$(HTTP_PORT) WORKERS=$(WORKERS) VENV=$(VENV) bin/run

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate the Python module from proto/contributions/v1/contribution.proto.
proto: install
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto proto/contributions/v1/contribution.proto

bench: db
	$(PY) bench/run.py

lock: install
	(echo "# Generated from requirements.in by 'make lock': every package pinned."; \
	 $(PY) -m pip freeze --exclude-editable | grep -v "^pip==") > requirements.txt

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
