"""Drive schemathesis by hand over every operation of a service's ``GET /openapi.json``.

Its pytest plugin does not load under this pytest, so each operation gets a hypothesis test of
its own, in positive and negative generation; failures are collected, one line each, so a run
reports every operation that misbehaves, not just the first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

# A dev dependency (pyproject [dev]: schemathesis>=4,<5); without it the calling module is skipped.
schemathesis = pytest.importorskip("schemathesis")
GenerationMode = schemathesis.GenerationMode
from schemathesis.config import SchemathesisConfig  # noqa: E402 - only once it is known to exist
from schemathesis.transport.serialization import serialize_binary  # noqa: E402

# Called with (case, generation mode) before each request (it may change the case); returns
# extra keyword arguments of ``case.call_and_validate`` (headers, excluded_checks, ...).
Prepare = Callable[[Any, Any], dict[str, Any]]


def _tus_body(ctx: Any, value: Any) -> dict[str, Any]:
    """tus PATCH bodies are plain bytes."""
    return {"data": serialize_binary(value)}


schemathesis.serializer("application/offset+octet-stream")(_tus_body)


def run_schema(url: str, examples: int, prepare: Prepare | None = None,
               expected: dict[str, list[str]] | None = None) -> tuple[list[str], dict[str, int]]:
    """Up to ``examples`` generated requests per operation and mode against the document at ``url``.

    ``expected``: check name -> the statuses it accepts (schemathesis's ``expected-statuses``).
    Returns the failures, one line each, and the number of requests made per "operation status".
    """
    checks = {name: {"expected-statuses": statuses} for name, statuses in (expected or {}).items()}
    config = SchemathesisConfig.from_dict({"checks": checks})
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    failures: list[str] = []
    statuses: Counter[str] = Counter()
    operations: list[Any] = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            error = _drive(operation, mode, statuses, examples, prepare)
            if error is not None:
                failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures, dict(statuses)


def _drive(operation: Any, mode: Any, statuses: Counter[str], examples: int,
           prepare: Prepare | None) -> str | None:
    """Generated requests for one operation in one mode; the failure, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        response = case.call_and_validate(**(prepare(case, mode) if prepare is not None else {}))
        statuses[f"{operation.label} {response.status_code}"] += 1

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong in a bare GET
    except (Exception, schemathesis.core.failures.FailureGroup) as exc:  # every operation's, not the first
        return f"{type(exc).__name__}: {str(exc)[:800]}"
    return None


def server_errors(statuses: dict[str, int]) -> dict[str, int]:
    """The 5xx entries of ``statuses``."""
    return {key: n for key, n in statuses.items() if key.rsplit(" ", 1)[1].startswith("5")}
