"""Viewer sessions on playback: ``Authorization: Bearer <session>`` or the session cookie,
verified locally with the fleet's session keys (no call to the origin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

from streamfleet.sessions import Session, SessionError, SessionSettings, verify_session

from .errors import Unauthenticated


class SessionGate:
    """Decides whether a playback request carries a valid viewer session. Immutable apart from
    its clock; safe across tasks."""

    def __init__(
        self, settings: SessionSettings, *, required: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self._keyring = settings.keyring()
        self._leeway = float(settings.leeway_seconds)
        self._cookie = settings.cookie_name
        self.required = required
        self._clock = clock

    def check(self, authorization: str | None, cookie_header: str | None) -> Session | None:
        """The request's session. None when sessions are not required and none was sent.

        A session that is sent is always verified, required or not. Raises Unauthenticated.
        """
        token = _bearer(authorization) if authorization else None
        if token is None and cookie_header:
            token = _cookie(cookie_header, self._cookie)
        if token is None:
            if self.required:
                raise Unauthenticated("a viewer session is required (log in first)")
            return None
        try:
            return verify_session(self._keyring, token, self._clock(), self._leeway)
        except SessionError as exc:
            raise Unauthenticated(f"invalid viewer session: {exc}") from None


def _bearer(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _cookie(header: str, name: str) -> str | None:
    if name not in header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None
