"""The dev mailbox: every email the local adapter kept, viewable in the browser (Plug.Swoosh.MailboxPreview).

Mounted only in dev, by `dev_mailbox.mount_dev_routes(app, settings)`, with the other dev-only page:
the ops dashboard without log-in at /dev/dashboard (`live.admin.dashboard_live.dev_router`). A message's
HTML part is served from its own URL under a `sandbox` Content-Security-Policy and shown in a
sandboxed iframe, so whatever the email holds runs no script and cannot reach the app's pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from my_app import mailer
from my_app.errors import NotFoundError
from my_app_web.templating import templates

router = APIRouter(prefix="/dev/mailbox", tags=["dev"], include_in_schema=False)

# No scripts, no requests to other origins, no forms, no same-origin access; inline styles and
# embedded or https images are what emails use. Framed by the mailbox's own page only.
_HTML_PART_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; font-src data: https:;"
    " frame-ancestors 'self'"
)


@router.get("", response_class=HTMLResponse, name="dev_mailbox")
async def index(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "dev_mailbox/index.html",
        {
            "page_title": "Mailbox",
            "messages": mailer.local_mailbox.messages(),
            "adapter": request.app.state.settings.mailer_adapter,
        },
    )


@router.post("/clear", name="dev_mailbox_clear")
async def clear(request: Request) -> RedirectResponse:
    mailer.local_mailbox.clear()
    # 303: the browser follows with a GET, so a reload does not empty the mailbox again.
    return RedirectResponse(request.app.url_path_for("dev_mailbox"), status_code=303)


@router.get("/{message_id}", response_class=HTMLResponse, name="dev_mailbox_message")
async def show(request: Request, message_id: str) -> Response:
    stored = _get_message(message_id)
    return templates.TemplateResponse(
        request,
        "dev_mailbox/show.html",
        {"page_title": stored.email.subject, "message": stored, "email": stored.email},
    )


@router.get("/{message_id}/html", response_class=HTMLResponse, name="dev_mailbox_html")
async def html_part(message_id: str) -> HTMLResponse:
    stored = _get_message(message_id)
    if stored.email.html_body is None:
        raise NotFoundError("HTML part", message_id)
    return HTMLResponse(
        stored.email.html_body,
        headers={
            "Content-Security-Policy": _HTML_PART_POLICY,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


def _get_message(message_id: str) -> mailer.StoredEmail:
    stored = mailer.local_mailbox.get(message_id)
    if stored is None:
        raise NotFoundError("email", message_id)
    return stored
