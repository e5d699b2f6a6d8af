"""schemathesis against the running appliance and steering: every answer is declared in their
``GET /openapi.json`` (statuses, content types, bodies) and none is a 5xx. Bounded: a few dozen
generated requests per operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamfleet.launcher import free_port

from .openapi_run import run_schema, server_errors
from .procs import SOLO_STEERING, SoloAppliance, served
from .standins import StandInOrigin, make_title

pytestmark = pytest.mark.e2e

TITLE = "described"
EXAMPLES = 30


@pytest.fixture(scope="module")
def origin() -> Iterator[StandInOrigin]:
    with StandInOrigin({TITLE: make_title(TITLE, segments=2)}) as origin:
        yield origin


@pytest.fixture(scope="module")
def appliance_url(tmp_path_factory: pytest.TempPathFactory, origin: StandInOrigin) -> Iterator[str]:
    with SoloAppliance(tmp_path_factory.mktemp("described"), origin.url) as appliance:
        yield appliance.url


@pytest.fixture(scope="module")
def steering_url(tmp_path_factory: pytest.TempPathFactory, origin: StandInOrigin) -> Iterator[str]:
    port = free_port()
    with served(tmp_path_factory.mktemp("steering-described"), "steering", port, {
        **SOLO_STEERING, "port": port, "control_plane": f"127.0.0.1:{free_port()}", "origin_url": origin.url,
    }, clean_exit=False) as url:  # fmt: skip
        yield url


def test_appliance_answers_as_documented(appliance_url: str) -> None:
    failures, statuses = run_schema(appliance_url, EXAMPLES)
    assert failures == []
    assert sum(statuses.values()) > 100, statuses
    assert server_errors(statuses) == {}, statuses


def test_steering_answers_as_documented(steering_url: str) -> None:
    failures, statuses = run_schema(steering_url, EXAMPLES)
    assert failures == []
    assert sum(statuses.values()) > 50, statuses
    assert server_errors(statuses) == {}, statuses


def test_documents_are_served(appliance_url: str, steering_url: str, tmp_path: Path) -> None:
    import httpx

    for url in (appliance_url, steering_url):
        doc = httpx.get(f"{url}/openapi.json", timeout=5).json()
        assert doc["openapi"].startswith("3.1") and doc["paths"]
