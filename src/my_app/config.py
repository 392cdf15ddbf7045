"""Settings: base values, per-environment values (dev, test, prod) and the runtime environment.

The seed's `config/{config,dev,test,prod,runtime}.exs` in one typed class. `MYAPP_ENV` picks the
environment (default `dev`); environment variables override everything. In prod, the values that
`runtime.exs` requires must come from the environment, and start-up stops with one clear line
naming the variable that is missing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "prod"]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
LogFormat = Literal["console", "json"]
MailerAdapter = Literal["smtp", "api", "local", "test"]
SmtpSecurity = Literal["starttls", "tls", "none"]

# The checkout's root when running from source; `.data/` holds the embedded PostgreSQL cluster.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIN_SECRET_KEY_BYTES = 64

# Phoenix's generated config/dev.exs and test.exs carry a literal secret key base too; prod
# never uses these (a missing SECRET_KEY_BASE stops start-up there).
_DEV_SECRET_KEY_BASE = "dev-only-secret-key-base-" + "d" * 64
_TEST_SECRET_KEY_BASE = "test-only-secret-key-base-" + "t" * 64
# Secrets anyone can read in this repository: a prod server refuses to sign with them (with the
# dev secret, anyone could sign a socket token for any user).
PUBLIC_SECRET_KEY_BASES = frozenset({_DEV_SECRET_KEY_BASE, _TEST_SECRET_KEY_BASE})


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line meant for an operator."""


