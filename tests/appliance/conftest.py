"""Fixtures shared by the appliance tests: every HTTP test runs against both front ends."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["fast", "uvicorn"])
def server_kind(request: pytest.FixtureRequest) -> str:
    """The appliance HTTP front end under test ("fast" sendfile server or plain uvicorn)."""
    kind: str = request.param
    return kind
