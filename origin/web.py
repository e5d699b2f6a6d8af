"""HTTP adapter plumbing shared by the origin's route modules: lifespan resources and authentication."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import Response

from streamfleet.httpkit import BodyError, json_error, read_json_object
from streamfleet.sessions import Session, SessionError, SessionSettings, verify_session

from .accounts import AccountStore
from .catalog import Catalog, TitleDetail
from .jobs import JobQueue
from .ratelimit import FailureLimiter
from .store import ObjectStore
from .uploads import UploadStore


@dataclass
class Resources:
    """What the lifespan opens and every request uses."""

    catalog: Catalog
    store: ObjectStore
    details: TTLCache[str, TitleDetail]
    accounts: AccountStore
    uploads: UploadStore
    queue: JobQueue
    # Failed logins, counted in the accounts database so every origin copy sees them.
    logins: FailureLimiter


def resources(request: Request) -> Resources:
    res: Resources = request.state.resources
    return res


class Authenticator:
    """Finds the session of a request: ``Authorization: Bearer <token>`` or the session cookie."""

    def __init__(self, settings: SessionSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.keyring = settings.keyring()
        self.clock = clock

    def token_of(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.cookies.get(self.settings.cookie_name) or None

    async def session(self, request: Request) -> Session | None:
        """The request's verified, unrevoked session; None when it has none or a bad one."""
        token = self.token_of(request)
        if token is None:
            return None
        try:
            session = verify_session(self.keyring, token, self.clock(), self.settings.leeway_seconds)
        except SessionError:
            return None
        revoked = await anyio.to_thread.run_sync(resources(request).accounts.is_revoked, session.session_id)
        return None if revoked else session

    async def require(self, request: Request, *roles: str) -> Session | Response:
        """The session if it has one of ``roles`` (any role when none given); else a 401/403 response."""
        session = await self.session(request)
        if session is None:
            response = json_error(401, "log in first (POST /v1/sessions)")
            response.headers["www-authenticate"] = 'Bearer realm="streamfleet"'
            return response
        if roles and not session.has_role(*roles):
            return json_error(403, f"this needs the {' or '.join(roles)} role; you are a {session.role}")
        return session


async def json_body(request: Request, limit: int) -> dict[str, Any] | Response:
    """The request's JSON object body, or a 400 (not a JSON object) / 413 (over ``limit``) response."""
    try:
        return await read_json_object(request, limit)
    except BodyError as exc:
        return json_error(exc.status, str(exc))
