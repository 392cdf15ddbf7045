"""The container files: Dockerfile, .dockerignore, compose.yaml and the nginx configuration.

No Docker engine runs here, so the image is never built and compose never starts anything. What can
be checked without one is: hadolint lints the Dockerfile, the Compose specification's JSON schema
validates compose.yaml, and nginx parses its configuration (`nginx -t`). The rest is what none of
those tools knows and a reader would be bitten by: every variable compose sets is a setting the app
reads, and together they start it in prod; every command is a `myapp` command; the image's health
check gets 200 from a prod server; a node is given more time to stop than it takes to drain; the
build context holds what the Dockerfile copies and nothing of .venv, .git or .data.

Without hadolint, check-jsonschema or nginx these tests skip with one line; with CI=true they fail.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from my_app.config import Settings
from tests.support.databases import partition_database
from tests.support.processes import MYAPP, PROJECT_ROOT, answers, child_env, free_port, myapp, stop, wait_until
from tests.support.services import require_service

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
COMPOSE_FILE = PROJECT_ROOT / "compose.yaml"
NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx" / "nginx.conf"
PROXY_CONF = PROJECT_ROOT / "deploy" / "nginx" / "proxy.conf"
APP_IMAGE = "my_app:latest"
# What compose's ${VAR:?message} needs to get past; the rest of compose.yaml's variables have defaults.
REQUIRED_VARIABLES = {"SECRET_KEY_BASE": secrets.token_urlsafe(64), "POSTGRES_PASSWORD": "pg-password_1"}
START_TIMEOUT = 120


# --- Reading the files ---


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined and comments left out."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in joined.splitlines()
        if line.strip()
    ]


def dockerfile_cmd() -> list[str]:
    cmds = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "CMD"]
    parsed: list[str] = json.loads(cmds[-1])
    return parsed


def dockerfile_env() -> dict[str, str]:
    """The runtime stage's ENV (the last stage's), `KEY=value` pairs only."""
    instructions = dockerfile_instructions()
    last_from = max(index for index, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    values: dict[str, str] = {}
    for instruction, arguments in instructions[last_from:]:
        if instruction == "ENV":
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def healthcheck_command() -> list[str]:
    checks = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "HEALTHCHECK"]
    assert len(checks) == 1
    exec_form = re.search(r"\bCMD (\[.*\])$", checks[0])
    assert exec_form, "HEALTHCHECK CMD in the exec form: the slim image runs it without a shell"
    parsed: list[str] = json.loads(exec_form.group(1))
    return parsed


def compose_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())  # resolves the << merges
    return loaded


def app_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the app's image (migrate, web1, web2, worker)."""
    return {name: service for name, service in compose["services"].items() if service.get("image") == APP_IMAGE}


def command(service: Mapping[str, Any]) -> list[str]:
    value = service.get("command", dockerfile_cmd())
    assert isinstance(value, list), f"command {value!r}: the exec form (a list) runs without a shell"
    return [str(part) for part in value]


# --- The tools ---


def venv_tool(name: str) -> Path:
    """A tool installed beside this Python (the dev extras); skip, or fail under CI=true, without it."""
    path = Path(sys.executable).parent / name
    require_service(name, path.is_file(), f"{path} is missing (make install installs the dev extras)")
    return path


