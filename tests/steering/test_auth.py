from __future__ import annotations

import pytest

from steering.auth import SessionGate
from steering.errors import Unauthenticated
from streamfleet.sessions import SessionSettings, issue_session
from streamfleet.tokens import Keyring

NOW = 1_700_000_000.0
SETTINGS = SessionSettings(
    keys={"k1": "first-session-key-0123", "k2": "second-session-key-4567"}, active="k2"
)


def session(kid: str = "k2", expires: float = NOW + 3600, key: str | None = None) -> str:
    keys = dict(SETTINGS.keys)
    if key is not None:
        keys[kid] = key
    return issue_session(Keyring.from_strings(keys, kid), "user-1", "viewer", 0, int(expires))


def gate(required: bool = True) -> SessionGate:
    return SessionGate(SETTINGS, required=required, clock=lambda: NOW)


def test_bearer_and_cookie_sessions_are_verified_with_any_configured_key() -> None:
    got = gate().check(f"Bearer {session()}", None)
    assert got is not None and (got.user_id, got.role) == ("user-1", "viewer")
    assert gate().check(f"bearer   {session('k1')}  ", None) is not None
    assert gate().check(None, f"theme=dark; sf_session={session()}; other=1") is not None


def test_anonymous_forged_expired_and_malformed_are_refused() -> None:
    refused = [
        (None, None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer ", None),
        (f"Bearer {session(key='attacker-chosen-key-000')}", None),
        (f"Bearer {session(kid='k3', key='unknown-key-id-00000')}", None),
        (f"Bearer {session(expires=NOW - 3600)}", None),
        ("Bearer not.a.session", None),
        (None, "sf_session="),
        (None, 'sf_session="unterminated'),
        (None, "other=1"),
    ]
    for authorization, cookie in refused:
        with pytest.raises(Unauthenticated):
            gate().check(authorization, cookie)


def test_within_leeway_is_accepted() -> None:
    assert gate().check(f"Bearer {session(expires=NOW - 10)}", None) is not None


def test_optional_sessions_let_anonymous_through_but_still_refuse_bad_ones() -> None:
    assert gate(required=False).check(None, None) is None
    with pytest.raises(Unauthenticated):
        gate(required=False).check(f"Bearer {session(expires=NOW - 3600)}", None)
