"""Signing a browser in to the dashboard: a token posted from the page's form goes into a session
cookie that only the dashboard reads; unsafe requests that the cookie authenticates carry a
CSRF token as well.

- The token never travels in a URL: `POST /login` takes it as a form field and answers with a
  redirect that names at most why it failed (`/?signin=failed`), never the token.
- The cookie is `__Host-carepath-session`: `Secure`, `HttpOnly`, `SameSite=Strict`, `Path=/`,
  no `Domain`, so the browser sends it to this host and scheme only and no page script reads it.
  Browsers keep a `Secure` cookie only from https, or from http://localhost and 127.0.0.1
  (secure contexts); on plain http elsewhere sign-in does not stick, and the page says so.
- The other services never read a cookie (`carepath.chassis.auth.authenticated` reads the bearer
  header, and the cookie only through `app.state.browser_session`, which the dashboard alone
  sets).
- CSRF: a POST, PUT, PATCH or DELETE authenticated by the cookie must carry `X-CSRF-Token`, an
  HMAC of the session token under the dashboard's CSRF key (`CAREPATH_CSRF_KEY`, or a random key
  per process); the page reads it from `GET /api/session`. Another site can make a browser send
  the cookie, but cannot read the token nor set the header. A bearer call needs none.
"""

import hashlib
import hmac
import re
import secrets

from fastapi import HTTPException, Request, Response, status

SESSION_COOKIE = "__Host-carepath-session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LONGEST_TOKEN = 8192  # characters; a JWT of the clinic's issuer is well under 2,000
BEARER_PREFIX = re.compile(r"^bearer\s+", re.IGNORECASE)  # pasted with the header's word
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})  # `Sec-Fetch-Site` of a form on the page


class BrowserSessions:
    """The dashboard's browser sessions: the cookie, and the CSRF token tied to it."""

    def __init__(self, csrf_key: bytes | None = None) -> None:
        # A random key per process unless configured: tokens then last as long as the process
        # (the page fetches a fresh one after a 403), and replicas need the configured key.
        self._csrf_key = csrf_key or secrets.token_bytes(32)

    def token_of(self, request: Request) -> str | None:
        """The signed-in browser's token (`app.state.browser_session`), or None; 403 when an
        unsafe request authenticated by the cookie lacks the right CSRF token."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        if request.method in UNSAFE_METHODS:
            self.check_csrf(request, token)
        return token

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token of a session: an HMAC-SHA256 of its token, hex."""
        return hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).hexdigest()

    def csrf_of(self, request: Request) -> str | None:
        """The CSRF token of the browser's session, if the request has a session cookie."""
        token = request.cookies.get(SESSION_COOKIE)
        return self.csrf_token(token) if token else None

    def check_csrf(self, request: Request, session_token: str) -> None:
        """403 unless `X-CSRF-Token` is the session's CSRF token."""
        given = request.headers.get(CSRF_HEADER)
        if not given:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a signed-in browser's {request.method} needs the {CSRF_HEADER} header (from "
                "GET /api/session); reload the page",
            )
        if not hmac.compare_digest(given, self.csrf_token(session_token)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"the {CSRF_HEADER} header does not match this browser's session (signed in "
                "again, or the dashboard restarted); reload the page",
            )


def posted_from_elsewhere(request: Request) -> bool:
    """Whether the browser says another site made this request (`Sec-Fetch-Site`, or failing
    that an `Origin` that is not the dashboard's own): a sign-in posted from another site would
    sign the browser in as someone else (login CSRF)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in SAME_SITE_FETCHES
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is not None and origin != own


def pasted_token(posted: str) -> str | None:
    """The token as pasted in the form (a `Bearer ` prefix and spaces dropped), or None when
    it cannot be one."""
    token = BEARER_PREFIX.sub("", posted.strip())
    return token if 0 < len(token) <= LONGEST_TOKEN else None


def keep_session(response: Response, token: str) -> None:
    """Set the session cookie: this host only, every path, https only, no script, no other
    site's requests. A browser session cookie: the token's own expiry ends it sooner."""
    response.set_cookie(
        SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )


def end_session(response: Response) -> None:
    """Clear the session cookie (same attributes, or the browser keeps it)."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