def nginx_program() -> Path:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    require_service("nginx", found is not None, "install nginx (apt-get install nginx-light, as .ci/run does)")
    return Path(str(found))


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_hadolint_passes_the_dockerfile() -> None:
    result = run(venv_tool("hadolint"), DOCKERFILE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_specification() -> None:
    result = run(venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE)

    assert result.returncode == 0, result.stdout + result.stderr


# --- nginx ---


def nginx_conf_for_test(tmp_path: Path, upstream_ports: list[int]) -> Path:
    """deploy/nginx/nginx.conf as it is, but runnable here: local nodes, paths in `tmp_path`, this proxy.conf.

    Only what ties it to the compose network changes: web1/web2 need not resolve on this machine.
    """
    text = NGINX_CONF.read_text()
    nodes = iter(upstream_ports)
    text = re.sub(
        r"server web\d+:4000( [^;]*)?;", lambda found: f"server 127.0.0.1:{next(nodes)}{found[1] or ''};", text
    )
    text = text.replace("include /etc/nginx/my_app/proxy.conf;", f"include {PROXY_CONF};")
    text = re.sub(r"(?m)^pid .*;$", f"pid {tmp_path / 'nginx.pid'};", text)
    text = re.sub(r"(?m)^error_log .*;$", f"error_log {tmp_path / 'error.log'};", text)
    mime_types = Path("/etc/nginx/mime.types")
    if not mime_types.is_file():
        mime_types = tmp_path / "mime.types"
        mime_types.write_text("types {}\n")
    text = text.replace("include /etc/nginx/mime.types;", f"include {mime_types};")
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp_paths, 1)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    return conf


def location_block(config: str, location: str) -> str:
    """The directives of `location <location> {...}` in nginx -T's output (no nested blocks in proxy.conf)."""
    match = re.search(rf"location {re.escape(location)} \{{(.*?)\}}", config, re.DOTALL)
    assert match, f"no `location {location}` in the configuration nginx loaded"
    return match.group(1)


def test_nginx_accepts_the_load_balancer_configuration(tmp_path: Path) -> None:
    nginx = nginx_program()
    conf = nginx_conf_for_test(tmp_path, [free_port(), free_port()])
    error_log = tmp_path / "error.log"

    checked = run(nginx, "-t", "-p", tmp_path, "-e", error_log, "-c", conf)
    dumped = run(nginx, "-T", "-p", tmp_path, "-e", error_log, "-c", conf)

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    config = dumped.stdout
    socket = location_block(config, "= /socket/websocket")
    assert "proxy_pass http://my_app;" in socket
    assert "proxy_http_version 1.1;" in socket
    assert "proxy_set_header Upgrade $http_upgrade;" in socket
    assert 'proxy_set_header Connection "upgrade";' in socket
    pages = location_block(config, "/")
    assert "proxy_pass http://my_app;" in pages
    assert "proxy_buffering off;" in pages  # live pages' SSE
    assert "proxy_next_upstream error timeout;" in pages  # a refusing node is skipped
    assert 'proxy_set_header Connection "close";' in pages  # no keep-alive to a draining node


def upstream_nodes() -> list[tuple[str, int]]:
    block = re.search(r"upstream my_app \{(.*?)\}", NGINX_CONF.read_text(), re.DOTALL)
    assert block, "deploy/nginx/nginx.conf defines no `upstream my_app`"
    return [(host, int(port)) for host, port in re.findall(r"server ([\w.-]+):(\d+)[ ;]", block.group(1))]


def test_nginx_skips_a_refusing_node_only_for_as_long_as_a_restart_needs() -> None:
    """nginx's 10 s default would still skip a restarted node while a rolling restart stops the next."""
    block = re.search(r"upstream my_app \{(.*?)\}", NGINX_CONF.read_text(), re.DOTALL)
    assert block
    servers = re.findall(r"^\s*server (.*);$", block.group(1), re.MULTILINE)
    assert servers
    for server in servers:
        assert "fail_timeout=2s" in server, server


def test_nginx_sends_to_every_web_node_of_compose_on_the_image_port() -> None:
    compose = compose_file()
    image_port = int(dockerfile_env()["PORT"])
    web_nodes = sorted(
        name for name, service in app_services(compose).items() if command(service) == ["myapp", "server"]
    )

    assert web_nodes == ["web1", "web2"]
    assert upstream_nodes() == [(name, image_port) for name in web_nodes]


