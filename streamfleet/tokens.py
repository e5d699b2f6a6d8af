"""Signed URL tokens: HMAC-SHA256 over (key id, expiry, title), verified without any call.

Token text is ``{kid}.{expiry}.{signature}``: URL-safe, so it sits in a path segment ahead of
the title. Several keys may be valid at once (rotation): the key id picks the key.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SIG_LEN = 43  # base64url of 32 bytes, unpadded


class TokenError(Exception):
    """A token that does not grant access. The message says why (for logs, not for clients)."""


@dataclass(frozen=True)
class Keyring:
    """Signing keys by id; ``active`` is the id new tokens are signed with."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"active key id {self.active!r} is not in the keyring")
        for kid, key in self.keys.items():
            if not KID_RE.match(kid):
                raise ValueError(f"invalid key id {kid!r}")
            if len(key) < 16:
                raise ValueError(f"key {kid!r} is shorter than 16 bytes")

    @classmethod
    def from_strings(cls, keys: Mapping[str, str], active: str) -> Keyring:
        return cls({k: v.encode() for k, v in keys.items()}, active)


def _signature(key: bytes, kid: str, expiry: int, title: str) -> str:
    mac = hmac.new(key, f"{kid}.{expiry}.{title}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(keyring: Keyring, title: str, expires_at: int) -> str:
    """Return a token granting access to ``title`` until the unix time ``expires_at``."""
    kid = keyring.active
    return f"{kid}.{expires_at}.{_signature(keyring.keys[kid], kid, expires_at, title)}"


def verify(keyring: Keyring, token: str, title: str, now: float, leeway: float = 0.0) -> None:
    """Raise TokenError unless ``token`` is a valid, unexpired token for ``title``.

    ``leeway`` (seconds) tolerates clock skew between signer and verifier. Safe across tasks.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    kid, expiry_text, sig = parts
    key = keyring.keys.get(kid)
    if key is None:
        raise TokenError("unknown key id")
    if not expiry_text.isdigit() or len(expiry_text) > 12 or len(sig) != _SIG_LEN:
        raise TokenError("malformed token")
    expiry = int(expiry_text)
    expected = _signature(key, kid, expiry, title)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise TokenError("bad signature")
    if now > expiry + leeway:
        raise TokenError("token expired")


@dataclass(frozen=True)
class TokenSettings:
    """The ``[tokens]`` section every service shares: fleet keys, lifetime, allowed clock skew."""

    keys: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"dev": "streamfleet-development-key-change-me"}
    )
    active: str = "dev"
    # Lifetime of tokens steering signs.
    ttl_seconds: int = 3600
    # Clock skew tolerated between the signer and the verifier.
    leeway_seconds: int = 120

    def keyring(self) -> Keyring:
        """Raises ValueError when the keys or the active id are unusable."""
        return Keyring.from_strings(self.keys, self.active)
