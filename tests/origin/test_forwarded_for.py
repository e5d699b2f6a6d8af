"""Login throttling per client address behind a proxy: X-Forwarded-For counts only when the peer is
one of ``trusted_proxies``, read from the right up to the first address that is not a proxy."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from origin.app import build_app
from streamfleet.config import ConfigError

from .servers import FAST_ACCOUNTS, origin_config, serving

MAX_PER_IP = 3


def _fail_login(client: httpx.Client, forwarded_for: str | None, user: str) -> int:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for is not None else {}
    answer = client.post("/v1/sessions", json={"username": user, "password": "wrong password!"},
                         headers=headers)
    return answer.status_code


def _serving(tmp_path: Path, trusted: tuple[str, ...]) -> AbstractContextManager[httpx.Client]:
    accounts = replace(FAST_ACCOUNTS, max_failures_per_ip=MAX_PER_IP, max_failures_per_account=1000)
    config = origin_config(tmp_path, accounts=accounts, trusted_proxies=trusted)
    return serving(build_app(config))


def test_behind_a_trusted_proxy_each_viewer_is_counted_apart(tmp_path: Path) -> None:
    # The test client connects from 127.0.0.1: that is the (trusted) proxy.
    with _serving(tmp_path, ("127.0.0.0/8",)) as client:
        for n in range(MAX_PER_IP):
            assert _fail_login(client, "198.51.100.7", f"user{n}") == 401
        assert _fail_login(client, "198.51.100.7", "another") == 429
        # Another viewer behind the same proxy is not locked out by the first one.
        assert _fail_login(client, "203.0.113.9", "another") == 401
        # A forged entry left of the real client does not help: the right-most untrusted address
        # (the one our proxy appended) is the client.
        assert _fail_login(client, "10.9.9.9, 198.51.100.7", "another") == 429
        # Chains of trusted proxies are walked through.
        assert _fail_login(client, "198.51.100.7, 127.0.0.5", "another") == 429
        # Garbage stops the walk; the proxy itself is then all that is known.
        assert _fail_login(client, "not-an-address", "another") == 401


def test_without_trusted_proxies_the_header_is_ignored(tmp_path: Path) -> None:
    with _serving(tmp_path, ()) as client:
        for n in range(MAX_PER_IP):
            assert _fail_login(client, f"198.51.100.{n}", f"user{n}") == 401
        # Everyone came from 127.0.0.1 whatever they claimed.
        assert _fail_login(client, "203.0.113.9", "another") == 429


def test_an_untrusted_peer_cannot_pick_its_address(tmp_path: Path) -> None:
    with _serving(tmp_path, ("192.0.2.0/24",)) as client:  # some other proxy, not this client
        for n in range(MAX_PER_IP):
            assert _fail_login(client, f"198.51.100.{n}", f"user{n}") == 401
        assert _fail_login(client, "203.0.113.9", "another") == 429


def test_trusted_proxies_must_be_cidrs(tmp_path: Path) -> None:
    from origin.config import load

    with pytest.raises(ConfigError, match="trusted_proxies"):
        load(None, {"ORIGIN_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"})
    assert load(None, {"ORIGIN_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == ("10.0.0.0/8", "::1")
