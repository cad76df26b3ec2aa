# The README's quickstart is exactly `make demo` and `make test`; both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Modules that make up the core (standard library only); the coverage floor applies to them.
NOT_CORE := */sluice/cli/*,*/sluice/llm/*,*/sluice/sim/*,*/sluice/bench/*

.PHONY: demo test test-ray lint typecheck unit bench clean chromium redis-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all]'
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all,dev]'
	@touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/sluice demo

test: $(VENV)/.test-installed chromium redis-server
	$(MAKE) --no-print-directory lint typecheck unit

# The report test renders the HTML report in headless Chromium: installed here when missing
# and running as root on Debian/Ubuntu; otherwise that test is skipped.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium for the report test..."; \
		apt-get update -q >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	else \
		echo "chromium not found: the report test will be skipped."; \
	fi

# The shared-state tests start their own redis-server on a random loopback port: installed
# here when missing (as root on Debian/Ubuntu); otherwise those tests are skipped.
redis-server:
	@if command -v redis-server >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing redis-server for the shared-state tests..."; \
		apt-get update -q >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			redis-server >/dev/null; \
	else \
		echo "redis-server not found: the shared-state tests will be skipped."; \
	fi

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

# Coverage starts before pytest, so what pytest's plugins import first (sluice's own plugin
# imports sluice) is measured too.
unit: $(VENV)/.test-installed
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report --omit='$(NOT_CORE)' --fail-under=90

# The Ray tests are opt-in (a local cluster takes seconds and most of a gigabyte): this target
# installs the ray extra (about 260 MB, not part of `all`) and runs them.
test-ray: $(VENV)/.test-installed redis-server
	$(PIP) install -e '.[ray]'
	SLUICE_RAY_TESTS=1 $(BIN)/pytest tests/batch/test_ray.py

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
