"""Who is calling: API tokens and the Django session, as FastAPI dependencies.

Every endpoint except ``/api/v1/health`` and ``/api/v1/health/ready`` needs a principal:

- ``Authorization: Bearer phub_...`` — a personal API token; the caller may do what both the
  user's role and the token's scopes allow (:func:`hub.accounts.roles.permissions_of`);
- the Django session cookie (``pacs_hub_session``) of a logged-in user — the web app's own
  calls; the user's role decides.

Use in a router::

    @router.get("/things")
    def things(principal: CurrentPrincipal) -> ...: ...

    @router.post("/things", dependencies=[require("run_inference")])
    def make(...) -> ...: ...

    Runner = Annotated[Principal, require("run_inference")]   # when the endpoint needs it

No or bad credentials answer 401 problem+json with ``WWW-Authenticate: Bearer``; a missing
permission answers 403 naming it. WebSocket endpoints call :func:`authenticate_websocket`
(token in ``?token=``, the ``Authorization`` header or the session cookie).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from fastapi import Depends, Request, WebSocket
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from hub.web.problems import ProblemError

log = logging.getLogger(__name__)

SESSION_COOKIE = "pacs_hub_session"
#: Seconds a resolved principal is reused for the same credentials, so a busy client costs
#: no database round trip per request; a revoked token, ended session or changed role takes
#: effect within this time. Refusals are never cached.
PRINCIPAL_TTL = 1.0
_CACHE_MAX = 4096
_cache: dict[str, tuple[float, Principal]] = {}

#: Declared in OpenAPI (the docs page's "Authorize" button); checked by :func:`authenticate`.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="phub_<prefix>_<secret>",
    description="A personal API token (`pacs-hub token create NAME --scopes read,infer`).",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web app's Django session cookie."
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the Django user and what it may do in this request."""

    user: Any
    permissions: frozenset[str]
    via: Literal["token", "session"]
    token_id: int | None = None

    @property
    def user_id(self) -> int:
        return int(self.user.pk)

    @property
    def username(self) -> str:
        return str(self.user.get_username())

    def has(self, permission: str) -> bool:
        return permission in self.permissions


def unauthorized(detail: str) -> ProblemError:
    """The 401 problem every missing or bad credential answers."""
    return ProblemError(
        401,
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="pacs-hub"'},
        fix="send 'Authorization: Bearer <token>' (create one with 'pacs-hub token create')"
        " or log in to the web app",
    )


def principal_from_token(plain: str) -> Principal | None:
    """The principal of an API token, or None when it is unknown, revoked or expired (sync)."""
    from hub.accounts.roles import permissions_of
    from hub.accounts.services import authenticate_token

    token = authenticate_token(plain.strip())
    if token is None:
        return None
    return Principal(
        user=token.user,
        permissions=permissions_of(token.user, token.scope_set),
        via="token",
        token_id=token.pk,
    )


def principal_from_session(session_key: str) -> Principal | None:
    """The principal of a Django session cookie, or None (sync).

    Mirrors :func:`django.contrib.auth.get_user`: the session's user must exist and be active,
    and the session's auth hash must match the user's (a password change ends old sessions).
    """
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils.crypto import constant_time_compare

    from hub.accounts.roles import permissions_of

    if not session_key or len(session_key) > 64:
        return None
    session = SessionStore(session_key=session_key)
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    User = get_user_model()
    try:
        user = User._default_manager.get(pk=User._meta.pk.to_python(user_id))
    except (User.DoesNotExist, ValueError, TypeError):
        return None
    if not user.is_active:
        return None
    stored_hash = session.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(stored_hash, user.get_session_auth_hash()):
        return None
    return Principal(user=user, permissions=permissions_of(user), via="session")


def refresh_db_connection() -> None:
    """Django's per-request connection upkeep, for code that runs outside Django's request
    cycle (sync; call at the start of each unit of database work in a thread).

    Closes connections that are broken or past ``CONN_MAX_AGE`` (PostgreSQL: 60 s, with
    health checks). SQLite connections are local files that cannot go stale, and its
    ``CONN_MAX_AGE`` of 0 would otherwise reopen the file (and re-run its pragmas) on every
    request, so they are kept unless unusable.
    """
    from django.db import close_old_connections, connections

    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite":
            close_old_connections()
            return
        if conn.errors_occurred and not conn.is_usable():
            conn.close()


