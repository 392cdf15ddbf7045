"""The mailer against real servers: an aiosmtpd SMTP server and a local HTTP send API on free ports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from my_app import mailer
from my_app.config import ConfigError, Settings
from my_app.mailer import DeliveryError, Email

# --- A real SMTP server (aiosmtpd, in its own thread) ---
from tests.support.smtp import (
    Certificates,
    FreePortController,
    Inbox,
    closed_port_fixture,  # noqa: F401 - fixture
    issue_certificates,
    server_tls_context,
)


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    logins: list[tuple[str, str]]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    controller = FreePortController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SmtpServer(controller.port, inbox, logins=[])
    finally:
        controller.stop()


@pytest.fixture
def auth_smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server that requires AUTH (over plain TCP, which only a test should allow)."""
    inbox = Inbox()
    logins: list[tuple[str, str]] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=(data.login, data.password) == (b"mailer", b"s3cret"), handled=False)

    controller = FreePortController(
        inbox, hostname="127.0.0.1", port=0, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield SmtpServer(controller.port, inbox, logins)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA and server certificates it signed, made once per worker."""
    return issue_certificates(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def tls_smtp_server(request: pytest.FixtureRequest, certificates: Certificates) -> Iterator[SmtpServer]:
    """An SMTP server offering STARTTLS with the test CA's certificate for 127.0.0.1 (or, as the
    parameter "other_host", for mail.example.com only).

    It takes mail in clear text too: a client that fell back to plain text would deliver, and the
    test would see the message arrive without TLS.
    """
    certificate = certificates.other_host if getattr(request, "param", None) == "other_host" else certificates.localhost
    inbox = Inbox()
    controller = FreePortController(
        inbox, hostname="127.0.0.1", port=0, tls_context=server_tls_context(certificate), require_starttls=False
    )
    controller.start()
    try:
        yield SmtpServer(controller.port, inbox, logins=[])
    finally:
        controller.stop()


# --- Servers that fail: a closed port, and one that accepts and never says a word ---


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    writers: list[asyncio.StreamWriter] = []

    def keep_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(keep_open, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


# --- A local send API speaking just enough HTTP/1.1 ---


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class SendApi:
    """Answers every request with `status` and `reply` as JSON, and records what it was sent."""

    status: int = 200
    reply: dict[str, Any] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/email"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(RecordedRequest(method, path, headers, body))
            payload = json.dumps(self.reply).encode()
            writer.write(
                f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def send_api() -> AsyncIterator[SendApi]:
    api = SendApi(reply={"ErrorCode": 0, "Message": "OK", "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"})
    server = await asyncio.start_server(api.handle, "127.0.0.1", 0)
    api.port = server.sockets[0].getsockname()[1]
    try:
        yield api
    finally:
        server.close()
        await server.wait_closed()


# --- Settings and a message ---


def smtp_settings(settings: Settings, port: int, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={"mailer_adapter": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
        | overrides
    )


def api_settings(settings: Settings, url: str, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={"mailer_adapter": "api", "mailer_api_url": url, "mailer_api_key": "server-token-123"} | overrides
    )


def an_email(**fields: Any) -> Email:
    defaults: dict[str, Any] = {
        "to": ["ada@example.com"],
        "subject": "Your receipt",
        "text_body": "Thanks, Ada. Total: 19.99",
        "html_body": "<p>Thanks, <b>Ada</b>. Total: 19.99</p>",
    }
    return Email(**(defaults | fields))


@pytest.fixture(autouse=True)
def _empty_mailboxes() -> Iterator[None]:
    mailer.test_adapter.clear()
    mailer.local_mailbox.clear()
    yield
    mailer.test_adapter.clear()
    mailer.local_mailbox.clear()


# --- Email ---


def test_email_takes_a_single_address_as_a_string() -> None:
    assert an_email(to="ada@example.com").to == ("ada@example.com",)


def test_email_without_recipients_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one recipient"):
        an_email(to=[])


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Hello\r\nBcc: everyone@example.com"},
        {"to": ["ada@example.com\nBcc: everyone@example.com"]},
        {"reply_to": "ada@example.com\r\nX-Injected: yes"},
        {"headers": {"X-Tag": "a\nBcc: everyone@example.com"}},
    ],
)
def test_email_refuses_line_breaks_that_would_add_headers(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="line break"):
        an_email(**fields)


def test_email_headers_may_not_override_what_the_mailer_sets() -> None:
    with pytest.raises(ValueError, match="set by the mailer"):
        an_email(headers={"Bcc": "everyone@example.com"})


# --- SMTP ---


async def test_smtp_delivers_a_text_and_an_html_part(settings: Settings, smtp_server: SmtpServer) -> None:
    email = an_email(to=["ada@example.com", "grace@example.com"], from_="Shop <shop@example.com>")

    result = await mailer.deliver(email, settings=smtp_settings(settings, smtp_server.port))

    assert result.adapter == "smtp"
    [received] = smtp_server.inbox.received
    assert received.mail_from == "shop@example.com"
    assert received.rcpt_tos == ["ada@example.com", "grace@example.com"]
    message = received.message
    assert message["From"] == "Shop <shop@example.com>"
    assert message["To"] == "ada@example.com, grace@example.com"
    assert message["Subject"] == "Your receipt"
    assert message["Message-ID"] == result.message_id
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "Thanks, Ada. Total: 19.99"
    assert html.get_content().strip() == "<p>Thanks, <b>Ada</b>. Total: 19.99</p>"


async def test_smtp_sends_from_mail_from_unless_told_otherwise(settings: Settings, smtp_server: SmtpServer) -> None:
    await mailer.deliver(an_email(), settings=smtp_settings(settings, smtp_server.port))

    [received] = smtp_server.inbox.received
    assert received.message["From"] == settings.mail_from


async def test_smtp_sends_reply_to_custom_headers_and_non_ascii_text(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    email = an_email(
        subject="Café ☕ receipt",
        text_body="Grüße, Zoë",
        html_body=None,
        reply_to="support@example.com",
        headers={"X-Entity-Ref-ID": "order-42"},
    )

    await mailer.deliver(email, settings=smtp_settings(settings, smtp_server.port))

    message = smtp_server.inbox.received[0].message
    assert message["Subject"] == "Café ☕ receipt"
    assert message["Reply-To"] == "support@example.com"
    assert message["X-Entity-Ref-ID"] == "order-42"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Grüße, Zoë"


async def test_smtp_logs_in_when_credentials_are_set(settings: Settings, auth_smtp_server: SmtpServer) -> None:
    configured = smtp_settings(settings, auth_smtp_server.port, smtp_username="mailer", smtp_password="s3cret")

    await mailer.deliver(an_email(), settings=configured)

    assert auth_smtp_server.logins == [("mailer", "s3cret")]
    assert len(auth_smtp_server.inbox.received) == 1


async def test_smtp_wrong_password_is_a_permanent_delivery_error(
    settings: Settings, auth_smtp_server: SmtpServer
) -> None:
    configured = smtp_settings(settings, auth_smtp_server.port, smtp_username="mailer", smtp_password="wrong")

    with pytest.raises(DeliveryError) as raised:
        await mailer.deliver(an_email(), settings=configured)

    assert raised.value.status == 535
    assert raised.value.permanent
    assert auth_smtp_server.inbox.received == []


async def test_smtp_refused_recipient_is_a_permanent_delivery_error(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    with pytest.raises(DeliveryError, match="No such user here") as raised:
        await mailer.deliver(an_email(to="refuse@example.com"), settings=smtp_settings(settings, smtp_server.port))

    assert raised.value.status == 550
    assert raised.value.permanent


async def test_smtp_requiring_starttls_never_sends_in_clear_text(settings: Settings, smtp_server: SmtpServer) -> None:
    # This server offers no STARTTLS: the message must not go out unencrypted.
    configured = smtp_settings(settings, smtp_server.port, smtp_security="starttls")

    with pytest.raises(DeliveryError, match="STARTTLS"):
        await mailer.deliver(an_email(), settings=configured)

    assert smtp_server.inbox.received == []


async def test_smtp_starttls_delivers_over_tls_to_a_server_the_client_trusts(
    settings: Settings, tls_smtp_server: SmtpServer, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mailer verifies with the default trust store (aiosmtplib's default context); OpenSSL reads
    # SSL_CERT_FILE when a context loads it, as it would for a relay with a private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    configured = smtp_settings(settings, tls_smtp_server.port, smtp_security="starttls")

    result = await mailer.deliver(an_email(), settings=configured)

    [received] = tls_smtp_server.inbox.received
    assert received.tls_version in {"TLSv1.2", "TLSv1.3"}, "the message came in before STARTTLS"
    assert received.message["Message-ID"] == result.message_id
    assert received.rcpt_tos == ["ada@example.com"]


@pytest.mark.parametrize(
    ("tls_smtp_server", "trust_the_ca", "reason"),
    [
        pytest.param("localhost", False, "unable to get local issuer certificate", id="self-signed-ca-not-trusted"),
        pytest.param("other_host", True, "IP address mismatch", id="certificate-for-another-host"),
    ],
    indirect=["tls_smtp_server"],
)
async def test_smtp_starttls_refuses_a_certificate_it_cannot_verify_and_never_falls_back_to_clear_text(
    settings: Settings,
    tls_smtp_server: SmtpServer,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    trust_the_ca: bool,
    reason: str,
) -> None:
    if trust_the_ca:
        monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's CAs, which never signed this one
    configured = smtp_settings(settings, tls_smtp_server.port, smtp_security="starttls")

    with pytest.raises(DeliveryError, match="certificate verify failed") as raised:
        await mailer.deliver(an_email(), settings=configured)

    assert reason in raised.value.reason
    assert tls_smtp_server.inbox.received == []


async def test_smtp_refused_connection_is_a_retryable_delivery_error(settings: Settings, closed_port: int) -> None:
    with pytest.raises(DeliveryError, match="smtp delivery failed") as raised:
        await mailer.deliver(an_email(), settings=smtp_settings(settings, closed_port))

    assert not raised.value.permanent


async def test_smtp_server_that_never_answers_times_out(settings: Settings, silent_port: int) -> None:
    started = time.monotonic()

    with pytest.raises(DeliveryError, match="smtp delivery failed") as raised:
        await mailer.deliver(an_email(), settings=smtp_settings(settings, silent_port, smtp_timeout=0.3))

    assert time.monotonic() - started < 5  # the 0.3 s timeout, not the 10 s default
    assert not raised.value.permanent


# --- HTTP API ---


async def test_api_posts_the_email_as_postmark_json(settings: Settings, send_api: SendApi) -> None:
    email = an_email(from_="Shop <shop@example.com>", reply_to="support@example.com")

    result = await mailer.deliver(email, settings=api_settings(settings, send_api.url))

    assert result.adapter == "api"
    assert result.message_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    [request] = send_api.requests
    assert request.method == "POST"
    assert request.path == "/email"
    assert request.headers["x-postmark-server-token"] == "server-token-123"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "From": "Shop <shop@example.com>",
        "To": "ada@example.com",
        "Subject": "Your receipt",
        "TextBody": "Thanks, Ada. Total: 19.99",
        "HtmlBody": "<p>Thanks, <b>Ada</b>. Total: 19.99</p>",
        "ReplyTo": "support@example.com",
        "MessageStream": "outbound",
    }


async def test_api_passes_custom_headers_in_postmark_form(settings: Settings, send_api: SendApi) -> None:
    email = an_email(html_body=None, headers={"X-Entity-Ref-ID": "order-42"})

    await mailer.deliver(email, settings=api_settings(settings, send_api.url))

    body = send_api.requests[0].json()
    assert body["Headers"] == [{"Name": "X-Entity-Ref-ID", "Value": "order-42"}]
    assert "HtmlBody" not in body


async def test_api_sends_from_mail_from_unless_told_otherwise(settings: Settings, send_api: SendApi) -> None:
    await mailer.deliver(an_email(), settings=api_settings(settings, send_api.url))

    assert send_api.requests[0].json()["From"] == settings.mail_from


async def test_api_server_error_is_a_retryable_delivery_error(settings: Settings, send_api: SendApi) -> None:
    send_api.status, send_api.reply = 500, {"ErrorCode": 100, "Message": "Maintenance"}

    with pytest.raises(DeliveryError, match="HTTP 500: Maintenance") as raised:
        await mailer.deliver(an_email(), settings=api_settings(settings, send_api.url))

    assert raised.value.status == 500
    assert not raised.value.permanent
    assert len(send_api.requests) == 1  # no retry inside: the job retries


async def test_api_refused_request_is_a_permanent_delivery_error(settings: Settings, send_api: SendApi) -> None:
    send_api.status, send_api.reply = 422, {"ErrorCode": 300, "Message": "Invalid 'To' address: 'nobody'."}

    with pytest.raises(DeliveryError, match="HTTP 422: Invalid 'To' address") as raised:
        await mailer.deliver(an_email(to="nobody"), settings=api_settings(settings, send_api.url))

    assert raised.value.status == 422
    assert raised.value.permanent


async def test_api_error_never_shows_the_server_token(settings: Settings, send_api: SendApi) -> None:
    send_api.status = 401

    with pytest.raises(DeliveryError) as raised:
        await mailer.deliver(an_email(), settings=api_settings(settings, send_api.url))

    assert "server-token-123" not in str(raised.value)
    assert "server-token-123" not in repr(raised.value)


async def test_api_unreachable_is_a_retryable_delivery_error(settings: Settings, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/email"

    with pytest.raises(DeliveryError, match="api delivery failed") as raised:
        await mailer.deliver(an_email(), settings=api_settings(settings, url))

    assert raised.value.status is None
    assert not raised.value.permanent


async def test_api_that_never_answers_times_out(settings: Settings, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/email"
    started = time.monotonic()

    with pytest.raises(DeliveryError, match=r"no answer within 0\.3 s"):
        await mailer.deliver(an_email(), settings=api_settings(settings, url, mailer_api_timeout=0.3))

    assert time.monotonic() - started < 5


async def test_api_without_a_url_names_the_missing_variable(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="MAILER_API_URL"):
        await mailer.deliver(an_email(), settings=api_settings(settings, url=""))


def test_adapters_never_show_their_secrets(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"smtp_password": "smtp-pass-456", "mailer_api_url": "http://127.0.0.1/", "mailer_api_key": "key-789"}
    )

    shown = repr(mailer.SmtpAdapter.from_settings(configured)) + repr(mailer.ApiAdapter.from_settings(configured))

    assert "smtp-pass-456" not in shown
    assert "key-789" not in shown


# --- Local (dev) mailbox ---


async def test_local_keeps_messages_newest_first(settings: Settings) -> None:
    local = settings.model_copy(update={"mailer_adapter": "local"})

    first = await mailer.deliver(an_email(subject="First"), settings=local)
    second = await mailer.deliver(an_email(subject="Second"), settings=local)

    assert [stored.email.subject for stored in mailer.local_mailbox.messages()] == ["Second", "First"]
    older, newer = mailer.local_mailbox.get(first.message_id), mailer.local_mailbox.get(second.message_id)
    assert older is not None
    assert newer is not None
    assert older.email.subject == "First"
    assert older.email.from_ == settings.mail_from
    assert older.sent_at <= newer.sent_at


async def test_local_mailbox_keeps_only_the_latest_messages() -> None:
    adapter = mailer.LocalAdapter(mailer.Mailbox(limit=2))

    oldest = await mailer.deliver(an_email(subject="1"), adapter=adapter)
    await mailer.deliver(an_email(subject="2"), adapter=adapter)
    await mailer.deliver(an_email(subject="3"), adapter=adapter)

    assert [stored.email.subject for stored in adapter.mailbox.messages()] == ["3", "2"]
    assert adapter.mailbox.get(oldest.message_id) is None


async def test_local_mailbox_can_be_emptied(settings: Settings) -> None:
    local = settings.model_copy(update={"mailer_adapter": "local"})
    result = await mailer.deliver(an_email(), settings=local)

    mailer.local_mailbox.clear()

    assert mailer.local_mailbox.messages() == []
    assert mailer.local_mailbox.get(result.message_id) is None


# --- Test adapter and adapter choice ---


async def test_test_env_collects_emails_for_assertions(settings: Settings) -> None:
    assert settings.mailer_adapter == "test"

    await mailer.deliver(an_email(subject="Hello"), settings=settings)

    [sent] = mailer.test_adapter.sent()
    assert sent.subject == "Hello"
    assert sent.from_ == settings.mail_from
    mailer.test_adapter.clear()
    assert mailer.test_adapter.sent() == []


async def test_configure_picks_the_adapter_used_without_explicit_settings(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    with mailer.running.holding(smtp_settings(settings, smtp_server.port)):
        await mailer.deliver(an_email())

    assert len(smtp_server.inbox.received) == 1
    assert mailer.test_adapter.sent() == []
