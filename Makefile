# The two commands a newcomer runs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genaiops demo

# What the tests start or drive themselves, installed with apt when missing (as root, else through sudo):
# redis-server (the runtime client's Redis cache, on free loopback ports) and Debian's Chromium with its
# chromedriver (the dashboard's browser tests, headless). Without them those tests skip locally and fail
# under CI=true.
services:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	[ -z "$$missing" ] || { \
		echo "installing$$missing (apt-get)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	} || echo "warning: could not install$$missing (apt-get install -y$$missing)"

# pytest on two workers (pytest-xdist), one test file per worker at a time: the end-to-end tests mostly
# wait on emulators and child processes, so two overlap well on two cores. Every test keeps to its own
# temp dir and free ports.
test: $(STAMP) services
	$(BIN)/ruff check controller tests benchmarks
	$(BIN)/ruff format --check controller tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

lint: $(STAMP)
	$(BIN)/ruff check controller tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/validate_bench.py

clean:
	rm -rf $(VENV) .genaiops .pytest_cache .mypy_cache .ruff_cache
