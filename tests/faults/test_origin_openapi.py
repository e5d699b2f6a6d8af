"""schemathesis against a real origin holding one ready title, logged in as an operator: every
answer is declared in its ``GET /openapi.json`` (statuses, content types, bodies) and none is a
5xx. Half the positive cases are pointed at the real title (and, for signed files, carry a
valid token), so the 200/206/304 paths are exercised, not only the refusals. Bounded: about
10 generated requests per operation and mode."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamfleet import tokens
from streamfleet.addressing import parse_key
from streamfleet.launcher import streamfleet_argv

from .openapi_run import GenerationMode, run_schema, schemathesis, server_errors
from .origin_proc import FAST_ACCOUNTS, SoloOrigin

pytestmark = pytest.mark.e2e

TITLE = "described-origin"
OPERATOR = "schema-operator"
EXAMPLES = 10
KEYRING = tokens.TokenSettings().keyring()  # the origin runs with the default [tokens] section


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoloOrigin]:
    workdir = tmp_path_factory.mktemp("origin-described")
    clip = workdir / "clip.mp4"
    done = subprocess.run(
        streamfleet_argv("testclip", str(clip), "--seconds", "4", "--width", "320", "--height", "180"),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    # Generated logins fail by the hundred from 127.0.0.1: per-address throttling would soon
    # answer everything with 429 (declared, but it would hide the rest).
    origin = SoloOrigin(workdir, accounts={**FAST_ACCOUNTS, "max_failures_per_ip": 1_000_000})
    origin.ingest(clip, TITLE)
    origin.account(OPERATOR, "operator")
    with origin:
        yield origin


def _aim_at_the_title(origin: SoloOrigin) -> Any:
    """A ``prepare`` for run_schema: the operator's session on every request (a fresh one for
    logging out, which revokes it), and every other positive case aimed at the real title."""
    session = origin.login(OPERATOR)
    turn = itertools.count()
    files = httpx.get(f"{origin.url}/v1/titles/{TITLE}", timeout=5).json()["files"]
    segment = parse_key(next(key for key in files if key.endswith(".m4s")))

    def prepare(case: Any, mode: Any) -> dict[str, Any]:
        label = case.operation.label
        token = origin.login(OPERATOR) if label == "DELETE /v1/sessions" else session
        params = case.path_parameters
        if mode is GenerationMode.POSITIVE and params and "title" in params and next(turn) % 2 == 0:
            params["title"] = TITLE
            if "rendition" in params:
                params["rendition"] = segment.rendition
            if "segment" in params:
                params["segment"] = segment.name
            if "token" in params:
                params["token"] = tokens.sign(KEYRING, TITLE, int(time.time()) + 600)
        call: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
        if " /s/" in label:
            # Any string is a schema-valid Range, yet "bytes=9999-" of a small file is a 416 and
            # "x" a 400: right answers that positive_data_acceptance would call refusals.
            call["excluded_checks"] = [schemathesis.checks.positive_data_acceptance]
        return call

    return prepare


def test_origin_answers_as_documented(origin: SoloOrigin) -> None:
    started = time.monotonic()
    failures, statuses = run_schema(origin.url, EXAMPLES, _aim_at_the_title(origin), expected={
        # 412: tus requests without Tus-Resumable: 1.0.0 (the tus protocol's own answer).
        "negative_data_rejection": ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415",
                                    "422", "428", "429"],
        # 413: a schema-valid Upload-Length above [uploads] max_size.
        "positive_data_acceptance": ["2xx", "3xx", "401", "403", "404", "409", "413", "429"],
    })
    assert failures == [], "\n".join(failures)
    assert server_errors(statuses) == {}, statuses
    assert sum(statuses.values()) > 300, statuses
    # The real title was reached: its details, and its files (whole or ranged) down to segments.
    assert statuses.get("GET /v1/titles/{title} 200"), statuses
    assert statuses.get("PATCH /v1/titles/{title} 200"), statuses
    assert any(k.startswith("GET /s/{token}/{title}/{rendition}/{segment} 20") for k in statuses), statuses
    assert time.monotonic() - started < 60


def test_the_document_is_served_and_names_every_route(origin: SoloOrigin, tmp_path: Path) -> None:
    doc = httpx.get(f"{origin.url}/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    for path in ("/v1/accounts", "/v1/sessions", "/v1/me", "/v1/titles", "/v1/titles/{title}",
                 "/v1/titles/{title}/plays", "/v1/search", "/v1/uploads", "/v1/uploads/{upload_id}",
                 "/s/{token}/{title}/master.m3u8", "/healthz", "/metrics", "/openapi.json"):
        assert path in paths
    assert set(doc["paths"]["/v1/sessions"]) == {"post", "delete"}
