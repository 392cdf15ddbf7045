from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from my_app.config import PUBLIC_SECRET_KEY_BASES, ConfigError, Settings, get_settings
from tests.support.processes import myapp, output_lines

PROD_ENV = {
    "MYAPP_ENV": "prod",
    "DATABASE_URL": "postgresql://app:secret@db.internal:5432/my_app",
    "SECRET_KEY_BASE": "s" * 64,
    "APP_HOST": "example.com",
}


def settings_from_env() -> Settings:
    # `.env` is a developer's own file: these tests read the environment only.
    return Settings(_env_file=None)  # type: ignore[call-arg]


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def fresh_settings_cache() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- prod: runtime.exs ---


@pytest.mark.parametrize("variable", ["DATABASE_URL", "SECRET_KEY_BASE", "APP_HOST"])
def test_prod_without_a_required_variable_stops_with_one_line_naming_it(
    clean_env: pytest.MonkeyPatch, variable: str
) -> None:
    set_env(clean_env, PROD_ENV)
    clean_env.delenv(variable)

    with pytest.raises(ConfigError) as raised:
        settings_from_env()

    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


def test_prod_with_every_required_variable_starts(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, PROD_ENV)

    settings = settings_from_env()

    assert settings.env == "prod"
    assert settings.database_url == PROD_ENV["DATABASE_URL"]
    assert settings.app_host == "example.com"
    assert settings.embedded_database is False
    assert settings.base_url == "https://example.com"
    assert settings.bind_host == "0.0.0.0"
    assert settings.log_format == "json"


def test_an_empty_required_variable_counts_as_missing(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, {**PROD_ENV, "APP_HOST": ""})

    with pytest.raises(ConfigError, match="APP_HOST"):
        settings_from_env()


@pytest.mark.parametrize("env", ["prod", "dev", "test"])
def test_a_secret_key_base_shorter_than_64_bytes_is_refused(clean_env: pytest.MonkeyPatch, env: str) -> None:
    set_env(clean_env, {**PROD_ENV, "MYAPP_ENV": env, "SECRET_KEY_BASE": "s" * 63})

    with pytest.raises(ConfigError) as raised:
        settings_from_env()

    assert "SECRET_KEY_BASE" in str(raised.value)
    assert "64" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_secret_key_base_length_is_counted_in_bytes(clean_env: pytest.MonkeyPatch) -> None:
    # 32 two-byte characters are 64 bytes: enough. 31 of them plus one ASCII letter are 63: too short.
    set_env(clean_env, {**PROD_ENV, "SECRET_KEY_BASE": "é" * 32})
    assert settings_from_env().secret_key_base == "é" * 32

    clean_env.setenv("SECRET_KEY_BASE", "é" * 31 + "a")
    with pytest.raises(ConfigError, match="SECRET_KEY_BASE"):
        settings_from_env()


@pytest.mark.parametrize("env", ["dev", "test"])
def test_prod_refuses_the_public_dev_and_test_secret_key_base(clean_env: pytest.MonkeyPatch, env: str) -> None:
    public = Settings(_env_file=None, env=env).secret_key_base  # type: ignore[call-arg]
    assert public in PUBLIC_SECRET_KEY_BASES
    set_env(clean_env, {**PROD_ENV, "SECRET_KEY_BASE": public or ""})

    with pytest.raises(ConfigError) as raised:
        settings_from_env()

    message = str(raised.value)
    assert "SECRET_KEY_BASE" in message
    assert "myapp gen secret" in message
    assert "\n" not in message


def test_dev_and_test_run_on_their_public_secret_key_base(clean_env: pytest.MonkeyPatch) -> None:
    for env in ["dev", "test"]:
        clean_env.setenv("MYAPP_ENV", env)
        assert settings_from_env().secret_key_base in PUBLIC_SECRET_KEY_BASES


# --- the edges: TRUSTED_PROXIES, TRUSTED_HOSTS, API_DOCS ---


def test_no_proxy_is_trusted_by_default(clean_env: pytest.MonkeyPatch) -> None:
    assert settings_from_env().trusted_proxy_list == []
    set_env(clean_env, PROD_ENV)
    assert settings_from_env().trusted_proxy_list == []


def test_trusted_proxies_are_ips_and_networks(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,")

    assert settings_from_env().trusted_proxy_list == ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]


