"""Real-browser tests: Debian's Chromium driven by Playwright against a `myapp server` child process.

The pieces (the fixtures in tests/my_app_web/browser/conftest.py hand them out):

- `LiveApp`: one `myapp server` per pytest-xdist worker, on the worker's own test database and a
  free port, running the job worker too (emails are delivered by jobs) and mailing to `Mailbox`,
  an SMTP server inside the test process. It starts with the first browser test and stops as soon
  as the next test is not a browser test, so no other test shares its database with a live server
  and its job worker. Links in emails point at it (APP_HOST and PORT are its own).
- `Mailbox`: what the server sent; `await mailbox.last_link(to=email, containing="/users/confirm/")`.
- `BrowserUser`: a committed user (the server is another process: it sees committed rows only).
- `Pages`: the contexts a test opens, each with its own cookies; it watches every page for CSP
  violations and uncaught script errors, and the test fails if one happened.
- `log_in(page, email, password)`, `screenshot(page, "users-index")`.

Chromium is /usr/bin/chromium (Debian's `chromium` package), launched headless without a sandbox
and without background networking, so a test run never talks to the internet. Missing Chromium or
Playwright skips the browser tests with one line saying what to install, and fails them when CI=true.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from my_app import accounts
from tests.support.live_server import ServerProcess
from tests.support.processes import PROJECT_ROOT, free_port
from tests.support.services import needs_service, require_service
from tests.support.smtp import FreePortController, Inbox

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
INSTALL_HINT = "apt install chromium (Debian's package; the Python Playwright comes with `make install`)"
# Headless, no sandbox (containers and root), and nothing that phones home: no component updates,
# no field trials, no safe-browsing lists, no sync, no metrics.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,OptimizationHints,MediaRouter,CertificateTransparencyComponentUpdater",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = PROJECT_ROOT / "screenshots"
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 390, "height": 844}
# Default wait of a Playwright action or assertion; pages answer in milliseconds, a busy CI needs more.
TIMEOUT_MS = 10_000
PASSWORD = "browser password 1234"
_URL = re.compile(r"https?://[^\s\"'<>]+")


# --- Is there a browser? ---


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium and Playwright are installed."""
    if importlib.util.find_spec("playwright") is None:
        return f"the Python package playwright is not installed: {INSTALL_HINT}"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: {INSTALL_HINT}"
    return None


def require_browser() -> None:
    """Skip the test without Chromium (one line saying how to install it); fail it when CI=true."""
    reason = missing_browser()
    require_service("Chromium", reason is None, reason or "")


def needs_browser() -> Any:
    """A mark: `require_browser()` before the test's fixtures start anything (the conftest adds it)."""
    return needs_service("Chromium", lambda: missing_browser() is None, missing_browser() or INSTALL_HINT)


