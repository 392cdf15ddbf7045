"""The one way the API checks a password: counted by the log-in limiter first, then bcrypt.

Log-in (`POST /api/sessions`) and the changes that ask for the current password (`PUT
/api/users/me/password`, `POST /api/users/me/email`) share one count per account and one per client
IP (RATE_LIMIT_LOGIN): a stolen bearer token buys no more guesses than the log-in form.
"""

from __future__ import annotations

from fastapi import Request

from my_app import accounts
from my_app.errors import UnauthorizedError
from my_app_web.plugs.client_ip import client_ip
from my_app_web.plugs.rate_limit import limiter_of


async def authenticate(request: Request, email: str, password: str) -> accounts.User:
    """The user whose email and password these are; 401 when they are wrong, 429 past the limit.

    The attempt is counted before the password is checked (hit-then-test), so parallel guesses
    cannot all get through while the first are still in bcrypt. A right password then takes its
    own count back, so only failures stay counted: people behind one address (an office, a NAT)
    who log in successfully never lock each other out, and a client cannot lower its count by
    logging into an account of its own between guesses (a refund takes back one count, not more).

    Examples:
        user = await authenticate(request, "ada@example.com", "right password")  # User(...)
        await authenticate(request, "ada@example.com", "wrong")  # UnauthorizedError (401)
        # a sixth attempt for ada@example.com (or from this IP) within 5 minutes: TooManyRequests (429)
    """
    limiter = limiter_of(request)
    keys = (f"login:email:{email.lower()}", f"login:ip:{client_ip(request)}")
    await limiter.hit(limiter.login, *keys)
    user = await accounts.get_user_by_email_and_password(email, password)
    if user is None:
        raise UnauthorizedError()
    await limiter.refund(limiter.login, *keys)
    return user