def test_the_load_balancer_mounts_the_nginx_files_and_is_the_only_published_port() -> None:
    services = compose_file()["services"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in services["lb"]["volumes"]}

    assert mounts == {
        "/etc/nginx/nginx.conf": "./deploy/nginx/nginx.conf",
        "/etc/nginx/my_app/proxy.conf": "./deploy/nginx/proxy.conf",
    }
    assert all(volume.endswith(":ro") for volume in services["lb"]["volumes"])
    assert "include /etc/nginx/my_app/proxy.conf;" in NGINX_CONF.read_text()
    assert services["lb"]["ports"] == ["8080:80"]
    assert [name for name, service in services.items() if "ports" in service] == ["lb"]


# --- compose.yaml against the app ---


def setting_variables() -> set[str]:
    """The environment variables Settings reads: each field's name, or its alias (MYAPP_ENV)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(str(alias or name).upper())
    return names


_VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?)((?:[^{}]|\{[^{}]*\})*))?\}")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` (nested too) and `${VAR:?message}`, for this file's values."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, operand = match.group(1), match.group(2), match.group(3) or ""
        if variables.get(name):
            return variables[name]
        if operator == ":?":
            raise LookupError(f"required variable {name} is missing a value: {operand}")
        return interpolate(operand, variables) if operator == ":-" else ""

    return _VARIABLE.sub(substitute, value)


def app_environment(service: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
    """A service's environment as compose would hand it to the container, given the shell's `variables`."""
    return {name: interpolate(str(value), variables) for name, value in service["environment"].items()}


def test_compose_sets_only_variables_the_app_reads() -> None:
    known = setting_variables()

    for name, service in app_services(compose_file()).items():
        unknown = sorted(set(service["environment"]) - known)
        assert unknown == [], f"{name} sets {unknown}, which are not settings (src/my_app/config.py)"


def settings_from(environment: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a container with exactly `environment` reads them (this run's own variables removed)."""
    for name in setting_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_compose_environment_starts_the_app_in_prod_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    web1 = app_services(compose_file())["web1"]

    settings = settings_from(app_environment(web1, REQUIRED_VARIABLES), monkeypatch)

    assert settings.env == "prod"
    assert settings.database_url == f"postgresql://my_app:{REQUIRED_VARIABLES['POSTGRES_PASSWORD']}@db:5432/my_app"
    assert settings.database_ssl == "disable"
    assert settings.app_host == "localhost"
    assert "localhost" in settings.trusted_host_list  # the image's health check and the local browser
    assert settings.jobs_in_server is False
    assert not settings.redis_url  # PubSub on PostgreSQL
    assert settings.cache_backend_url is None  # no per-node cache with two nodes


def test_compose_environment_with_redis_shares_pubsub_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    web1 = app_services(compose_file())["web1"]
    variables = {**REQUIRED_VARIABLES, "REDIS_URL": "redis://redis:6379/0", "APP_HOST": "shop.example.com"}

    settings = settings_from(app_environment(web1, variables), monkeypatch)

    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.cache_backend_url == "redis://redis:6379/0"
    assert settings.app_host == "shop.example.com"
    assert settings.trusted_host_list == ["shop.example.com", "localhost"]


@pytest.mark.parametrize("missing", sorted(REQUIRED_VARIABLES))
def test_compose_refuses_to_start_without_a_required_secret(missing: str) -> None:
    web1 = app_services(compose_file())["web1"]
    variables = {name: value for name, value in REQUIRED_VARIABLES.items() if name != missing}

    with pytest.raises(LookupError, match=f"{missing} .*myapp gen secret"):
        app_environment(web1, variables)


def test_trusted_proxies_is_the_compose_network() -> None:
    compose = compose_file()
    subnets = [pool["subnet"] for pool in compose["networks"]["backend"]["ipam"]["config"]]

    for name, service in app_services(compose).items():
        assert [service["environment"]["TRUSTED_PROXIES"]] == subnets, name
    assert compose["services"]["lb"]["networks"] == ["backend"]


