# The two commands of the quick start, and a few more. Each creates .venv from the lock if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: run test check format install clean bench

run: install ## Start PostgreSQL, migrate, seed, serve on http://localhost:$${PORT:-4000}
	$(BIN)/myapp server --setup

test: install ## Run the whole test suite
	$(BIN)/myapp test

check: install ## ruff, ruff format --check, mypy, bandit
	$(BIN)/myapp check

format: install
	$(BIN)/myapp format

bench: install ## Jobs/s through one worker vs plain inserts (bench/README.md); BENCH_ARGS="--jobs 500"
	$(BIN)/python -m bench.jobs_throughput $(BENCH_ARGS)

install: $(VENV)/.installed

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# uv installs exactly the versions in uv.lock; --inexact keeps uv itself in the venv.
$(VENV)/.installed: $(BIN)/uv uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-extras --inexact --quiet
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .testmondata
