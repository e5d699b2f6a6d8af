"""Who is asking: the session's account and role, as the origin's ``GET /v1/me`` says.

Asking the origin (not verifying the token here) keeps logout and revocation authoritative and
leaves session keys with the services that issue and check them. Answers are cached briefly
per session token.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from cachetools import TTLCache

from .errors import Forbidden, UpstreamUnavailable

CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    role: str

    def has_role(self, *roles: str) -> bool:
        """True when the role is one of ``roles``; an operator has every role."""
        return self.role in roles or self.role == "operator"


class IdentityLookup:
    """Resolves session credentials to an Identity. Use from one event loop."""

    def __init__(self, client: httpx.AsyncClient, origin_url: str, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._url = origin_url.rstrip("/") + "/v1/me"
        self._cache: TTLCache[str, Identity | None] = TTLCache(CACHE_ENTRIES, ttl_seconds, timer=clock)

    async def identify(self, cookie: str | None, authorization: str | None) -> Identity | None:
        """The account behind the credentials, or None for none or invalid ones.

        Raises UpstreamUnavailable when the origin cannot say.
        """
        if not cookie and not authorization:
            return None
        key = hashlib.sha256(f"{cookie}\n{authorization}".encode()).hexdigest()
        if key in self._cache:
            return self._cache[key]
        headers = {k: v for k, v in (("cookie", cookie), ("authorization", authorization)) if v}
        try:
            response = await self._client.get(self._url, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"origin unreachable: {exc}") from None
        identity: Identity | None = None
        if response.status_code == 200:
            body = response.json()
            identity = Identity(str(body.get("id", "")), str(body.get("username", "")),
                                str(body.get("role", "")))
        elif response.status_code not in (401, 403):
            raise UpstreamUnavailable(f"origin answered {response.status_code} to GET /v1/me")
        self._cache[key] = identity
        return identity

    async def require(self, cookie: str | None, authorization: str | None, *roles: str) -> Identity:
        """The identity if it has one of ``roles``. Raises Forbidden or UpstreamUnavailable."""
        identity = await self.identify(cookie, authorization)
        if identity is None:
            raise Forbidden("log in first", logged_in=False)
        if roles and not identity.has_role(*roles):
            raise Forbidden(f"this needs the {' or '.join(roles)} role; you are a {identity.role}",
                            logged_in=True)
        return identity
