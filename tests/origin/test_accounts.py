"""Accounts over HTTP: sign-up, login (throttled, revealing nothing), sessions by bearer or cookie."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.accounts import AccountStore
from origin.app import build_app
from origin.config import OriginConfig
from origin.db import Database
from origin.errors import AccountExists, InvalidCredentials
from streamfleet.sessions import verify_session

from .servers import PASSWORD, bearer, login, origin_config, serving

NOW = 1_800_000_000.0


@pytest.fixture
def config(tmp_path: Path) -> OriginConfig:
    return origin_config(tmp_path)


@pytest.fixture
def ticks() -> list[float]:
    """The app's clock (sessions and login throttling), moved on by tests."""
    return [NOW]


@pytest.fixture
def client(config: OriginConfig, ticks: list[float]) -> Iterator[httpx.Client]:
    with serving(build_app(config, clock=lambda: ticks[0])) as c:
        yield c


def signup(client: httpx.Client, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    return client.post("/v1/accounts", json={"username": username, "password": password, **extra})


def attempt(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/v1/sessions", json={"username": username, "password": password})


def test_signup_login_me_logout(client: httpx.Client, config: OriginConfig) -> None:
    created = signup(client, "Alice", role="creator")
    assert created.status_code == 201
    assert created.json()["username"] == "alice" and created.json()["role"] == "creator"
    assert "password" not in created.text

    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 201
    token = response.json()["token"]
    session = verify_session(config.sessions.keyring(), token, NOW)
    assert (session.user_id, session.role) == (created.json()["id"], "creator")
    assert response.json()["expires_at"] == int(NOW) + config.sessions.ttl_seconds
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{config.sessions.cookie_name}={token}") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()

    # The cookie the client kept works, and so does the bearer header without it.
    assert client.get("/v1/me").json()["username"] == "alice"
    client.cookies.clear()
    me = client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["role"] == "creator" and me.json()["session"]["id"]
    assert client.get("/v1/me").status_code == 401

    assert client.delete("/v1/sessions", headers=bearer(token)).status_code == 204
    revoked = client.get("/v1/me", headers=bearer(token))
    assert revoked.status_code == 401 and revoked.json()["error"]["status"] == 401
    assert client.delete("/v1/sessions", headers=bearer(token)).status_code == 401
    # A fresh login still works after logging out.
    assert attempt(client, "alice", PASSWORD).status_code == 201


def test_passwords_are_argon2id_hashes(client: httpx.Client, config: OriginConfig) -> None:
    signup(client, "bob")
    database = Database(config.accounts_path)
    try:
        [(stored,)] = database.rows("SELECT password_hash FROM users WHERE username = 'bob'")
    finally:
        database.close()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_signup_refusals(client: httpx.Client) -> None:
    assert signup(client, "carol").status_code == 201
    duplicate = signup(client, "CAROL")
    assert duplicate.status_code == 409 and "cannot be used" in duplicate.json()["error"]["message"]
    assert signup(client, "dave", password="short").status_code == 400
    assert signup(client, "x").status_code == 400
    assert signup(client, "bad name!").status_code == 400
    operator = signup(client, "eve", role="operator")
    assert operator.status_code == 403 and operator.json()["error"]["status"] == 403
    assert client.post("/v1/accounts", content=b"{not json").status_code == 400
    assert client.post("/v1/accounts", json=["list"]).status_code == 400
    assert client.post("/v1/accounts", json={"username": 3, "password": PASSWORD}).status_code == 400
    # Exactly as sent: no surrounding space, no characters that only lowercase to ASCII (the
    # Kelvin sign is "k" once lowercased), no trailing newline for a "$" to let through.
    for name in (" frank", "frank ", "\u212arank", "frank\n"):
        assert signup(client, name).status_code == 400, repr(name)


def test_failures_do_not_reveal_whether_an_account_exists(client: httpx.Client) -> None:
    signup(client, "frank")
    wrong_password = attempt(client, "frank", "not the password")
    no_such_user = attempt(client, "nobody-here", "not the password")
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()


def test_login_is_throttled_per_account(client: httpx.Client, config: OriginConfig,
                                        ticks: list[float]) -> None:
    signup(client, "grace")
    for _ in range(config.accounts.max_failures_per_account):
        assert attempt(client, "grace", "wrong password!").status_code == 401
    throttled = attempt(client, "grace", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= config.accounts.failure_window_seconds
    # An unknown account is throttled exactly the same way (nothing revealed).
    for _ in range(config.accounts.max_failures_per_account):
        ticks[0] += 0.001
    ticks[0] += config.accounts.failure_window_seconds + 1
    assert attempt(client, "grace", PASSWORD).status_code == 201


def test_unknown_account_is_throttled_like_a_real_one(tmp_path: Path, ticks: list[float]) -> None:
    # A generous per-IP limit so only the per-account limit is in play.
    from dataclasses import replace

    from .servers import FAST_ACCOUNTS

    config = origin_config(tmp_path, accounts=replace(FAST_ACCOUNTS, max_failures_per_ip=100))
    with serving(build_app(config, clock=lambda: ticks[0])) as client:
        signup(client, "heidi")
        answers = []
        for name in ("heidi", "ghost-user"):
            for _ in range(config.accounts.max_failures_per_account):
                attempt(client, name, "wrong password!")
            answers.append(attempt(client, name, "wrong password!"))
        assert [a.status_code for a in answers] == [429, 429]
        assert answers[0].json() == answers[1].json()


def test_copies_share_the_failure_counts_and_a_restart_keeps_them(config: OriginConfig,
                                                                  ticks: list[float]) -> None:
    # Two apps on one data directory are two origin copies on one database.
    with serving(build_app(config, clock=lambda: ticks[0])) as a, \
            serving(build_app(config, clock=lambda: ticks[0])) as b:
        signup(a, "kim")
        for n in range(config.accounts.max_failures_per_account):
            assert attempt((a, b)[n % 2], "kim", "wrong password!").status_code == 401
        assert attempt(a, "kim", PASSWORD).status_code == 429
        assert attempt(b, "kim", PASSWORD).status_code == 429
    with serving(build_app(config, clock=lambda: ticks[0])) as restarted:
        assert attempt(restarted, "kim", PASSWORD).status_code == 429
        ticks[0] += config.accounts.failure_window_seconds + 1
        assert attempt(restarted, "kim", PASSWORD).status_code == 201


def test_login_is_throttled_per_ip(client: httpx.Client, config: OriginConfig) -> None:
    signup(client, "ivan")
    for n in range(config.accounts.max_failures_per_ip):
        assert attempt(client, f"spray-{n}", "wrong password!").status_code == 401
    # A password spray from one address: further accounts are refused too.
    assert attempt(client, "ivan", PASSWORD).status_code == 429


def test_bad_tokens_are_401(client: httpx.Client, config: OriginConfig) -> None:
    token = login(client, "judy")
    for bad in (token[:-2] + "xx", "garbage", "s1.dev.e30.x"):
        assert client.get("/v1/me", headers=bearer(bad)).status_code == 401
    other_keys = origin_config(Path("/nonexistent"), sessions=type(config.sessions)(keys={"dev": "z" * 40}))
    from streamfleet.sessions import issue_session

    forged = issue_session(other_keys.sessions.keyring(), "someone", "operator", NOW, 600)
    assert client.get("/v1/me", headers=bearer(forged)).status_code == 401


def test_account_store_contract(config: OriginConfig, db_target: Path | str) -> None:
    store = AccountStore(db_target, config.accounts, clock=lambda: NOW)
    try:
        account = store.create("Kim", PASSWORD, "viewer")
        assert store.get(account.id) == account and account.username == "kim"
        with pytest.raises(AccountExists):
            store.create("KIM", PASSWORD, "creator")
        with pytest.raises(InvalidCredentials):
            store.authenticate("kim", "not the password")
        with pytest.raises(InvalidCredentials):
            store.authenticate("nobody", PASSWORD)
        assert store.set_role("KIM", "operator").role == "operator"
        assert store.authenticate("kim", PASSWORD).id == account.id
        assert store.get("missing") is None
        store.revoke("s1", int(NOW) + 600)
        store.revoke("s1", int(NOW) + 600)  # twice is harmless
        store.revoke("old", int(NOW) - 7200)  # long expired: pruned by the next revocation
        store.revoke("s2", int(NOW) + 600)
        assert store.is_revoked("s1") and store.is_revoked("s2") and not store.is_revoked("old")
    finally:
        store.close()
