"""Email delivery through the adapter the settings pick (Swoosh's Mailer and its adapters).

`deliver(email)` sends one `Email` with the adapter named by `MAILER_ADAPTER`:

- `smtp`: any SMTP server, over STARTTLS, implicit TLS or plain TCP (aiosmtplib);
- `api`: a Postmark-shaped HTTP send API (httpx);
- `local`: dev; kept in memory and shown at `/dev/mailbox`;
- `test`: kept in a list that tests read with `test_adapter.sent()`.

A failed delivery raises `DeliveryError`; nothing retries here, the job that called us does.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import aiosmtplib

from my_app.config import ConfigError, Settings, SmtpSecurity, get_settings
from my_app.running import Slot

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

LOCAL_MAILBOX_LIMIT = 200

# Set by the mailer itself; a caller's `headers` may not repeat them.
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "reply-to",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class Email:
    """One message: who it goes to, its subject, and a text body with an optional HTML body.

    `from_` left as None means the app's sender (`MAIL_FROM`), filled in by `deliver`.
    A single address may be given as a string. Line breaks in any header are refused,
    so user input in a subject can never add a header (a `Bcc:`, say).

    Examples:
        >>> Email(to="ada@example.com", subject="Hi", text_body="Hello").to
        ('ada@example.com',)
        >>> Email(to=[], subject="Hi", text_body="Hello")
        Traceback (most recent call last):
        ValueError: an email needs at least one recipient
    """

    to: Sequence[str]
    subject: str
    text_body: str
    html_body: str | None = None
    from_: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        to = (self.to,) if isinstance(self.to, str) else tuple(self.to)
        if not to:
            raise ValueError("an email needs at least one recipient")
        object.__setattr__(self, "to", to)
        object.__setattr__(self, "headers", dict(self.headers))
        for name, value in [
            ("to", ", ".join(to)),
            ("subject", self.subject),
            ("from", self.from_ or ""),
            ("reply-to", self.reply_to or ""),
            *self.headers.items(),
        ]:
            if _has_line_break(name) or _has_line_break(value):
                raise ValueError(f"the {name} header may not contain a line break")
        for name in self.headers:
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"the {name} header is set by the mailer; use the Email field instead")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What an adapter reports after a delivery: which adapter, the message id, the email as sent."""

    adapter: str
    message_id: str
    email: Email


class DeliveryError(Exception):
    """The message could not be delivered; `reason` says why, `permanent` that retrying won't help.

    Examples:
        >>> str(DeliveryError("connection refused", adapter="smtp"))
        'smtp delivery failed: connection refused'
    """

    def __init__(self, reason: str, *, adapter: str, status: int | None = None, permanent: bool = False) -> None:
        self.reason = reason
        self.adapter = adapter
        self.status = status
        self.permanent = permanent
        super().__init__(f"{adapter} delivery failed: {reason}")

    def __repr__(self) -> str:
        return (
            f"DeliveryError(reason={self.reason!r}, adapter={self.adapter!r}, "
            f"status={self.status!r}, permanent={self.permanent!r})"
        )


class Adapter(Protocol):
    """Anything that can deliver an email (Swoosh.Adapter)."""

    @property
    def name(self) -> str: ...

    async def deliver(self, email: Email) -> DeliveryResult: ...


# --- SMTP ---


