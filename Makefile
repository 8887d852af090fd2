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

# Servers the tests start themselves on free loopback ports (redis-server, for the runtime client's Redis
# cache): installed with apt when missing (as root, else through sudo). Without it those tests skip
# locally and fail under CI=true.
services:
	@command -v redis-server >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	} || echo "warning: could not install redis-server (apt-get install -y redis-server)"

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
