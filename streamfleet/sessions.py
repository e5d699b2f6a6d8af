"""Login session tokens: signed, expiring, verifiable by any service holding the keys (no database).

The origin issues them at login; steering and the web pages verify them locally. Token text
is ``s1.{kid}.{payload}.{signature}`` where payload is
base64url of ``{session_id}:{user_id}:{role}:{issued_at}:{expires_at}`` and the signature an
HMAC-SHA256 over ``s1.{kid}.{payload}``. The ``s1`` prefix is also the HMAC's domain separation:
a URL token (streamfleet.tokens) can never pass as a session even under the same key.
Revocation (logout) is a list of session ids kept by whoever issues sessions; verifiers that
cannot see it accept a session until its (short) expiry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamfleet.tokens import Keyring

VERSION = "s1"
ROLES = ("viewer", "creator", "operator")
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_USER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SIG_LEN = 43  # base64url of 32 bytes, unpadded
_MAX_TOKEN = 512


class SessionError(Exception):
    """A session token that does not authenticate anyone. The message is for logs, not clients."""


@dataclass(frozen=True)
class Session:
    """Who a verified token speaks for, and until when."""

    session_id: str
    user_id: str
    role: str
    issued_at: int
    expires_at: int
    kid: str

    def has_role(self, *roles: str) -> bool:
        """True when the session's role is one of ``roles``; an operator has every role."""
        return self.role in roles or self.role == "operator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def new_session_id() -> str:
    """A random, URL-safe session id (128 bits)."""
    return secrets.token_urlsafe(16)


def issue_session(keyring: Keyring, user_id: str, role: str, now: float, ttl: int,
                  session_id: str | None = None) -> str:
    """A token for ``user_id`` acting as ``role``, valid from ``now`` for ``ttl`` seconds.

    ``session_id`` None draws a random one. Signed with the keyring's active key.
    Raises ValueError for an unknown role, a bad id or a non-positive ttl. Safe across tasks.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not _USER_ID_RE.match(user_id):
        raise ValueError(f"invalid user id {user_id!r}")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    sid = session_id if session_id is not None else new_session_id()
    if not _SESSION_ID_RE.match(sid):
        raise ValueError(f"invalid session id {sid!r}")
    issued = int(now)
    payload = _b64(f"{sid}:{user_id}:{role}:{issued}:{issued + ttl}".encode())
    kid = keyring.active
    signed = f"{VERSION}.{kid}.{payload}"
    return f"{signed}.{_signature(keyring.keys[kid], signed)}"


def verify_session(keyring: Keyring, token: str, now: float, leeway: float = 0.0) -> Session:
    """The session ``token`` speaks for. Raises SessionError when it is malformed, signed with an
    unknown key, forged, or expired (``leeway`` seconds of clock skew tolerated). Does not consult
    any revocation list. Safe across tasks; constant-time signature comparison.
    """
    if len(token) > _MAX_TOKEN:
        raise SessionError("token too long")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise SessionError("malformed session token")
    _, kid, payload, sig = parts
    key = keyring.keys.get(kid)
    if key is None:
        raise SessionError("unknown key id")
    if len(sig) != _SIG_LEN:
        raise SessionError("malformed session token")
    expected = _signature(key, f"{VERSION}.{kid}.{payload}")
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise SessionError("bad signature")
    try:
        fields = _unb64(payload).decode("ascii").split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SessionError("malformed session payload") from None
    if len(fields) != 5 or not fields[3].isdigit() or not fields[4].isdigit():
        raise SessionError("malformed session payload")
    sid, user_id, role, issued, expires = fields
    if role not in ROLES:
        raise SessionError("unknown role")
    session = Session(sid, user_id, role, int(issued), int(expires), kid)
    if now > session.expires_at + leeway:
        raise SessionError("session expired")
    return session


def _default_session_keys() -> dict[str, str]:
    return {"dev": "streamfleet-development-session-key-change-me"}


@dataclass(frozen=True)
class SessionSettings:
    """The ``[sessions]`` section: login session signing keys (rotatable by key id) and lifetime."""

    keys: Mapping[str, str] = field(default_factory=_default_session_keys)
    # Key id new sessions are signed with; every key in ``keys`` still verifies.
    active: str = "dev"
    ttl_seconds: int = 86400
    # Clock skew tolerated between the issuer and a verifier.
    leeway_seconds: int = 30
    cookie_name: str = "sf_session"
    # Send the cookie over HTTPS only; false for the plain-HTTP loopback default.
    cookie_secure: bool = False

    def __post_init__(self) -> None:
        if self.ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        self.keyring()

    def keyring(self) -> Keyring:
        """Raises ValueError when the keys or the active id are unusable."""
        return Keyring.from_strings(self.keys, self.active)
