from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet.sessions import SessionError, issue_session, verify_session
from streamfleet.tokens import Keyring

RING = Keyring.from_strings({"s1": "x" * 32, "s2": "y" * 32}, "s1")
NOW = 1_700_000_000


def test_round_trip_and_roles() -> None:
    token = issue_session(RING, "u-1", "creator", "sid-9", NOW + 60)
    session = verify_session(RING, token, NOW)
    assert (session.user_id, session.role, session.session_id) == ("u-1", "creator", "sid-9")
    assert session.has_role("creator") and not session.has_role("viewer")
    assert verify_session(RING, issue_session(RING, "op", "operator", "s", NOW + 1), NOW).has_role("creator")


def test_expired_forged_and_unknown_key_are_refused() -> None:
    token = issue_session(RING, "u-1", "viewer", "sid", NOW - 1)
    with pytest.raises(SessionError, match="expired"):
        verify_session(RING, token, NOW)
    kid, payload, sig = issue_session(RING, "u-1", "viewer", "sid", NOW + 60).split(".")
    forged_payload = issue_session(RING, "u-1", "operator", "sid", NOW + 60).split(".")[1]
    with pytest.raises(SessionError, match="signature"):
        verify_session(RING, f"{kid}.{forged_payload}.{sig}", NOW)
    with pytest.raises(SessionError, match="unknown"):
        verify_session(Keyring.from_strings({"s2": "y" * 32}, "s2"), f"{kid}.{payload}.{sig}", NOW)
    with pytest.raises(ValueError):
        issue_session(RING, "u", "admin", "sid", NOW)


@given(st.text(max_size=200))
def test_arbitrary_text_is_refused(text: str) -> None:
    with pytest.raises(SessionError):
        verify_session(RING, text, NOW)
