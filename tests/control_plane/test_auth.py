"""Appliance secrets: fleet-wide, per appliance, and the empty-secret rule."""

from __future__ import annotations

import pytest

from control_plane.auth import SecretBook
from control_plane.errors import AccessDenied


def test_fleet_secret_admits_any_unlisted_appliance() -> None:
    book = SecretBook("fleet-secret")
    book.check("a1", "fleet-secret")
    with pytest.raises(AccessDenied) as info:
        book.check("a1", "fleet-secreT")
    assert "fleet-secre" not in str(info.value)  # never echo secrets
    with pytest.raises(AccessDenied):
        book.check("a1", "")
    with pytest.raises(AccessDenied):
        book.check("a1", "ünïcode")


def test_per_appliance_secret_overrides_the_fleet_secret() -> None:
    book = SecretBook("fleet-secret", {"special": "own-secret"})
    book.check("special", "own-secret")
    with pytest.raises(AccessDenied):
        book.check("special", "fleet-secret")
    with pytest.raises(AccessDenied):
        book.check("other", "own-secret")


def test_empty_fleet_secret_admits_only_listed_appliances() -> None:
    book = SecretBook("", {"listed": "s3cret"})
    book.check("listed", "s3cret")
    with pytest.raises(AccessDenied):
        book.check("unlisted", "")
