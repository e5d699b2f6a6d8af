"""Fixtures of the scale-out tests: the session's PostgreSQL and S3-compatible servers."""

from __future__ import annotations

import pytest

from .backends import PostgresServer, S3Server, postgres_server, s3_server


@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest) -> PostgresServer:
    return postgres_server(request)


@pytest.fixture(scope="module")
def s3(request: pytest.FixtureRequest) -> S3Server:
    return s3_server(request)
