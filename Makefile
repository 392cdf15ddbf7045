# The two commands of the quick start, and a few more. Each creates .venv from the lock if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)
# The official npm `phoenix` client that tests/my_app_web/channels/test_js_client.py drives.
JS := tests/js
JS_DEPS := $(JS)/node_modules/.installed

.PHONY: run test check format install clean bench bench-jobs bench-live bench-catalog bench-export bench-telemetry

run: install ## Start PostgreSQL, migrate, seed, serve on http://localhost:$${PORT:-4000}
	$(BIN)/myapp server --setup

test: install $(JS_DEPS) ## Run the whole test suite (the JS client tests need Node 20+ and npm)
	$(BIN)/myapp test

check: install ## ruff, ruff format --check, mypy, bandit, import-linter (layering contracts), pip-audit over uv.lock (NO_AUDIT=1 skips it)
	$(BIN)/myapp check $(if $(NO_AUDIT),--no-audit)

format: install
	$(BIN)/myapp format

bench: install ## The benchmark suite, one table: HTTP beside a bare app, jobs, start-up, memory (bench/README.md, ~5 min); BENCH_ARGS="--quick"
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

bench-jobs: install ## Jobs/s through one worker vs plain inserts (bench/README.md); BENCH_ARGS="--jobs 500"
	$(BIN)/python -m bench.jobs_throughput $(BENCH_ARGS)

bench-live: install ## Idle live pages (KB, tasks) and a user change's fan-out to 1,000 pages (bench/README.md); BENCH_ARGS="--pages 200"
	$(BIN)/python -m bench.live_pages $(BENCH_ARGS)

bench-catalog: install ## Catalog and blog reads/s beside a bare Starlette + psycopg app, same SQL (bench/README.md); BENCH_ARGS="--rounds 1"
	$(BIN)/python -m bench.catalog_api $(BENCH_ARGS)

bench-export: install ## The CSV export's peak RSS ÷ idle while streaming 200,000 products (bench/README.md)
	$(BIN)/python -m bench.export_rss $(BENCH_ARGS)

bench-telemetry: install ## The edges' cost per request (request id, metrics, access line, headers) against a hello-world (bench/README.md)
	$(BIN)/python -m bench.telemetry_overhead $(BENCH_ARGS)

install: $(VENV)/.installed

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# uv installs exactly the versions in uv.lock; --inexact keeps uv itself in the venv.
$(VENV)/.installed: $(BIN)/uv uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-extras --inexact --compile-bytecode --quiet
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	@touch $@

# npm ci installs exactly what package-lock.json pins (and replaces node_modules, stamp included).
$(JS_DEPS): $(JS)/package.json $(JS)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "error: make test needs Node.js 20+ and npm for the JS client tests in $(JS)" >&2; \
	  echo "       install them (nodejs.org, or distribution packages if they are 20+), then run make test again" >&2; \
	  exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { \
	  echo "error: the JS client tests need Node.js 20 or later; this is $$(node --version)" >&2; exit 1; }
	npm ci --prefix $(JS) --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .testmondata $(JS)/node_modules
