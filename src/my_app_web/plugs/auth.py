"""Authentication and authorization for requests (phx.gen.auth's UserAuth plug, and Authorize).

Browsers: a signed session cookie holds a session token; a signed remember-me cookie (60 days,
HttpOnly, SameSite=Lax, Secure in prod) logs them back in when the session is gone. API clients:
`Authorization: Bearer <token>`. Each is resolved to its user in one query (token joined to user).

Dependencies, for routes to declare what they need:
- `ApiScope` — the caller's `Scope`; bearer token required, else 401 with `WWW-Authenticate: Bearer`.
  Routes pass it to the context, which decides what the caller may see and do (403 otherwise);
- `ApiUser` — the signed-in user themself, for routes about the caller's own account (`/me`);
- `OptionalApiScope` — for public reads: the token's user, or anonymous without a token (401 for a bad one);
- `CurrentSession` — the browser's signed-in session or None (`fetch_current_user`);
- `UserScope` — a page's signed-in user as a `Scope` (visitors log in and come back), for the context;
- `require_authenticated_user`, `redirect_if_user_is_authenticated`, `require_sudo_mode` — for pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer

from my_app import accounts
from my_app.accounts.scope import Scope
from my_app.accounts.user import Role
from my_app.config import Settings
from my_app.errors import ForbiddenError, UnauthorizedError
from my_app.gettext import gettext as _
from my_app_web.flash import put_flash
from my_app_web.gettext import clear_session_keeping_locale, set_request_locale

SESSION_TOKEN_KEY = "user_token"  # noqa: S105 - a session key, not a secret
LIVE_SOCKET_ID_KEY = "live_socket_id"
REMEMBER_ME_MAX_AGE = timedelta(days=60)
LOG_IN_PATH = "/users/log-in"
SIGNED_IN_PATH = "/"

bearer_scheme = HTTPBearer(auto_error=False, description="An API token from `POST /api/sessions`.")


class Redirect(Exception):  # noqa: N818 - control flow, like Phoenix's `redirect |> halt`
    """Stop handling the request and send the browser elsewhere (303)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


# --- API (bearer tokens) ---


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise UnauthorizedError()
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


async def api_scope(request: Request, token: BearerToken) -> Scope:
    """The scope of the user behind the bearer token, or 401."""
    user = await accounts.fetch_user_by_api_token(token)
    if user is None:
        raise UnauthorizedError()
    request.state.current_user = user  # the request's log lines name the user (my_app_web.telemetry)
    return Scope.for_user(user)


ApiScope = Annotated[Scope, Depends(api_scope)]


async def optional_api_scope(request: Request) -> Scope:
    """For public reads: the bearer token's user, or an anonymous scope when there is no token.

    A token that is sent but not valid is 401, never quietly anonymous: the client would otherwise
    read a public view and believe it is signed in (or not learn that its token expired). Reads the
    header itself rather than through `bearer_scheme`, so the OpenAPI document shows these routes
    as public (its `security` means "required").
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not scheme and not token:
        return Scope.for_user(None)
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError()
    user = await accounts.fetch_user_by_api_token(token.strip())
    if user is None:
        raise UnauthorizedError()
    request.state.current_user = user  # the request's log lines name the user (my_app_web.telemetry)
    return Scope.for_user(user)


OptionalApiScope = Annotated[Scope, Depends(optional_api_scope)]


async def api_user(scope: ApiScope) -> accounts.User:
    """The user behind the bearer token (the same lookup as `ApiScope`: FastAPI runs it once a request)."""
    if scope.user is None:
        raise UnauthorizedError()
    return scope.user


ApiUser = Annotated[accounts.User, Depends(api_user)]


# --- Browsers (session and remember-me cookies) ---


def _signer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key_base or "", salt="remember me")


async def fetch_current_user(request: Request, response: Response) -> accounts.Session | None:
    """The browser's signed-in user (from the session, else the remember-me cookie), or None."""
    settings: Settings = request.app.state.settings
    token = request.session.get(SESSION_TOKEN_KEY)
    if token is None:
        token = _remembered_token(request, settings)
        if token is None:
            return None
        request.session[SESSION_TOKEN_KEY] = token  # back in the session: no cookie lookup next time
    found = await accounts.get_user_by_session_token(token)
    if found is None:
        request.session.pop(SESSION_TOKEN_KEY, None)
        response.delete_cookie(settings.remember_me_cookie)
    else:
        # For the layout's navigation (`current_user`), and the request's log lines (my_app_web.telemetry).
        request.state.current_user = found.user
        set_request_locale(request, found.user.locale)  # the user's language beats ?locale= and the browser's
    return found