def resolve_principal(authorization: str | None, token: str | None, session_key: str | None
                      ) -> Principal | None:
    """The principal of the given credentials, tried in order: header, token, cookie (sync).

    A credential that is present but wrong answers None: a bad token never falls back to a
    session.
    """
    refresh_db_connection()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return principal_from_token(value)
    if token:
        return principal_from_token(token)
    if session_key:
        return principal_from_session(session_key)
    return None


def clear_principal_cache() -> None:
    """Forget every cached principal (tests; after revoking tokens in bulk)."""
    _cache.clear()


async def cached_principal(
    authorization: str | None, token: str | None, session_key: str | None
) -> Principal | None:
    """:func:`resolve_principal` in a thread, its successes reused for :data:`PRINCIPAL_TTL`."""
    key = hashlib.sha256(
        "\0".join((authorization or "", token or "", session_key or "")).encode()
    ).hexdigest()
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    principal = await sync_to_async(resolve_principal, thread_sensitive=True)(
        authorization, token, session_key
    )
    if principal is not None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = (now + PRINCIPAL_TTL, principal)
    return principal


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    session_key: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """The request's principal; 401 problem when there is none or it is not valid."""
    authorization = request.headers.get("authorization")
    if not authorization and not session_key:
        raise unauthorized("this endpoint needs an API token or a logged-in session")
    principal = await cached_principal(authorization, None, session_key)
    if principal is None:
        raise unauthorized("the API token or session is not valid (unknown, revoked or expired)")
    if (
        principal.via == "session"
        and request.method not in SAFE_METHODS
        and not same_origin(request.headers)
    ):
        raise ProblemError(
            403,
            "a cross-site request with the web app's session cookie was refused",
            title="Forbidden",
            fix="call the API with 'Authorization: Bearer <token>', or from the hub's own pages",
        )
    return principal


#: Methods that change nothing; others made with the session cookie must come from our pages.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(headers: Any) -> bool:
    """Whether a cookie-authenticated request comes from the hub's own pages (CSRF defence).

    Browsers send ``Origin`` with every cross-origin request and every POST; its host must be
    the request's ``Host``. Without ``Origin``, ``Referer`` is used; a request with neither
    is not from a browser page and is let through (it cannot carry a victim's cookie
    cross-site). Scheme is ignored: TLS may end at a proxy in front.
    """
    from urllib.parse import urlsplit

    host = (headers.get("host") or "").lower()
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return True
    if source == "null":
        return False
    return urlsplit(source).netloc.lower() == host


#: Any authenticated caller.
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Any:
    """A dependency answering 403 problem+json unless the caller holds ``permission``.

    Use as ``dependencies=[require("manage_jobs")]`` or in an ``Annotated[Principal, ...]``.
    """

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has(permission):
            how = "this API token's scopes" if principal.via == "token" else "your role"
            raise ProblemError(
                403,
                f"{how} do not allow '{permission}'",
                title="Forbidden",
                permission=permission,
                fix="use a token with the needed scope or ask an admin for a role that has it",
            )
        return principal

    check.__name__ = f"require_{permission}"
    return Depends(check)


Viewer = Annotated[Principal, require("view_studies")]
Runner = Annotated[Principal, require("run_inference")]
JobManager = Annotated[Principal, require("manage_jobs")]


async def authenticate_websocket(websocket: WebSocket) -> Principal | None:
    """The principal of a WebSocket handshake, or None (the caller closes with 1008).

    Looks at ``?token=``, the ``Authorization`` header, then the session cookie.
    """
    authorization = websocket.headers.get("authorization")
    token = websocket.query_params.get("token")
    session_key = websocket.cookies.get(SESSION_COOKIE)
    if not (authorization or token or session_key):
        return None
    principal = await cached_principal(authorization, token, session_key)
    if principal is not None and principal.via == "session" and not same_origin(websocket.headers):
        log.warning("WebSocket with the session cookie from another origin refused")
        return None
    return principal