@pytest.mark.parametrize("value", ["nginx", "10.0.0.1/8", "10.0.0.0/8,1.2.3", "*, 10.0.0.1"])
def test_a_trusted_proxy_that_is_no_ip_or_network_is_refused(clean_env: pytest.MonkeyPatch, value: str) -> None:
    # uvicorn would take it for a name no peer ever has, and silently trust no one.
    clean_env.setenv("TRUSTED_PROXIES", value)

    with pytest.raises(ConfigError) as raised:
        settings_from_env()

    assert "TRUSTED_PROXIES" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_trusted_hosts_default_to_app_host_in_prod_and_any_host_elsewhere(clean_env: pytest.MonkeyPatch) -> None:
    assert settings_from_env().trusted_host_list == ["*"]
    set_env(clean_env, PROD_ENV)
    assert settings_from_env().trusted_host_list == ["example.com"]


def test_trusted_hosts_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, {**PROD_ENV, "TRUSTED_HOSTS": "Example.com, *.example.com,localhost"})

    assert settings_from_env().trusted_host_list == ["example.com", "*.example.com", "localhost"]


@pytest.mark.parametrize("value", ["*example.com", "api.*.example.com", "*.*.example.com", "example.*"])
def test_a_malformed_host_wildcard_is_refused(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("TRUSTED_HOSTS", value)

    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        settings_from_env()


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [("dev", None, True), ("test", None, True), ("prod", None, False), ("prod", "true", True), ("dev", "false", False)],
)
def test_api_docs_are_off_in_prod_unless_asked_for(
    clean_env: pytest.MonkeyPatch, env: str, value: str | None, expected: bool
) -> None:
    set_env(clean_env, {**PROD_ENV, "MYAPP_ENV": env})
    if value is not None:
        clean_env.setenv("API_DOCS", value)

    assert settings_from_env().api_docs is expected


def test_database_ssl_verifies_the_server_certificate_by_default_in_prod(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, PROD_ENV)

    assert settings_from_env().database_ssl == "verify-full"


def test_database_ssl_can_be_relaxed_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, {**PROD_ENV, "DATABASE_SSL": "require"})

    assert settings_from_env().database_ssl == "require"


def test_an_unknown_database_ssl_mode_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, {**PROD_ENV, "DATABASE_SSL": "verify_none"})

    with pytest.raises(ValueError, match="database_ssl"):
        settings_from_env()


# --- runtime values ---


def test_port_and_pool_size_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, {"PORT": "4321", "POOL_SIZE": "3"})

    settings = settings_from_env()

    assert settings.port == 4321
    assert settings.pool_size == 3
    assert settings.base_url == "http://localhost:4321"


@pytest.mark.parametrize(("variable", "value"), [("PORT", "not-a-port"), ("PORT", "70000"), ("POOL_SIZE", "0")])
def test_an_invalid_runtime_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, fresh_settings_cache: None, tmp_path: Path, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    clean_env.chdir(tmp_path)  # no `.env` here: the environment is the only source

    with pytest.raises(ConfigError) as raised:
        get_settings()

    assert variable in str(raised.value)
    assert "\n" not in str(raised.value)


# --- per-environment defaults ---


def test_dev_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = settings_from_env()

    assert settings.env == "dev"
    assert settings.port == 4000
    assert settings.pool_size == 10
    assert settings.database_url is None
    assert settings.embedded_database is True
    assert settings.database_name == "my_app_dev"
    assert settings.database_ssl is None  # the embedded server listens on a local socket
    assert settings.redis_url is None
    assert settings.app_host == "localhost"
    assert settings.bind_host == "127.0.0.1"  # dev never listens beyond this machine
    assert settings.base_url == "http://localhost:4000"
    assert len((settings.secret_key_base or "").encode()) >= 64


def test_the_test_environment_uses_its_own_database_and_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MYAPP_ENV", "test")

    settings = settings_from_env()
    dev = Settings(_env_file=None, env="dev")  # type: ignore[call-arg]

    assert settings.database_name == "my_app_test"
    assert settings.embedded_database is True
    assert settings.secret_key_base != dev.secret_key_base


def test_an_unknown_environment_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MYAPP_ENV", "staging")

    with pytest.raises(ValueError, match="MYAPP_ENV"):
        settings_from_env()


# --- the CLI: start-up stops with one clear line ---


@pytest.mark.parametrize("variable", ["DATABASE_URL", "SECRET_KEY_BASE", "APP_HOST"])
def test_myapp_in_prod_without_a_required_variable_prints_one_line_and_exits_non_zero(variable: str) -> None:
    env: dict[str, str | None] = {**PROD_ENV, variable: None, "MYAPP_EMBEDDED_POSTGRES_URL": None}

    result = myapp("routes", env=env)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = output_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert lines[0].startswith("error:")


def test_myapp_with_an_invalid_port_prints_one_line_and_exits_non_zero() -> None:
    result = myapp("routes", env={"MYAPP_ENV": "test", "PORT": "not-a-port"})

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = output_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "PORT" in lines[0]
