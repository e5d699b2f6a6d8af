"""HTTP routes for accounts and sessions: sign up, log in (throttled), log out, who am I."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.clientip import ProxyTrust
from streamfleet.httpkit import json_error
from streamfleet.sessions import Session, issue_session

from .accounts import Account, normalize_username
from .config import OriginConfig
from .errors import AccountError, AccountExists, InvalidCredentials
from .ratelimit import Limits
from .web import Authenticator, json_body, resources

log = logging.getLogger(__name__)


def _account_json(account: Account) -> dict[str, object]:
    return {"id": account.id, "username": account.username, "role": account.role}


class AccountRoutes:
    """Endpoints under /v1/accounts, /v1/sessions and /v1/me."""

    def __init__(self, config: OriginConfig, auth: Authenticator, clock: Callable[[], float]) -> None:
        self.config = config
        self.auth = auth
        self.clock = clock
        self.trust = ProxyTrust(config.trusted_proxies)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/accounts", self.signup, methods=["POST"], name="signup"),
            Route("/v1/sessions", self.login, methods=["POST"], name="login"),
            Route("/v1/sessions", self.logout, methods=["DELETE"], name="logout"),
            Route("/v1/me", self.me, methods=["GET"], name="me"),
        ]

    async def signup(self, request: Request) -> Response:
        body = await json_body(request, self.config.max_json_body_bytes)
        if isinstance(body, Response):
            return body
        username, password = body.get("username"), body.get("password")
        role = body.get("role", "viewer")
        if not isinstance(username, str) or not isinstance(password, str) or not isinstance(role, str):
            return json_error(400, "username and password (strings) are required; role is optional")
        if role not in self.config.accounts.signup_roles:
            return json_error(403, f"cannot sign up as {role!r}; allowed: "
                                   f"{', '.join(self.config.accounts.signup_roles)}")
        try:
            account = await anyio.to_thread.run_sync(resources(request).accounts.create, username, password,
                                                     role)
        except AccountExists as exc:
            return json_error(409, str(exc))
        except AccountError as exc:
            return json_error(400, str(exc))
        log.info("account created", extra={"user": account.id, "role": account.role})
        return JSONResponse(_account_json(account), status_code=201)

    async def _throttled(self, request: Request, limits: Limits) -> Response | None:
        wait = await anyio.to_thread.run_sync(resources(request).logins.retry_after, limits)
        if wait <= 0:
            return None
        response = json_error(429, "too many failed logins; try again later")
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
        return response

    async def login(self, request: Request) -> Response:
        body = await json_body(request, self.config.max_json_body_bytes)
        if isinstance(body, Response):
            return body
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return json_error(400, "username and password (strings) are required")
        # Behind the web server or a load balancer every viewer has the proxy's address: the
        # client's comes from X-Forwarded-For, as far as trusted proxies vouch for it.
        peer = request.client.host if request.client else None
        address = self.trust.client_address(peer, request.headers.getlist("x-forwarded-for"))
        ip = str(address) if address is not None else "unknown"
        # The account key exists whether or not the account does: throttling reveals nothing.
        account_key = f"account:{normalize_username(username)}"
        settings = self.config.accounts
        limits = {account_key: settings.max_failures_per_account, f"ip:{ip}": settings.max_failures_per_ip}
        throttled = await self._throttled(request, limits)
        if throttled is not None:
            log.warning("login throttled", extra={"ip": ip})
            return throttled
        try:
            account = await anyio.to_thread.run_sync(resources(request).accounts.authenticate, username,
                                                     password)
        except InvalidCredentials:
            # In the shared database: every origin copy counts this failure.
            await anyio.to_thread.run_sync(resources(request).logins.record_failure, limits)
            log.info("login failed", extra={"ip": ip})
            return json_error(401, "wrong username or password")
        await anyio.to_thread.run_sync(resources(request).logins.reset, account_key)
        sessions = self.config.sessions
        now = self.clock()
        token = issue_session(self.auth.keyring, account.id, account.role, now, sessions.ttl_seconds)
        response = JSONResponse({"token": token, "expires_at": int(now) + sessions.ttl_seconds,
                                 "user": _account_json(account)}, status_code=201)
        response.set_cookie(sessions.cookie_name, token, max_age=sessions.ttl_seconds, httponly=True,
                            secure=sessions.cookie_secure, samesite="lax", path="/")
        log.info("login", extra={"user": account.id})
        return response

    async def logout(self, request: Request) -> Response:
        session = await self.auth.require(request)
        if not isinstance(session, Session):
            return session
        await anyio.to_thread.run_sync(resources(request).accounts.revoke, session.session_id,
                                       session.expires_at)
        response = Response(status_code=204)
        response.delete_cookie(self.config.sessions.cookie_name, path="/", httponly=True,
                               secure=self.config.sessions.cookie_secure, samesite="lax")
        return response

    async def me(self, request: Request) -> Response:
        session = await self.auth.require(request)
        if not isinstance(session, Session):
            return session
        account = await anyio.to_thread.run_sync(resources(request).accounts.get, session.user_id)
        if account is None:
            return json_error(401, "log in first (POST /v1/sessions)")
        return JSONResponse({**_account_json(account), "session": {
            "id": session.session_id, "role": session.role, "expires_at": session.expires_at}})
