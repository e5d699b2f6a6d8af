"""Session tokens: pure issue/verify functions, rotation, tampering and expiry."""

from __future__ import annotations

import pytest

from streamfleet.sessions import Session, SessionError, issue_session, verify_session
from streamfleet.tokens import Keyring, sign

NOW = 1_800_000_000.0
OLD = Keyring.from_strings({"k1": "a" * 32}, "k1")
ROTATED = Keyring.from_strings({"k1": "a" * 32, "k2": "b" * 32}, "k2")


def test_round_trip() -> None:
    token = issue_session(OLD, "u1", "creator", NOW, 600, session_id="sess-12345")
    assert verify_session(OLD, token, NOW + 599) == Session("sess-12345", "u1", "creator", int(NOW),
                                                            int(NOW) + 600, "k1")


def test_random_session_ids_differ() -> None:
    a = verify_session(OLD, issue_session(OLD, "u1", "viewer", NOW, 60), NOW)
    b = verify_session(OLD, issue_session(OLD, "u1", "viewer", NOW, 60), NOW)
    assert a.session_id != b.session_id


def test_rotation_keeps_old_sessions_valid() -> None:
    old = issue_session(OLD, "u1", "viewer", NOW, 600)
    new = issue_session(ROTATED, "u1", "viewer", NOW, 600)
    assert verify_session(ROTATED, old, NOW).kid == "k1"
    assert verify_session(ROTATED, new, NOW).kid == "k2"
    with pytest.raises(SessionError, match="unknown key"):
        verify_session(OLD, new, NOW)  # a verifier that has not learnt k2 yet


def test_expiry_and_leeway() -> None:
    token = issue_session(OLD, "u1", "viewer", NOW, 60)
    verify_session(OLD, token, NOW + 60)
    with pytest.raises(SessionError, match="expired"):
        verify_session(OLD, token, NOW + 61)
    assert verify_session(OLD, token, NOW + 80, leeway=30).user_id == "u1"


def test_tampering_is_detected() -> None:
    token = issue_session(OLD, "u1", "viewer", NOW, 60, session_id="sess-12345")
    version, kid, payload, sig = token.split(".")
    forged_payload = issue_session(OLD, "u1", "operator", NOW, 60, session_id="sess-12345").split(".")[2]
    attempts = [
        f"{version}.{kid}.{forged_payload}.{sig}",  # role raised to operator, old signature
        f"{version}.{kid}.{payload}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
        issue_session(Keyring.from_strings({"k1": "c" * 32}, "k1"), "u1", "viewer", NOW, 60),  # wrong key
        "s0." + token[3:],
        token + ".x",
        "garbage",
        "",
        "s1.k1.!!!!." + sig,
        "x" * 600,
        sign(OLD, "u1", int(NOW) + 60),  # a URL token under the same key is not a session
    ]
    for attempt in attempts:
        with pytest.raises(SessionError):
            verify_session(OLD, attempt, NOW)


@pytest.mark.parametrize(("user", "role", "ttl"),
                         [("u1", "admin", 60), ("a:b", "viewer", 60), ("u1", "viewer", 0)])
def test_bad_issue_arguments(user: str, role: str, ttl: int) -> None:
    with pytest.raises(ValueError):
        issue_session(OLD, user, role, NOW, ttl)


def test_operator_has_every_role() -> None:
    operator = verify_session(OLD, issue_session(OLD, "u1", "operator", NOW, 60), NOW)
    viewer = verify_session(OLD, issue_session(OLD, "u2", "viewer", NOW, 60), NOW)
    assert operator.has_role("creator") and not viewer.has_role("creator") and viewer.has_role("viewer")