class Settings(BaseSettings):
    """Every setting of the app, read from the environment (and `.env` when present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Environment = Field(default="dev", validation_alias=AliasChoices("MYAPP_ENV"))

    # --- Repo ---
    database_url: str | None = None
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=5, ge=0)
    database_ssl: SslMode | None = None
    database_connect_timeout: float = Field(default=5.0, gt=0)
    data_dir: Path = PROJECT_ROOT / ".data"

    # --- Endpoint ---
    secret_key_base: str | None = None
    app_host: str | None = None
    bind_host: str = ""  # the address uvicorn listens on (default: loopback, 0.0.0.0 in prod)
    port: int = Field(default=4000, ge=0, le=65535)
    shutdown_timeout: int = Field(default=30, ge=1)  # seconds in-flight requests get on SIGTERM
    web_concurrency: int = Field(default=1, ge=1)  # `myapp server` worker processes (one per core to use them all)
    # With several workers, uvicorn pings each one and kills (and restarts) a worker that has not
    # answered within this many seconds. Its default of 5 s kills workers that are only slow to start
    # on a busy machine (a worker imports the whole app first), again and again.
    worker_healthcheck_timeout: int = Field(default=30, ge=1)
    socket_compress: bool = False  # permessage-deflate on /socket (Phoenix's `compress: false` default)
    gc_threshold: int = Field(default=50_000, ge=0)  # allocations between young collections (0: Python's 700)
    url_scheme: Literal["http", "https"] | None = None
    # Forwarded headers (X-Forwarded-For/-Proto) are believed only from these addresses or networks
    # (comma-separated IPs or CIDRs, e.g. your nginx/Caddy/load balancer); empty: from nobody.
    trusted_proxies: str = ""
    # Host headers answered (comma-separated; `*.example.com` allowed); default: APP_HOST in prod, any elsewhere.
    trusted_hosts: str | None = None
    # WebSocket origins accepted (Phoenix's check_origin): `false`, `true` (APP_HOST), or a comma-separated
    # list of origins (`https://example.com`, `//*.example.com`); default: `true` in prod, `false` elsewhere.
    check_origin: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1)  # larger request bodies are refused with 413
    api_docs: bool | None = None  # /api/docs and /api/openapi.json (default: on, off in prod)

    # --- Health ---
    ready_timeout: float = Field(default=2.0, gt=0)

    # --- Telemetry ---
    log_level: str = "INFO"
    log_format: LogFormat | None = None
    # GET /metrics (Prometheus text) answers an admin's session or `Authorization: Bearer METRICS_TOKEN`;
    # METRICS_PORT also serves it, unauthenticated, on a port of its own (bind it to a private network).
    metrics_token: str | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # OpenTelemetry traces (FastAPI, SQLAlchemy, httpx) go here when set, over OTLP/HTTP; nothing
    # of OpenTelemetry is imported otherwise (my_app.tracing).
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "my_app"
    node_stats_interval: float = Field(default=2.0, gt=0)  # seconds between node stats reports (the dashboard's tick)

    # --- Accounts ---
    bcrypt_rounds: int | None = Field(default=None, ge=4, le=31)  # 12; tests use 4, as Phoenix's test.exs

    rate_limit_login: str = "5/5 minutes"  # failed log-ins, per email and per IP address
    rate_limit_email_requests: str = "5/5 minutes"  # reset-password and magic-link requests, likewise
    rate_limit_registration: str = "10/hour"  # sign-ups per client IP address
    session_cookie: str = "_my_app_key"
    remember_me_cookie: str = "_my_app_web_user_remember_me"

    # --- Optional services ---
    redis_url: str | None = None

    # --- Mailer (Swoosh's adapters) ---
    mailer_adapter: MailerAdapter | None = None  # default: local in dev, test in test, smtp in prod
    mail_from: str | None = None  # default: "MyApp <noreply@APP_HOST>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: SmtpSecurity = "starttls"
    smtp_timeout: float = Field(default=10.0, gt=0)
    mailer_api_url: str | None = None  # a Postmark-shaped send API, e.g. https://api.example/email
    mailer_api_key: str | None = None
    mailer_api_timeout: float = Field(default=10.0, gt=0)

    # --- Jobs (Oban's role, on procrastinate) ---
    job_queues: str = "default:10,emails:5"  # name:concurrency, comma-separated
    jobs_in_server: bool | None = None  # run the job worker inside `myapp server` (default: dev only)
    job_stalled_timeout: int = Field(default=300, ge=1)  # seconds without a worker heartbeat
    job_shutdown_timeout: float = Field(default=30.0, ge=0)  # seconds running jobs get on SIGTERM
    job_pool_size: int = Field(default=4, ge=2)  # the queue's own connections (workers LISTEN on one)
    job_backoff_base: float = Field(default=15.0, ge=0)  # seconds before the first retry, doubling after
    job_backoff_max: float = Field(default=3600.0, ge=0)
    job_prune_after_days: int = Field(default=7, ge=1)
    job_cron_prune: str = "0 3 * * *"
    job_cron_purge_tokens: str = "30 3 * * *"
    job_cron_retry_stalled: str = "* * * * *"

    # --- Cache (the seed's Cachex, on cashews: my_app.cache) ---
    # Where cached reads live: `mem://` (this process only), `redis://...`, or `off`. Default: REDIS_URL
    # when set; else `mem://` where one process serves (dev/test, WEB_CONCURRENCY=1); else off. `mem://`
    # with WEB_CONCURRENCY > 1 is refused: another process could serve a value this one has replaced.
    cache_url: str | None = None
    cache_ttl: float = Field(default=300.0, gt=0)  # seconds a cached read is kept (writes replace it at once)
    cache_timeout: float = Field(default=0.5, gt=0)  # seconds a cache operation may take before reads use the DB

    # --- Catalog pages (issue 11: the public /products pages) ---
    catalog_currency: str = "EUR"  # ISO 4217 code the product prices are shown in
    catalog_page_size: int = Field(default=24, ge=1, le=100)  # products per page of /products

    @model_validator(mode="after")
    def _apply_environment_defaults(self) -> Settings:
        if self.env == "prod":
            self._require("database_url", "DATABASE_URL")
            self._require("secret_key_base", "SECRET_KEY_BASE")
            self._require("app_host", "APP_HOST")
            if self.secret_key_base in PUBLIC_SECRET_KEY_BASES:
                raise ConfigError(
                    "SECRET_KEY_BASE is the public dev/test value and cannot be used in prod "
                    "(generate one with: myapp gen secret)"
                )
            self.database_ssl = self.database_ssl or "verify-full"
            self.log_format = self.log_format or "json"
            self.url_scheme = self.url_scheme or "https"
            # Every interface: in prod the app runs in a container whose port is published.
            self.bind_host = self.bind_host or "0.0.0.0"  # noqa: S104  # nosec B104
            self.mailer_adapter = self.mailer_adapter or "smtp"
            self.trusted_hosts = self.trusted_hosts or self.app_host
            self.api_docs = bool(self.api_docs)
        else:
            default_secret = _DEV_SECRET_KEY_BASE if self.env == "dev" else _TEST_SECRET_KEY_BASE
            self.secret_key_base = self.secret_key_base or default_secret
            self.app_host = self.app_host or "localhost"
            self.log_format = self.log_format or "console"
            self.url_scheme = self.url_scheme or "http"
            self.bind_host = self.bind_host or "127.0.0.1"
            self.mailer_adapter = self.mailer_adapter or ("local" if self.env == "dev" else "test")
            self.trusted_hosts = self.trusted_hosts or "*"
            self.api_docs = True if self.api_docs is None else self.api_docs
        if self.bcrypt_rounds is None:
            self.bcrypt_rounds = 4 if self.env == "test" else 12
        if self.jobs_in_server is None:
            self.jobs_in_server = self.env == "dev"
        self.mail_from = self.mail_from or f"MyApp <noreply@{self.app_host}>"
        if len((self.secret_key_base or "").encode()) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"SECRET_KEY_BASE must be at least {MIN_SECRET_KEY_BYTES} bytes long "
                "(generate one with: myapp gen secret)"
            )
        if (self.cache_url or "").startswith("mem://") and self.web_concurrency > 1:
            raise ConfigError(
                "CACHE_URL=mem:// keeps one cache per process, so with WEB_CONCURRENCY > 1 a worker could serve "
                "a value another has replaced: set REDIS_URL (shared by every worker and node) or CACHE_URL=off"
            )
        _check_trusted_proxies(self.trusted_proxy_list)
        _check_trusted_hosts(self.trusted_host_list)
        return self

    def _require(self, field: str, variable: str) -> None:
        if not getattr(self, field):
            raise ConfigError(f"environment variable {variable} is missing (required in prod)")

    @property
    def embedded_database(self) -> bool:
        """True when dev/test run on the embedded PostgreSQL (no DATABASE_URL given)."""
        return self.database_url is None and self.env != "prod"

    @property
    def database_name(self) -> str:
        """The database this environment uses on the embedded server (Phoenix: my_app_dev)."""
        return f"my_app_{self.env}"

    @property
    def base_url(self) -> str:
        """The public URL that links in emails and pages are built from."""
        default_port = {"http": 80, "https": 443}[self.url_scheme or "http"]
        if self.env == "prod" or self.port == default_port:
            return f"{self.url_scheme}://{self.app_host}"
        return f"{self.url_scheme}://{self.app_host}:{self.port}"

    @property
    def cache_backend_url(self) -> str | None:
        """The cache's cashews URL (None: off); see `cache_url`."""
        if self.cache_url == "off":
            return None
        if self.cache_url:
            return self.cache_url
        if self.redis_url:
            return self.redis_url
        return "mem://" if self.env != "prod" and self.web_concurrency == 1 else None

    @property
    def trusted_proxy_list(self) -> list[str]:
        """TRUSTED_PROXIES as a list of IPs and CIDRs (`["*"]`: every peer); empty: trust no one."""
        return _comma_list(self.trusted_proxies)

    @property
    def trusted_host_list(self) -> list[str]:
        """TRUSTED_HOSTS, lower-cased: host names, `*.example.com` wildcards, or `["*"]` (any host)."""
        return [host.lower() for host in _comma_list(self.trusted_hosts or "*")]


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _check_trusted_proxies(proxies: list[str]) -> None:
    # uvicorn reads an entry that is not an IP or a network (strictly: no host bits set) as a
    # literal name, which no peer address ever equals: refuse it here instead of trusting no one.
    if proxies == ["*"]:
        return
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy) if "/" in proxy else ipaddress.ip_address(proxy)
        except ValueError as exc:
            raise ConfigError(f"environment variable TRUSTED_PROXIES is invalid: {exc}") from None


def _check_trusted_hosts(hosts: list[str]) -> None:
    for host in hosts:
        if host != "*" and (host.count("*") > 1 or ("*" in host and not host.startswith("*."))):
            raise ConfigError(
                f"environment variable TRUSTED_HOSTS is invalid: {host!r} (a wildcard looks like *.example.com)"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    try:
        return Settings()
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError: name the variable, keep it one line
        raise ConfigError(_one_line(exc)) from exc


def _one_line(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        for error in errors():
            if isinstance(error.get("ctx", {}).get("error"), ConfigError):
                return str(error["ctx"]["error"])
            location = ".".join(str(part) for part in error.get("loc", ())) or "settings"
            return f"environment variable {location.upper()} is invalid: {error.get('msg')}"
    return str(exc)
