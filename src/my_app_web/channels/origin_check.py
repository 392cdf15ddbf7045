"""Phoenix's `check_origin` for sockets: which web pages may open one (the `CHECK_ORIGIN` setting).

A browser lets a page on any site open a WebSocket to any host, but it says which page asked, in
the `Origin` header. Checking it stops a page on evil.example from using a visitor's credentials
on our socket (cross-site WebSocket hijacking). A refused upgrade is answered with HTTP 403 before
anything is accepted.

`CHECK_ORIGIN` (parsed once, when the endpoint is built):
- unset: `true` in prod, `false` in dev and test;
- `false`: no check;
- `true`: the origin's host must be `APP_HOST` (any scheme, any port, as Phoenix's `true`);
- a comma-separated list of origins, as Phoenix's list: `https://example.com` (that scheme, host
  and port: 443 here), `//example.com` (any scheme and port), `//example.com:8443` (any scheme, that
  port), `//*.example.com` (example.com and any of its subdomains).

A request without an `Origin` header is allowed, as Phoenix does: browsers always send one, so it
comes from another kind of client (the Node `phoenix` client with `ws`, a mobile app), which no
page can drive. An origin that names no host (`null`, from a sandboxed page or a file) is refused.

Examples:
    check = OriginCheck.from_settings(settings)          # None when the check is off
    check.allows("https://example.com")                  # True with APP_HOST=example.com
    check.allows("https://evil.example")                 # False
    OriginCheck.parse("//*.example.com", app_host="x").allows("wss://a.example.com")   # True
    OriginCheck.parse("example.com", app_host="x")       # ConfigError: write //example.com
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import Scope

from my_app.config import ConfigError, Settings

# The port an origin without one means, as Elixir's URI.parse fills it in.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class AllowedOrigin:
    """One allowed origin; None matches any scheme or port, a host `*.example.com` any subdomain."""

    scheme: str | None
    host: str
    port: int | None

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme is not None and scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.host.startswith("*."):
            parent = self.host[2:]
            return host == parent or host.endswith(f".{parent}")
        return host == self.host


class OriginCheck:
    """The origins a socket endpoint accepts (build it with `from_settings` or `parse`)."""

    __slots__ = ("allowed",)

    def __init__(self, allowed: Sequence[AllowedOrigin]) -> None:
        self.allowed = tuple(allowed)

    def __repr__(self) -> str:
        return f"OriginCheck({list(self.allowed)!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginCheck | None:
        """The check `CHECK_ORIGIN` asks for (unset: on in prod, against APP_HOST); None when off."""
        value = settings.check_origin
        if value is None:
            value = "true" if settings.env == "prod" else "false"
        return cls.parse(value, app_host=settings.app_host)

    @classmethod
    def parse(cls, value: str, *, app_host: str | None) -> OriginCheck | None:
        """`false` (None: no check), `true` (APP_HOST) or a comma-separated list of origins."""
        text = value.strip()
        if text.lower() == "false":
            return None
        if text.lower() == "true":
            if not app_host:
                raise ConfigError("CHECK_ORIGIN=true checks against APP_HOST, which is not set")
            return cls([AllowedOrigin(None, app_host.lower(), None)])
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        if not entries:
            raise ConfigError("CHECK_ORIGIN is empty: write false, true, or origins such as https://example.com")
        return cls([_allowed_origin(entry) for entry in entries])

    def allows(self, origin: str) -> bool:
        """Whether a page from `origin` (an Origin header's value) may open a socket."""
        try:
            parts = urlsplit(origin.strip())
            host, port = parts.hostname, parts.port
        except ValueError:  # a port that is not a number, brackets that do not close...
            return False
        if not host:
            return False
        scheme = parts.scheme.lower()
        if port is None:
            port = _DEFAULT_PORTS.get(scheme)
        return any(allowed.matches(scheme, host, port) for allowed in self.allowed)


def origin_of(scope: Scope) -> str | None:
    """The Origin header of the request in `scope` (the first, if several), or None."""
    for name, value in scope.get("headers") or ():
        if name == b"origin":
            return str(value.decode("latin-1"))
    return None


def _allowed_origin(entry: str) -> AllowedOrigin:
    try:
        parts = urlsplit(entry)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigError(f"CHECK_ORIGIN has an invalid origin {entry!r}: {exc}") from exc
    if not host:
        raise ConfigError(
            f"CHECK_ORIGIN has an origin without a host: {entry!r} (write https://example.com or //example.com)"
        )
    return AllowedOrigin(parts.scheme.lower() or None, host, port if port is not None else _default_port(parts.scheme))


def _default_port(scheme: str) -> int | None:
    return _DEFAULT_PORTS.get(scheme.lower()) if scheme else None
