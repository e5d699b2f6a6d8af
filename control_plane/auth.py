"""Appliance authentication: the shared fleet secret, overridable per appliance."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from .errors import AccessDenied


class SecretBook:
    """Knows which secret each appliance must present. Immutable, so safe across tasks."""

    def __init__(self, fleet_secret: str, appliance_secrets: Mapping[str, str] | None = None) -> None:
        self._fleet = fleet_secret.encode()
        self._per_appliance = {k: v.encode() for k, v in (appliance_secrets or {}).items()}

    def check(self, appliance_id: str, presented: str) -> None:
        """Raise AccessDenied unless ``presented`` is the secret expected from ``appliance_id``.

        An empty expected secret never matches, so an empty fleet_secret admits only the
        appliances listed individually. Constant-time in the secret's content.
        """
        expected = self._per_appliance.get(appliance_id, self._fleet)
        # compare_digest on bytes: its str form rejects non-ASCII input with a TypeError.
        matches = hmac.compare_digest(expected, presented.encode())
        if not expected or not matches:
            raise AccessDenied(f"appliance {appliance_id!r} presented a missing or wrong secret")
