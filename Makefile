# Two commands for a newcomer: `make demo` and `make test`. Everything they need is installed
# by the targets below (Python packages into .venv, Go-built control plane into the cache).
SHELL := /bin/bash
# Debian's own python3.11 when it can make a venv: it is built with PGO and LTO, and start-up is
# most of a no-op `transom apply`, which runs about 20% faster under it (docs/benchmarks.md).
PYTHON ?= $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null && echo /usr/bin/python3.11 || echo python3.11)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: venv controlplane browser gnupg promtool wine wine-lane windows-bundle crds lint typecheck test unit demo bench clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11+)"; exit 1; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

controlplane:
	tools/controlplane/build.sh
	tools/flux/build.sh

# The Windows lane: Windows CPython 3.13 + pywin32 under Wine, cached in ~/.cache/transom/wine-*
# (docs/windows-testing.md says what it covers and what only a real Windows runner does).
wine:
	tools/wine/setup.sh

# Debian's Chromium for the fleet view's browser tests (tests/ui), driven by Playwright.
browser:
	tools/browser/setup.sh

# Debian's GnuPG: signs the test commits source-controller verifies (tests/integration/flux).
gnupg:
	tools/gnupg/setup.sh

# promtool (from Debian's prometheus package, only that binary) for the alert rules' tests.
promtool:
	tools/prometheus/setup.sh >/dev/null

wine-lane: wine
	tools/wine/run-lane.sh

# The offline Windows bundle: dist/transom-agent-<version>-win-amd64.zip (docs/windows.md).
windows-bundle: venv
	tools/bundle/build.sh

crds: venv
	$(PY) -m transom.api.crds deploy

lint: venv
	$(VENV)/bin/ruff check src tests bench tools/lint
	$(VENV)/bin/ruff format --check src tests bench tools/lint
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --config-file tools/lint/mypy-win32.toml
	$(PY) -m tools.lint.powershell
	$(PY) -m tools.lint.privileged

test: venv controlplane browser gnupg promtool wine lint
	$(VENV)/bin/pytest
	tools/wine/run-lane.sh

unit: venv
	$(VENV)/bin/pytest tests/unit

demo: venv controlplane
	$(PY) -m transom.cli.demo

bench: venv controlplane
	bench/setup.sh
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
