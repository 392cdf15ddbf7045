"""A real SMTP server for tests (aiosmtpd): it keeps what it receives and refuses one address."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

REFUSED_ADDRESS = "refuse@example.com"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses `refuse@example.com`."""

    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address == "refuse@example.com":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def body_of(self, subject_part: str) -> str:
        """The plain-text body of the one message whose subject contains `subject_part`."""
        found = [item.message for item in self.received if subject_part in str(item.message["Subject"])]
        subjects = [item.message["Subject"] for item in self.received]
        assert len(found) == 1, f"expected one email about {subject_part!r}: {subjects}"
        part = found[0].get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


class FreePortController(Controller):
    """aiosmtpd's Controller, listening on the port the OS picks (pass `port=0`)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