def test_web_nodes_keep_their_address_inside_the_subnet() -> None:
    # nginx resolves web1 and web2 once; a recreated node must come back on the same address.
    compose = compose_file()
    subnet = ipaddress.ip_network(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"])

    addresses = [
        ipaddress.ip_address(compose["services"][node]["networks"]["backend"]["ipv4_address"])
        for node in ("web1", "web2")
    ]

    assert len(set(addresses)) == 2
    assert all(address in subnet for address in addresses)


def seconds(duration: str) -> float:
    """A compose duration (`45s`, `1m30s`) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_every_app_container_gets_longer_to_stop_than_it_takes_to_drain() -> None:
    fields = Settings.model_fields
    for name, service in app_services(compose_file()).items():
        environment = service["environment"]
        shutdown = float(environment.get("SHUTDOWN_TIMEOUT", fields["shutdown_timeout"].default))
        jobs = float(environment.get("JOB_SHUTDOWN_TIMEOUT", fields["job_shutdown_timeout"].default))

        grace = seconds(service["stop_grace_period"])

        assert grace > max(shutdown, jobs, fields["shutdown_timeout"].default), name


def test_migrations_run_before_any_node_starts() -> None:
    services = app_services(compose_file())

    assert command(services["migrate"]) == ["myapp", "db", "migrate"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web1", "web2", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def every_command() -> list[list[str]]:
    """The image's CMD and each app service's command, once each."""
    found = [dockerfile_cmd()] + [command(service) for service in app_services(compose_file()).values()]
    return [list(args) for args in sorted({tuple(args) for args in found})]


@pytest.mark.parametrize("args", every_command(), ids=" ".join)
def test_image_and_compose_commands_are_myapp_commands(args: list[str]) -> None:
    assert args[0] == "myapp"

    result = myapp(*args[1:], "--help")

    assert result.returncode == 0, result.stdout + result.stderr


# --- Dockerfile ---


def test_the_image_runs_the_prod_server_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    environment = dockerfile_env()

    assert dockerfile_cmd() == ["myapp", "server"]
    assert [arguments for instruction, arguments in instructions if instruction == "USER"] == ["10001:10001"]
    assert environment["MYAPP_ENV"] == "prod"
    assert environment["BIND_HOST"] == "0.0.0.0"
    assert [arguments for instruction, arguments in instructions if instruction == "EXPOSE"] == [environment["PORT"]]
    assert ("STOPSIGNAL", "SIGTERM") in instructions
    assert "/health" in healthcheck_command()[-1]


@pytest.fixture
def prod_env() -> Iterator[dict[str, str | None]]:
    """The environment of a prod container, on a migrated database of its own (this run's variables left out)."""
    with partition_database() as (_partition, own):
        yield {
            "MYAPP_ENV": "prod",
            "MYAPP_TEST_PARTITION": None,
            "DATABASE_URL": own.url,
            "DATABASE_SSL": "disable",
            "SECRET_KEY_BASE": secrets.token_urlsafe(64),
            "APP_HOST": "shop.example.com",
            "TRUSTED_HOSTS": None,
            "REDIS_URL": None,
            "CACHE_URL": None,
            "METRICS_PORT": None,
            "BIND_HOST": "127.0.0.1",
        }


def start_prod(args: list[str], env: dict[str, str | None], log: Path) -> subprocess.Popen[str]:
    """Start `myapp ARGS` with output to `log` (a pipe nobody reads could fill up and block it)."""
    with log.open("w") as output:
        return subprocess.Popen(
            [str(MYAPP), *args],
            cwd=PROJECT_ROOT,
            env=child_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )


def run_check(check: list[str], environment: Mapping[str, str | None]) -> int:
    """A health check's exec form, `python -c ...`, run by this Python (the image's is first on its PATH)."""
    python, *args = check
    assert python == "python"
    result = subprocess.run(
        [sys.executable, *args], env=child_env(environment), capture_output=True, timeout=30, check=False
    )
    return result.returncode


@pytest.mark.integration
def test_the_image_healthcheck_passes_only_with_a_trusted_host_and_a_live_server(
    prod_env: dict[str, str | None], tmp_path: Path
) -> None:
    env = {**prod_env, "PORT": str(free_port())}
    server = start_prod(["server"], env, tmp_path / "server.log")
    try:
        wait_until(
            lambda: (
                server.poll() is None and answers(f"http://127.0.0.1:{env['PORT']}/health", host="shop.example.com")
            ),
            timeout=START_TIMEOUT,
            message=f"the prod server never answered /health:\n{(tmp_path / 'server.log').read_text()}",
        )

        assert run_check(healthcheck_command(), env) == 0
        # A Host outside TRUSTED_HOSTS gets 400 (httpx's 127.0.0.1 too): the check must send one the app answers.
        assert run_check(healthcheck_command(), {**env, "APP_HOST": "elsewhere.example.com"}) != 0
        assert not answers(f"http://127.0.0.1:{env['PORT']}/health")
        assert run_check(healthcheck_command(), {**env, "PORT": str(free_port())}) != 0
    finally:
        stop(server)


@pytest.mark.integration
def test_the_worker_healthcheck_asks_its_metrics_port(prod_env: dict[str, str | None], tmp_path: Path) -> None:
    worker_service = app_services(compose_file())["worker"]
    check = worker_service["healthcheck"]["test"]
    assert check[0] == "CMD"
    assert "METRICS_PORT" in worker_service["environment"]
    env = {**prod_env, "METRICS_PORT": str(free_port())}
    worker = start_prod(["worker"], env, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: worker.poll() is None and answers(f"http://127.0.0.1:{env['METRICS_PORT']}/health"),
            timeout=START_TIMEOUT,
            message=f"the prod worker never answered on METRICS_PORT:\n{(tmp_path / 'worker.log').read_text()}",
        )

        assert run_check(check[1:], env) == 0
        assert run_check(check[1:], {**env, "METRICS_PORT": str(free_port())}) != 0
    finally:
        stop(worker)


# --- The build context ---


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception `!`, pattern) for each rule of .dockerignore, in order: the last match decides."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        rules.append((exception, re.compile(glob_regex(line.lstrip("!").strip("/")))))
    return rules


def glob_regex(pattern: str) -> str:
    """Docker's .dockerignore glob as a regex: `*` within a name, `**` across directories, `?`, `[...]`."""
    regex, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            regex, index = regex + "[" + pattern[index + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return f"^{regex}$"


def sent_to_the_builder(path: str) -> bool:
    """Whether Docker puts `path` (relative to the checkout) in the build context, by .dockerignore's rules.

    A rule that matches a directory also matches everything under it.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    excluded = False
    for exception, rule in dockerignore_patterns():
        if any(rule.match(candidate) for candidate in candidates):
            excluded = not exception
    return not excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".data/postgres/PG_VERSION",
        ".git/HEAD",
        ".env",
        "dist/my_app-0.1.0-py3-none-any.whl",
        "tests/js/node_modules/phoenix/package.json",
        "node_modules/x/index.js",
        "screenshots/page.png",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/my_app/config.data.json",
        ".ruff_cache/CACHEDIR.TAG",
        "src/my_app/__pycache__/config.cpython-311.pyc",
        "src/my_app_web/priv/static/cache_manifest.json",
        "tests/conftest.py",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert not sent_to_the_builder(path)


@pytest.mark.parametrize("path", ["pyproject.toml", "uv.lock", "README.md", "src/my_app/config.py"])
def test_the_build_context_holds(path: str) -> None:
    assert sent_to_the_builder(path)


def copied_sources() -> list[str]:
    """The sources of the Dockerfile's COPY instructions from the build context (not --from another stage)."""
    sources: list[str] = []
    for instruction, arguments in dockerfile_instructions():
        words = arguments.split()
        if instruction in {"COPY", "ADD"} and not any(word.startswith("--from=") for word in words):
            sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


def test_the_dockerfile_copies_only_what_the_checkout_has_and_the_context_sends() -> None:
    sources = copied_sources()

    assert sorted(sources) == ["README.md", "pyproject.toml", "src/", "uv.lock"]
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), source
        assert sent_to_the_builder(source.rstrip("/")), source
