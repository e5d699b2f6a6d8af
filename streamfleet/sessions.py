"""Viewer sessions: signed, expiring tokens any service can verify without a database call.

The origin issues them at login; steering and the web pages verify them locally. Text form:
``{kid}.{payload}.{signature}`` with a base64url JSON payload ``{"sub", "role", "sid", "exp"}``
and an HMAC-SHA256 signature over ``{kid}.{payload}``. Keys rotate like URL-token keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from streamfleet.tokens import Keyring

ROLES = ("viewer", "creator", "operator")
_MAX_TOKEN = 1024


class SessionError(Exception):
    """A session token that grants nothing (malformed, forged, expired, unknown key)."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    role: str
    session_id: str
    expires_at: int

    def has_role(self, *roles: str) -> bool:
        """True when the session's role is one of ``roles``; operators may do everything."""
        return self.role in roles or self.role == "operator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def issue_session(keyring: Keyring, user_id: str, role: str, session_id: str, expires_at: int) -> str:
    """Return a session token. Raises ValueError for an unknown role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    payload = _b64(json.dumps(
        {"sub": user_id, "role": role, "sid": session_id, "exp": int(expires_at)},
        separators=(",", ":"),
    ).encode())
    kid = keyring.active
    signed = f"{kid}.{payload}"
    return f"{signed}.{_mac(keyring.keys[kid], signed)}"


def verify_session(keyring: Keyring, token: str, now: float, leeway: float = 0.0) -> Session:
    """Return the session ``token`` grants, or raise SessionError. Safe across tasks."""
    if len(token) > _MAX_TOKEN:
        raise SessionError("malformed session")
    parts = token.split(".")
    if len(parts) != 3:
        raise SessionError("malformed session")
    kid, payload, sig = parts
    key = keyring.keys.get(kid)
    if key is None:
        raise SessionError("unknown session key")
    if not hmac.compare_digest(_mac(key, f"{kid}.{payload}").encode(), sig.encode()):
        raise SessionError("bad session signature")
    try:
        data = json.loads(_unb64(payload))
        session = Session(str(data["sub"]), str(data["role"]), str(data["sid"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SessionError("malformed session payload") from exc
    if session.role not in ROLES:
        raise SessionError("unknown role")
    if now > session.expires_at + leeway:
        raise SessionError("session expired")
    return session