def current_user(request: Request) -> accounts.User | None:
    """The signed-in user, once the browser pipeline's `fetch_current_user` has run; else None."""
    user: accounts.User | None = getattr(request.state, "current_user", None)
    return user


CurrentSession = Annotated[accounts.Session | None, Depends(fetch_current_user)]


def _remembered_token(request: Request, settings: Settings) -> str | None:
    cookie = request.cookies.get(settings.remember_me_cookie)
    if not cookie:
        return None
    try:
        token = _signer(settings).loads(cookie, max_age=int(REMEMBER_ME_MAX_AGE.total_seconds()))
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


async def log_in_user(request: Request, response: Response, user: accounts.User, *, remember_me: bool = False) -> str:
    """Start a new session for `user` (the old session's data is dropped: no fixation)."""
    settings: Settings = request.app.state.settings
    token = await accounts.generate_user_session_token(user)
    clear_session_keeping_locale(request)
    set_request_locale(request, user.locale)  # a flash put after this is in the user's language
    request.session[SESSION_TOKEN_KEY] = token
    # The topic that live pages and sockets of this session watch, to be disconnected on log-out.
    request.session[LIVE_SOCKET_ID_KEY] = accounts.socket_id_for(token)
    if remember_me:
        response.set_cookie(
            settings.remember_me_cookie,
            _signer(settings).dumps(token),
            max_age=int(REMEMBER_ME_MAX_AGE.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=settings.env == "prod",
        )
    return token


async def log_out_user(request: Request, response: Response) -> None:
    """End the session: its token is deleted, the session cleared, the remember-me cookie dropped."""
    settings: Settings = request.app.state.settings
    token = request.session.get(SESSION_TOKEN_KEY)
    if token:
        await accounts.delete_user_session_token(token)
    clear_session_keeping_locale(request)
    response.delete_cookie(settings.remember_me_cookie)


async def require_authenticated_user(request: Request, session: CurrentSession) -> accounts.Session:
    """Pages for signed-in users: others go to the log-in page with a flash message."""
    if session is None:
        # A live page's stream is not a page the person asked for: nothing to say or come back to.
        if "text/event-stream" not in request.headers.get("accept", ""):
            put_flash(request, "error", _("You must log in to access this page."))
            if request.method == "GET":
                request.session["user_return_to"] = str(request.url.path)
        raise Redirect(LOG_IN_PATH)
    return session


async def user_scope(session: Annotated[accounts.Session, Depends(require_authenticated_user)]) -> Scope:
    """The signed-in user's scope, for pages only they may use (visitors log in and come back)."""
    return Scope.for_user(session.user)


UserScope = Annotated[Scope, Depends(user_scope)]


async def redirect_if_user_is_authenticated(session: CurrentSession) -> None:
    """Pages for visitors only (log in, register): signed-in users go home."""
    if session is not None:
        raise Redirect(SIGNED_IN_PATH)


async def require_sudo_mode(
    request: Request, session: Annotated[accounts.Session, Depends(require_authenticated_user)]
) -> accounts.Session:
    """Sensitive settings need a log-in within the last 20 minutes."""
    if not accounts.sudo_mode(session.authenticated_at):
        put_flash(request, "error", _("You must re-authenticate to access this page."))
        raise Redirect(LOG_IN_PATH)
    return session


def authorize_page(*roles: Role) -> Callable[..., Awaitable[accounts.Session]]:
    """Authorize for pages: visitors log in first (and come back); signed-in users without one of
    `roles` get 403 (the page exists; they may not see it). A live page's stream asks the same way."""

    async def authorize(
        session: Annotated[accounts.Session, Depends(require_authenticated_user)],
    ) -> accounts.Session:
        if session.user.role not in roles:
            raise ForbiddenError()
        return session

    return authorize
