"""schemathesis against the running appliance and steering: every answer is declared in their
``GET /openapi.json`` (statuses, content types, bodies) and none is a 5xx. Bounded: a few dozen
generated requests per operation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from streamfleet.launcher import ServiceProcess, free_port, streamfleet_argv, write_toml

from .procs import SoloAppliance
from .standins import StandInOrigin, make_title

# A dev dependency (pyproject [dev]: schemathesis>=4,<5); without it this module is skipped.
schemathesis = pytest.importorskip("schemathesis")
GenerationMode = schemathesis.GenerationMode

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
    workdir = tmp_path_factory.mktemp("steering-described")
    port = free_port()
    config = write_toml(workdir / "steering.toml", {
        "host": "127.0.0.1", "port": port, "control_plane": f"127.0.0.1:{free_port()}",
        "origin_url": origin.url, "startup_wait_seconds": 0, "popularity_interval_seconds": 0,
        "require_session": False,
    })  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess("steering", streamfleet_argv("steering", "serve", "--config", str(config)),
                             workdir / "steering.log", f"{url}/healthz")
    process.start()
    try:
        process.wait_healthy(20)
        yield url
    finally:
        process.stop()


def run_schema(url: str) -> tuple[list[str], dict[str, int]]:
    """Drive schemathesis by hand over every operation of the document at ``url`` (its pytest
    plugin does not load under this pytest); returns the failures, one line each, and the
    number of requests made per status."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    operations: list[Any] = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            error = _drive(operation, mode, statuses)
            if error is not None:
                failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures, dict(statuses)


def _drive(operation: Any, mode: Any, statuses: Counter[str]) -> str | None:
    """Generated requests for one operation in one mode; the failure, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @BOUNDED
    def check(case: Any) -> None:
        response = case.call_and_validate()
        statuses[f"{operation.label} {response.status_code}"] += 1

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong in a bare GET
    except Exception as exc:  # report every operation's failure, not just the first
        return f"{type(exc).__name__}: {str(exc)[:800]}"
    return None


BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                   database=None)


def test_appliance_answers_as_documented(appliance_url: str) -> None:
    failures, statuses = run_schema(appliance_url)
    assert failures == []
    assert sum(statuses.values()) > 100, statuses
    assert not any(key.endswith(("500", "502", "503", "504")) for key in statuses), statuses


def test_steering_answers_as_documented(steering_url: str) -> None:
    failures, statuses = run_schema(steering_url)
    assert failures == []
    assert sum(statuses.values()) > 50, statuses
    assert not any(key.rsplit(" ", 1)[1].startswith("5") for key in statuses), statuses


def test_documents_are_served(appliance_url: str, steering_url: str, tmp_path: Path) -> None:
    import httpx

    for url in (appliance_url, steering_url):
        doc = httpx.get(f"{url}/openapi.json", timeout=5).json()
        assert doc["openapi"].startswith("3.1") and doc["paths"]
