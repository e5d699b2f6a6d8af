"""One playback's request id, as steering returned it, in the steering, appliance and origin logs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from player.session import PlayReport, play
from streamfleet.launcher import Fleet

from .conftest import fleet_with_title

pytestmark = pytest.mark.e2e

TITLE = "trace-clip"
APPLIANCES = ("east-1", "east-2")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # No fill agent: the appliances stay cold, so the playback misses and reaches the origin.
    with fleet_with_title(tmp_path_factory.mktemp("trace"), "Trace Clip", TITLE,
                          extra={"appliance": {"fill_enabled": False}}) as f:
        yield f


def access_lines(fleet: Fleet, service: str) -> list[dict[str, Any]]:
    """The JSON access lines of ``service``'s log file (other output in it is skipped)."""
    lines = []
    for text in (fleet.workdir / "logs" / f"{service}.log").read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("logger") == "streamfleet.access":
            lines.append(line)
    return lines


def traced(fleet: Fleet, service: str, request_id: str) -> list[dict[str, Any]]:
    return [line for line in access_lines(fleet, service) if line.get("request_id") == request_id]


def play_recording_steering(fleet: Fleet, session: str) -> tuple[PlayReport, list[dict[str, Any]]]:
    """Play TITLE once through steering; also returns steering's answers as the player got them."""
    answers: list[dict[str, Any]] = []

    async def record(response: httpx.Response) -> None:
        if response.url.path == "/v1/playback":
            await response.aread()
            answers.append({"body": response.json(), "header": response.headers.get("x-request-id")})

    async def run() -> PlayReport:
        async with httpx.AsyncClient(timeout=10, event_hooks={"response": [record]}) as client:
            return await play(fleet.steering_url, TITLE, client=client, origin_url=fleet.origin_url,
                              session=session)

    return asyncio.run(run()), answers


def test_one_request_id_follows_a_cold_playback_through_steering_appliance_and_origin(fleet: Fleet) -> None:
    session = fleet.viewer_session()
    report, answers = play_recording_steering(fleet, session)
    assert report.ok, report.errors
    assert report.misses > 0, "the appliances were cold: the playback must miss"
    [answer] = answers
    request_id = answer["body"]["request_id"]
    assert isinstance(request_id, str) and request_id == answer["header"]

    # The origin writes its line when its response ends, a moment after the player has the bytes.
    deadline = time.monotonic() + 5
    while not traced(fleet, "origin", request_id) and time.monotonic() < deadline:
        time.sleep(0.05)

    [steered] = traced(fleet, "steering", request_id)
    assert (steered["method"], steered["path"], steered["status"]) == ("POST", "/v1/playback", 200)
    assert steered["service"] == "steering" and steered["bytes"] > 0 and steered["client"] == "127.0.0.1"

    appliance = [line for name in APPLIANCES for line in traced(fleet, name, request_id)]
    assert appliance, "the appliances logged none of the playback's requests"
    assert all(line["path"].startswith(f"/s/-/{TITLE}/") for line in appliance)
    assert all(line["status"] in (200, 206) and line["method"] in ("GET", "HEAD") for line in appliance)

    origin = traced(fleet, "origin", request_id)
    assert origin, "the origin logged no miss of the playback under its request id"
    assert all(line["path"].startswith(f"/s/-/{TITLE}/") and line["status"] == 200 for line in origin)
    # Every file the origin sent for this playback was asked for by an appliance under the same id.
    assert {line["path"] for line in origin} <= {line["path"] for line in appliance}
    assert all(line["duration_ms"] >= 0 and line["bytes"] > 0 for line in origin)

    # No signed URL token (nor the viewer's session) ever reaches a log file.
    tokens = {url["url"].split("/s/", 1)[1].split("/", 1)[0] for url in answer["body"]["urls"]}
    assert tokens and all(len(token) > 40 for token in tokens)
    tokens.add(session)
    for name in ("steering", "origin", "control-plane", *APPLIANCES):
        text = (fleet.workdir / "logs" / f"{name}.log").read_text(errors="replace")
        assert not any(token in text for token in tokens), f"a token is in the {name} log"


def test_another_playback_gets_another_id(fleet: Fleet) -> None:
    ids = set()
    for _ in range(2):
        report, answers = play_recording_steering(fleet, fleet.viewer_session())
        assert report.ok, report.errors
        ids.add(answers[0]["body"]["request_id"])
    assert len(ids) == 2
    for request_id in ids:
        assert len(traced(fleet, "steering", request_id)) == 1