@dataclass(frozen=True, slots=True)
class SmtpAdapter:
    """Delivers over SMTP with aiosmtplib: one connection per message, certificates verified.

    `security` is `starttls` (upgrade a plain connection; refuse a server that can't),
    `tls` (TLS from the first byte, usually port 465) or `none` (plain text, for local relays).
    """

    host: str
    port: int
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    # Our name in EHLO and in Message-IDs; given, so no slow reverse DNS lookup happens.
    local_hostname: str = "localhost"
    name: ClassVar[str] = "smtp"

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpAdapter:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
            local_hostname=settings.app_host or "localhost",
        )

    async def deliver(self, email: Email) -> DeliveryResult:
        message = to_mime(email, message_id_domain=self.local_hostname)
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(_sender(email))[1] or None,
                recipients=[parseaddr(address)[1] or address for address in email.to],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            reasons = "; ".join(f"{refusal.recipient}: {refusal.code} {refusal.message}" for refusal in exc.recipients)
            raise DeliveryError(
                f"every recipient was refused ({reasons})",
                adapter=self.name,
                status=codes[0] if codes else None,
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"{exc.code} {exc.message}", adapter=self.name, status=exc.code, permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, TLS failures: the server may be back on the next try.
            # A non-ASCII address the server cannot take (no SMTPUTF8) will be refused every time.
            permanent = isinstance(exc, aiosmtplib.SMTPNotSupported)
            raise DeliveryError(f"{type(exc).__name__}: {exc}", adapter=self.name, permanent=permanent) from exc
        if refused:
            # The message went to the other recipients; retrying would send it to them twice.
            logger.warning("SMTP server refused %d of %d recipients", len(refused), len(email.to))
        return DeliveryResult(adapter=self.name, message_id=str(message["Message-ID"]), email=email)


def to_mime(email: Email, *, message_id_domain: str = "localhost") -> EmailMessage:
    """The email as a MIME message: text/plain, plus text/html in a multipart/alternative when given."""
    message = EmailMessage()
    message["From"] = _sender(email)
    message["To"] = ", ".join(email.to)
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text_body)
    if email.html_body is not None:
        message.add_alternative(email.html_body, subtype="html")
    return message


# --- HTTP API ---


@dataclass(frozen=True, slots=True)
class ApiAdapter:
    """Delivers through a Postmark-shaped send API: one POST per message, no retry of its own.

    `client` lets a long-lived caller share connections; without one, each delivery opens its own.
    """

    url: str
    api_key: str = field(repr=False)
    timeout: float = 10.0
    client: httpx.AsyncClient | None = None
    name: ClassVar[str] = "api"

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiAdapter:
        if not settings.mailer_api_url:
            raise ConfigError("environment variable MAILER_API_URL is missing (required when MAILER_ADAPTER=api)")
        if not settings.mailer_api_key:
            raise ConfigError("environment variable MAILER_API_KEY is missing (required when MAILER_ADAPTER=api)")
        return cls(url=settings.mailer_api_url, api_key=settings.mailer_api_key, timeout=settings.mailer_api_timeout)

    async def deliver(self, email: Email) -> DeliveryResult:
        # Imported here, by the one adapter that uses it: httpx is ~150 ms of a server's start-up
        # (prod sends over SMTP by default).
        import httpx

        headers = {"X-Postmark-Server-Token": self.api_key, "Accept": "application/json"}
        try:
            if self.client is None:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, json=api_payload(email), headers=headers)
            else:
                response = await self.client.post(
                    self.url, json=api_payload(email), headers=headers, timeout=self.timeout
                )
        except httpx.TimeoutException as exc:
            # httpx's timeouts carry no message of their own.
            reason = f"{type(exc).__name__}: no answer within {self.timeout} s"
            raise DeliveryError(reason, adapter=self.name) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", adapter=self.name) from exc
        body = _json_object(response)
        if not response.is_success:
            detail = body.get("Message") or response.reason_phrase
            raise DeliveryError(
                f"HTTP {response.status_code}: {detail}",
                adapter=self.name,
                status=response.status_code,
                # A refused request stays refused; a timeout, a throttle or a 5xx may pass later.
                permanent=response.is_client_error and response.status_code not in (408, 429),
            )
        return DeliveryResult(adapter=self.name, message_id=str(body.get("MessageID", "")), email=email)