async def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, sandbox and background networking off (never a downloaded one)."""
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
    )


# --- The mailbox ---


class Mailbox:
    """The emails the live server sent, received by an SMTP server in this process (aiosmtpd).

    Examples:
        link = await mailbox.last_link(to="ada@example.com", containing="/users/confirm/")
        await page.goto(link)
    """

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.controller = FreePortController(self.inbox, hostname="127.0.0.1", port=0)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        self.inbox.received.clear()

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        """The messages received (for `to` only, when given), newest first."""
        return [
            item.message
            for item in reversed(self.inbox.received)
            if to is None or to.lower() in (address.lower() for address in item.rcpt_tos)
        ]

    async def last_message(self, *, to: str, subject: str | None = None, within: float = 10.0) -> EmailMessage:
        """The newest message to `to` (whose subject contains `subject`), waiting for its job to send it."""
        deadline = time.monotonic() + within
        while True:
            for message in self.messages(to):
                if subject is None or subject in str(message["Subject"]):
                    return message
            if time.monotonic() > deadline:
                subjects = [str(message["Subject"]) for message in self.messages()]
                raise AssertionError(f"no email to {to} (subject {subject!r}) within {within}s; received: {subjects}")
            await asyncio.sleep(0.05)

    async def last_link(self, *, to: str, containing: str, within: float = 10.0) -> str:
        """The first URL containing `containing` in the newest such email to `to` (waits for it)."""
        deadline = time.monotonic() + within
        while True:
            for message in self.messages(to):
                for url in _URL.findall(text_of(message)):
                    if containing in url:
                        return str(url)
            if time.monotonic() > deadline:
                bodies = "\n---\n".join(text_of(message) for message in self.messages(to))
                raise AssertionError(f"no link containing {containing!r} emailed to {to} within {within}s:\n{bodies}")
            await asyncio.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    return "" if part is None else str(part.get_content())


# --- The server ---


class LiveApp:
    """`myapp server` for the browser tests of one pytest worker, started when first needed.

    Examples:
        live = LiveApp(log=tmp / "server.log", mailbox=mailbox)
        base_url = await live.ensure_started()      # "http://127.0.0.1:38211"
        await live.stop()
    """

    def __init__(self, log: Path, mailbox: Mailbox) -> None:
        self.log = log
        self.mailbox = mailbox
        self.server: ServerProcess | None = None
        self._starting: asyncio.Task[str] | None = None
        self._log_mark = 0

    @property
    def running(self) -> bool:
        process = self.server.process if self.server else None
        return process is not None and process.poll() is None

    def start_soon(self) -> None:
        """Begin starting the server in the background (while Chromium launches, say)."""
        if self._starting is None and not self.running:
            self._starting = asyncio.ensure_future(self._start())

    async def ensure_started(self) -> str:
        """Start the server unless it runs (or finish starting it); its base URL."""
        if self._starting is not None:
            starting, self._starting = self._starting, None
            await starting
        if not self.running:
            await self._start()
        assert self.server is not None
        return self.server.base_url

    async def _start(self) -> str:
        if not self.running:
            port = free_port()
            self.server = ServerProcess(
                port=port,
                log=self.log,
                env={
                    # Links in emails and the socket's origin check use the server's own address.
                    "APP_HOST": "127.0.0.1",
                    "PORT": str(port),
                    # Emails are delivered by jobs: this server runs the job worker, mailing to us.
                    "JOBS_IN_SERVER": "true",
                    "MAILER_ADAPTER": "smtp",
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(self.mailbox.port),
                    "SMTP_SECURITY": "none",
                    # One worker: the app's state (PubSub, the limiter) is the same for every request.
                    "WEB_CONCURRENCY": "1",
                    "LOG_LEVEL": "WARNING",
                },
            )
            await asyncio.to_thread(self.server.start)
        assert self.server is not None
        return self.server.base_url

    async def stop(self) -> None:
        if self._starting is not None:
            starting, self._starting = self._starting, None
            await asyncio.gather(starting, return_exceptions=True)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    def output(self) -> str:
        return self.server.output() if self.server else ""

    def mark_log(self) -> None:
        """Remember where the log ends: `log_since_mark()` is then what the server wrote since."""
        self._log_mark = self.log.stat().st_size if self.log.exists() else 0

    def log_since_mark(self) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(self._log_mark)
            return log.read().decode(errors="replace")


# --- Users ---


@dataclass(frozen=True)
class BrowserUser:
    """A committed, confirmed user, with the password to type into the log-in form."""

    user: accounts.User
    password: str

    @property
    def email(self) -> str:
        return self.user.email


async def create_browser_user(*, role: str = "user", password: str = PASSWORD, **attrs: Any) -> BrowserUser:
    """A confirmed user committed through the accounts context (`role="admin"` for an admin)."""
    from tests.support.fixtures.accounts import confirmed_user_fixture

    extra = {"role": role} if role != "user" else {}
    user = await confirmed_user_fixture(password=password, **extra, **attrs)
    return BrowserUser(user=user, password=password)


# --- Pages ---


@dataclass
class PageProblems:
    """What went wrong in a page: CSP violations and other console errors, uncaught exceptions."""

    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


class Pages:
    """The browser contexts a test opens (each its own cookies), and what their pages reported.

    Examples:
        alice = await pages.new_context()                       # a fresh "browser window"
        nojs = await pages.new_context(java_script_enabled=False)
        page = await alice.new_page()
    """

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.problems: dict[Page, PageProblems] = {}

    async def new_context(self, *, java_script_enabled: bool = True, **options: Any) -> BrowserContext:
        """A new context (its own cookies and storage) whose relative URLs go to the live server."""
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "en-US")
        context = await self.browser.new_context(
            base_url=self.base_url, java_script_enabled=java_script_enabled, **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.on("page", self.watch)
        self.contexts.append(context)
        return context

    def watch(self, page: Page) -> None:
        """Record the page's CSP violations, console errors and uncaught exceptions."""
        problems = self.problems.setdefault(page, PageProblems())

        def on_console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            text = message.text
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                problems.csp_violations.append(text)
            else:
                problems.console_errors.append(text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.page_errors.append(str(error)))

    def of(self, page: Page) -> PageProblems:
        return self.problems.setdefault(page, PageProblems())

    def csp_violations(self) -> list[str]:
        return [text for problems in self.problems.values() for text in problems.csp_violations]

    def page_errors(self) -> list[str]:
        return [text for problems in self.problems.values() for text in problems.page_errors]

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()


async def log_in(page: Page, email: str, password: str = PASSWORD, *, remember_me: bool = False) -> None:
    """Log in through the log-in page's password form; returns once the browser has left that page."""
    await page.goto("/users/log-in")
    form = page.locator("form").filter(has=page.locator("input[name='password']"))
    await form.locator("input[name='email']").fill(email)
    await form.locator("input[name='password']").fill(password)
    if remember_me:
        await form.locator("input[name='remember_me']").check()
    await form.locator("[type='submit']").click()
    try:
        await page.wait_for_url(lambda url: "/users/log-in" not in url)
    except Exception as error:  # Playwright's TimeoutError: say what the page shows instead
        raise AssertionError(f"log-in as {email} failed; the page says:\n{await page.inner_text('main')}") from error


async def screenshot(page: Page, name: str) -> list[Path]:
    """Save the page as `screenshots/<name>-desktop.png` (1200×800) and `-phone.png` (390×844)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    original = page.viewport_size
    saved = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)  # type: ignore[arg-type]
        path = SCREENSHOTS / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True, animations="disabled")
        saved.append(path)
    if original is not None:
        await page.set_viewport_size(original)
    return saved
