# Two commands on a fresh machine: `make run` (demo on 127.0.0.1:8056) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests drive for real (browser, ffprobe, nginx for the benchmark, shellcheck,
# mkvinfo to read WebM masters).
SYSTEM_PACKAGES := chromium ffmpeg nginx-light shellcheck mkvtoolnix
# Node runs Vexa's own bot code in tests/vexa (esbuild from npm, pinned by its package-lock.json).
NODE_PACKAGES := nodejs npm
VEXA_NODE := tests/vexa/node_modules/.package-lock.json
# The benchmark's load generator.
BENCH_PACKAGES := wrk

.PHONY: install system-deps node-deps run test lint test-unit test-scale test-faults bench clean \
	readme-settings lock

install: $(STAMP)

# One pip command for the package and its test tools: aiobotocore pins botocore narrowly and a
# second install could pull a botocore it does not support. The runtime dependencies are held to
# requirements.lock's versions (its pins without hashes, as constraints), so the tests run what the
# image ships.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	sed -n 's/ *\\$$//; /^[A-Za-z0-9]/p' requirements.lock > $(VENV)/lock-constraints.txt
	$(BIN)/pip install -q -c $(VENV)/lock-constraints.txt -e '.[test]'
	$(BIN)/pip check
	touch $(STAMP)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES) $(EXTRA_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Installed only when the commands are missing: a node from another source (e.g. NodeSource, whose
# nodejs carries npm) is used as it is.
node-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  $(MAKE) system-deps SYSTEM_PACKAGES="$(NODE_PACKAGES)"; \
	fi

$(VEXA_NODE): tests/vexa/package-lock.json
	$(MAKE) node-deps
	cd tests/vexa && npm ci --no-audit --no-fund --loglevel=error

# The demo's settings go to .env (written once, then yours to edit), which the server and every
# `vexa-lite` command read from this directory: `.venv/bin/vexa-lite keys create --user 3` then
# talks to the same store as the running server.
run: install
	@test -f .env || { printf '%s\n' '# written by `make run`; read by `vexa-lite` in this directory' \
	  'STORAGE_BACKEND=local' 'LOCAL_STORAGE_DIR=$(CURDIR)/data/recordings' 'LITE_DEMO_KEY=true' \
	  > .env && echo "wrote .env (STORAGE_BACKEND=local, LOCAL_STORAGE_DIR=$(CURDIR)/data/recordings)"; }
	$(BIN)/vexa-lite serve --port $${PORT:-8056}

# The README's settings table is generated from lite/settings_table.py (tests/test_settings.py
# fails when it is stale).
readme-settings: install
	$(BIN)/python -m lite.settings_doc README.md

# The image's runtime dependencies, pinned with hashes for every platform and Python >= 3.11
# (Dockerfile.lite installs them with --require-hashes); run after changing pyproject.toml's
# dependencies. tests/test_lock.py fails while the lock misses or contradicts one.
# Not `install`: a raised lower bound would conflict with the old lock's constraints.
lock:
	@test -x $(BIN)/uv || { test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV); $(BIN)/pip install -q 'uv>=0.4'; }
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/uv pip compile --universal --python-version 3.11 \
	  --generate-hashes --quiet pyproject.toml -o requirements.lock

lint: install system-deps
	$(BIN)/ruff check lite tests
	$(BIN)/ruff format --check lite tests
	$(BIN)/mypy lite tests
	shellcheck entrypoint.sh

test: lint $(VEXA_NODE)
	$(BIN)/pytest -q -p no:cacheprovider --durations=25 tests

# Three replicas on a SeaweedFS cluster behind nginx, while replicas are killed and restarted.
test-scale: install system-deps node-deps
	LITE_SCALE_TESTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/scale

# Crashes, outages, a full disk and bursts against real servers; prints a table of figures.
test-faults: install system-deps
	LITE_FAULT_TESTS=1 LITE_FAULT_SCALE=$(or $(LITE_FAULT_SCALE),1) LITE_FAULT_BURST=$(or $(LITE_FAULT_BURST),1000) $(BIN)/pytest -q -p no:cacheprovider -rA tests/faults

bench: install
	$(MAKE) system-deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# Container image and its tests with podman: no Docker engine and no registry here, so the base
# image is debootstrapped from Debian packages and imported once (docs/architecture.md, Building
# the image on this machine).
PODMAN := podman --cgroup-manager=cgroupfs --runtime runc
IMAGE ?= localhost/vexa-lite:latest
BASE_IMAGE ?= localhost/debian-python:bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian
CONTAINER_PACKAGES := podman debootstrap runc
HOST_CA := /etc/ssl/certs/ca-certificates.crt

.PHONY: image test-container

image:
	@missing=""; for p in $(CONTAINER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! $(PODMAN) image exists $(BASE_IMAGE); then \
	  echo "building $(BASE_IMAGE) with debootstrap"; \
	  rootfs=$$(mktemp -d /var/tmp/debian-rootfs.XXXXXX); \
	  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
	    bookworm "$$rootfs" $(DEBIAN_MIRROR) >/dev/null \
	  && rm -rf "$$rootfs"/var/cache/apt/archives/*.deb "$$rootfs"/var/lib/apt/lists/* \
	    "$$rootfs"/usr/share/man "$$rootfs"/usr/share/locale \
	  && tar -C "$$rootfs" -c . | $(PODMAN) import - $(BASE_IMAGE) >/dev/null; \
	  status=$$?; rm -rf "$$rootfs"; exit $$status; \
	fi
	$(PODMAN) build --isolation chroot --network host --format docker \
	  $(if $(wildcard $(HOST_CA)),-v $(HOST_CA):$(HOST_CA):ro) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) -f Dockerfile.lite -t $(IMAGE) .

test-container: install image
	LITE_CONTAINER_TESTS=1 LITE_IMAGE=$(IMAGE) $(BIN)/pytest -q -p no:cacheprovider tests/container