def api_payload(email: Email) -> dict[str, Any]:
    """The JSON body of Postmark's `POST /email` for this email."""
    payload: dict[str, Any] = {
        "From": _sender(email),
        "To": ", ".join(email.to),
        "Subject": email.subject,
        "TextBody": email.text_body,
        "MessageStream": "outbound",
    }
    if email.html_body is not None:
        payload["HtmlBody"] = email.html_body
    if email.reply_to:
        payload["ReplyTo"] = email.reply_to
    if email.headers:
        payload["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers.items()]
    return payload


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- Local (dev) ---


@dataclass(frozen=True, slots=True)
class StoredEmail:
    """A message kept by the local adapter, as the dev mailbox shows it."""

    id: str
    sent_at: datetime
    email: Email


class Mailbox:
    """The last `limit` messages delivered in this process, newest first (Swoosh's memory storage).

    Per process: with several server workers, or jobs in a separate `myapp worker`, each keeps its own.
    """

    def __init__(self, limit: int = LOCAL_MAILBOX_LIMIT) -> None:
        self._messages: deque[StoredEmail] = deque(maxlen=limit)

    def add(self, email: Email) -> StoredEmail:
        """Keep a message; the oldest one goes when the mailbox is full."""
        stored = StoredEmail(id=secrets.token_urlsafe(12), sent_at=datetime.now(UTC), email=email)
        self._messages.appendleft(stored)
        return stored

    def messages(self) -> list[StoredEmail]:
        """Every kept message, newest first."""
        return list(self._messages)

    def get(self, message_id: str) -> StoredEmail | None:
        """The message with this id, or None when it is unknown or was pushed out."""
        return next((stored for stored in self._messages if stored.id == message_id), None)

    def clear(self) -> None:
        """Forget every message."""
        self._messages.clear()


local_mailbox = Mailbox()


@dataclass(frozen=True, slots=True)
class LocalAdapter:
    """Keeps messages in a mailbox instead of sending them (dev; Swoosh.Adapters.Local)."""

    mailbox: Mailbox = field(default_factory=lambda: local_mailbox)
    name: ClassVar[str] = "local"

    async def deliver(self, email: Email) -> DeliveryResult:
        stored = self.mailbox.add(email)
        return DeliveryResult(adapter=self.name, message_id=stored.id, email=email)


# --- Test ---


class TestAdapter:
    """Collects messages for assertions (Swoosh.Adapters.Test); read them with `sent()`."""

    __test__ = False  # not a pytest test class, despite the name
    name: ClassVar[str] = "test"

    def __init__(self) -> None:
        self._sent: list[Email] = []

    async def deliver(self, email: Email) -> DeliveryResult:
        self._sent.append(email)
        return DeliveryResult(adapter=self.name, message_id=f"test-{len(self._sent)}", email=email)

    def sent(self) -> list[Email]:
        """Every message delivered since the last `clear()`, oldest first."""
        return list(self._sent)

    def clear(self) -> None:
        """Forget every message (call it at the start of a test)."""
        self._sent.clear()


test_adapter = TestAdapter()


# --- Delivery ---

# The running app's settings (its adapter, sender and servers), put here by the Application as it
# starts (`my_app.running`), like Swoosh's application config; None: `get_settings()`.
running: Slot[Settings | None] = Slot("mailer", None)


def adapter_for(settings: Settings) -> Adapter:
    """The adapter `MAILER_ADAPTER` names, built from the settings."""
    match settings.mailer_adapter:
        case "smtp":
            return SmtpAdapter.from_settings(settings)
        case "api":
            return ApiAdapter.from_settings(settings)
        case "local":
            return LocalAdapter()
        case "test":
            return test_adapter
        case _:
            raise ConfigError(f"environment variable MAILER_ADAPTER is invalid: {settings.mailer_adapter!r}")


async def deliver(email: Email, *, settings: Settings | None = None, adapter: Adapter | None = None) -> DeliveryResult:
    """Send an email with the configured adapter; the sender defaults to `MAIL_FROM`.

    Raises `DeliveryError` when the server or API refuses it or cannot be reached.

    Examples:
        >>> result = await deliver(welcome_email(user))
        >>> result.adapter, result.email.from_
        ('smtp', 'MyApp <noreply@example.com>')
        >>> await deliver(email)  # SMTP server down
        Traceback (most recent call last):
        DeliveryError: smtp delivery failed: SMTPConnectError: ...
    """
    settings = settings or running.value or get_settings()
    if email.from_ is None:
        email = replace(email, from_=settings.mail_from)
    adapter = adapter or adapter_for(settings)
    result = await adapter.deliver(email)
    logger.info("email %s delivered by the %s adapter", result.message_id, result.adapter)
    return result


def _sender(email: Email) -> str:
    if email.from_ is None:
        # Only an adapter called directly meets this: `deliver` fills in MAIL_FROM.
        raise ValueError("the email has no sender; deliver it with mailer.deliver, or set from_")
    return email.from_


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value
