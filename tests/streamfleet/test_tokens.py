from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet.tokens import Keyring, TokenError, TokenSettings, sign, verify

RING = Keyring.from_strings({"k1": "a" * 32, "k2": "b" * 32}, "k1")
NOW = 1_700_000_000


def test_valid_token_verifies() -> None:
    verify(RING, sign(RING, "film", NOW + 60), "film", now=NOW)


def test_expired_token_is_refused_but_leeway_tolerates_skew() -> None:
    token = sign(RING, "film", NOW - 30)
    with pytest.raises(TokenError, match="expired"):
        verify(RING, token, "film", now=NOW)
    verify(RING, token, "film", now=NOW, leeway=60)
    with pytest.raises(TokenError, match="expired"):
        verify(RING, token, "film", now=NOW + 100, leeway=60)


def test_token_for_another_title_is_refused() -> None:
    with pytest.raises(TokenError, match="signature"):
        verify(RING, sign(RING, "film", NOW + 60), "other", now=NOW)


def test_forged_signature_and_expiry_are_refused() -> None:
    kid, expiry, sig = sign(RING, "film", NOW + 60).split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(TokenError):
        verify(RING, f"{kid}.{expiry}.{flipped}", "film", now=NOW)
    with pytest.raises(TokenError):
        verify(RING, f"{kid}.{int(expiry) + 3600}.{sig}", "film", now=NOW)


def test_unknown_key_id_and_truncation_are_refused() -> None:
    token = sign(RING, "film", NOW + 60)
    with pytest.raises(TokenError, match="unknown key"):
        verify(RING, "zz" + token[2:], "film", now=NOW)
    with pytest.raises(TokenError):
        verify(RING, token[:-1], "film", now=NOW)


def test_rotation_keeps_old_key_valid_while_present() -> None:
    old = sign(RING, "film", NOW + 60)
    rotated = Keyring(RING.keys, "k2")
    verify(rotated, old, "film", now=NOW)
    assert sign(rotated, "film", NOW + 60).startswith("k2.")
    retired = Keyring({"k2": RING.keys["k2"]}, "k2")
    with pytest.raises(TokenError, match="unknown key"):
        verify(retired, old, "film", now=NOW)


def test_settings_build_a_keyring_and_reject_short_keys() -> None:
    assert TokenSettings().keyring().active == "dev"
    with pytest.raises(ValueError, match="shorter"):
        TokenSettings(keys={"dev": "short"}).keyring()


@given(st.text(max_size=120))
def test_arbitrary_text_never_verifies(text: str) -> None:
    with pytest.raises(TokenError):
        verify(RING, text, "film", now=NOW)
