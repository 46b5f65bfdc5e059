# The two commands: `make run` and `make test`. Both install what is missing into .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HTTP_PORT ?= 8000
WORKERS ?= 2

.PHONY: run test install prometheus cluster-servers cluster db lint format proto bench lock clean

# .venv gets the runtime (requirements.txt, what the image installs) and the test and dev tools.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Debian's prometheus (prometheus and promtool) for the metrics tests, when missing. The package
# would start its system service: a policy-rc.d that says no keeps it from starting (ours, if
# the machine has none), and the service is disabled; the tests start their own.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	    chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    --no-install-recommends prometheus; status=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  if command -v systemctl >/dev/null; then systemctl disable --now prometheus >/dev/null 2>&1; fi; \
	  exit $$status; }

# Debian's nats-server and redis-server (whose `--sentinel` mode runs the sentinels) for bin/cluster
# and the cluster tests, when missing; their system services are kept from starting, as above.
cluster-servers:
	@{ command -v nats-server || test -x /usr/sbin/nats-server; } >/dev/null && command -v redis-server >/dev/null || { \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	    chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    --no-install-recommends nats-server redis-server; status=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  exit $$status; }

# Three nats-servers, a Redis primary, a replica and three sentinels on loopback (docs/SCALING.md);
# prints the settings to export; Ctrl-C stops them.
cluster: install cluster-servers
	bin/cluster

db: install
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --no-input

# The API (gunicorn), the consumer and the gRPC server together; Ctrl-C stops them all.
run: db
	$(PY) manage.py collectstatic --no-input --verbosity 0
	HTTP_PORT=$(HTTP_PORT) WORKERS=$(WORKERS) VENV=$(VENV) bin/run

# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
/usr/bin/chromium:
	apt-get update && apt-get install -y chromium

test: install prometheus cluster-servers /usr/bin/chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate the Python modules from the .proto files under proto/: the messages (_pb2, _pb2.pyi)
# and, for the two services, their stubs (_pb2_grpc). protoc names the proto files from proto/
# (as rankr's clients do) but the modules live in the package `proto`: the stubs' import of
# their messages is given that prefix.
GRPC_PROTOS := proto/leaderboardscoring/v1/leaderboardscoring.proto proto/leaderboard/v1/leaderboard.proto
proto: install
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto proto/contributions/v1/contribution.proto
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(GRPC_PROTOS)
	sed -i -E 's/^from (leaderboard(scoring)?\.v1) import/from proto.\1 import/' proto/*/v1/*_pb2_grpc.py

# wrk drives the API and page benchmarks, h2load (nghttp2-client) the gRPC unary one (Debian's packages).
/usr/bin/wrk:
	apt-get update && apt-get install -y wrk

/usr/bin/h2load:
	apt-get update && apt-get install -y nghttp2-client

bench: db /usr/bin/wrk /usr/bin/h2load
	$(PY) bench/run.py
	$(PY) bench/webhooks.py
	$(PY) bench/web.py
	$(PY) bench/streams.py
	$(PY) bench/exclusions.py
	$(PY) bench/rescore.py
	$(PY) bench/grpc.py

# Re-pin both files from the .in files, in a scratch venv: the runtime alone first (so
# requirements.txt holds only what it pulls in), then the dev tools constrained to those pins.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet -r requirements.in
	(echo "# Generated from requirements.in by 'make lock': the runtime, every package pinned (the image)."; \
	 $(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v "^pip==") > requirements.txt
	$(LOCK_VENV)/bin/pip install --quiet -r requirements-dev.in -c requirements.txt
	(echo "# Generated from requirements-dev.in by 'make lock': the runtime plus the test and dev tools."; \
	 echo "-r requirements.txt"; \
	 $(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -v "^pip==" | grep -vxFf requirements.txt) > requirements-dev.txt
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(LOCK_VENV) staticfiles .pytest_cache
