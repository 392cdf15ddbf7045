"""A real SMTP server for tests (aiosmtpd): it keeps what it receives and refuses one address.

For STARTTLS, `issue_certificates` makes a throwaway certificate authority and server certificates
with the `openssl` command, and `server_tls_context` is what the server presents.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

REFUSED_ADDRESS = "refuse@example.com"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # The TLS version of the session the message came in on ("TLSv1.3"), None when in clear text.
    tls_version: str | None = None


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
        # aiosmtpd fills `session.ssl` (the TLS transport's details) once STARTTLS has succeeded.
        tls_version = session.ssl["ssl_object"].version() if session.ssl else None
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, tls_version))
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


# --- Certificates for STARTTLS ---


@dataclass(frozen=True)
class Certificates:
    """A test CA (`ca`, PEM), and server certificates (PEM, with their keys) that it signed."""

    ca: Path
    localhost: tuple[Path, Path]  # for 127.0.0.1 and localhost
    other_host: tuple[Path, Path]  # for mail.example.com only


def issue_certificates(directory: Path) -> Certificates:
    """A fresh CA and two server certificates signed by it, written to `directory` (openssl CLI, EC keys).

    The extensions are those Python's strict verification (the default from 3.13) asks for.
    """
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl(
        "req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=MyApp test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip

    def server(name: str, alt_names: str, serial: int) -> tuple[Path, Path]:
        key, request, certificate = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        extensions = directory / f"{name}.ext"
        extensions.write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            f"subjectAltName={alt_names}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
        )
        _openssl("req", "-new", *new_key, "-keyout", key, "-out", request, "-subj", f"/CN={name}")
        _openssl(
            "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", str(serial),
            "-days", "2", "-extfile", extensions, "-out", certificate,
        )  # fmt: skip
        return certificate, key

    return Certificates(
        ca=ca,
        localhost=server("localhost", "DNS:localhost,IP:127.0.0.1", serial=1),
        other_host=server("mail.example.com", "DNS:mail.example.com", serial=2),
    )


def server_tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """What an SMTP server presents on STARTTLS: this certificate and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(name="closed_port")
def closed_port_fixture() -> Iterator[int]:
    """A port nothing answers on: bound but not listening, so connections are refused, and no other
    test can take the port meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
