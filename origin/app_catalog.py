"""HTTP routes for catalog search, metadata edits (creators and operators) and play counting."""

from __future__ import annotations

import datetime
import re
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.httpkit import json_error
from streamfleet.sessions import Session

from .errors import TitleNotFound
from .web import Authenticator, json_body, resources

MAX_LIMIT = 100
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LIMIT_RE = re.compile(r"[0-9]{1,9}")
EDITABLE = ("name", "description", "tags", "cast", "release_date")


def query_limit(request: Request, default: int) -> int | None:
    """The ``limit`` query parameter capped at MAX_LIMIT, ``default`` when absent; None when it is
    not a positive integer (ASCII digits only: ``int()`` would take "٣" and choke on "²")."""
    text = request.query_params.get("limit")
    if text is None:
        return default
    return min(int(text), MAX_LIMIT) if _LIMIT_RE.fullmatch(text) and int(text) > 0 else None


def _release_date(value: object) -> str:
    """"" or a real YYYY-MM-DD date. Raises ValueError."""
    if isinstance(value, str) and (value == "" or _DATE_RE.fullmatch(value)):
        try:
            if value:
                datetime.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ValueError("release_date must be a YYYY-MM-DD date, or empty")


def parse_edit(body: dict[str, object]) -> dict[str, Any]:
    """The fields of a PATCH /v1/titles/{id} body, checked: a key present with null or the wrong
    type is an error, not "unchanged". Raises ValueError naming the field."""
    unknown = set(body) - set(EDITABLE)
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
    edit: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        edit["name"] = name
    if "description" in body:
        if not isinstance(body["description"], str):
            raise ValueError("description must be a string")
        edit["description"] = body["description"]
    if "release_date" in body:
        edit["release_date"] = _release_date(body["release_date"])
    if "tags" in body:
        edit["tags"] = _strings(body["tags"], "tags", lower=True)
    if "cast" in body:
        edit["cast"] = _strings(body["cast"], "cast")
    return edit


def _strings(value: object, field: str, lower: bool = False) -> tuple[str, ...]:
    """A JSON list of strings (or a comma-separated string) as a tuple. Raises ValueError."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{field} must be a list of strings")
    cleaned = [i.strip().lower() if lower else i.strip() for i in items]
    return tuple(dict.fromkeys(i for i in cleaned if i))[:100]


class CatalogRoutes:
    """Search, edits and plays. Edits need the creator who owns the title, or an operator."""

    def __init__(self, auth: Authenticator, max_json_body_bytes: int) -> None:
        self.auth = auth
        self.max_json_body_bytes = max_json_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/v1/search", self.search, methods=["GET"], name="search"),
            Route("/v1/titles/{title}", self.edit, methods=["PATCH"], name="title_edit"),
            Route("/v1/titles/{title}/plays", self.play, methods=["POST"], name="title_play"),
        ]

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:200]
        tag = request.query_params.get("tag") or None
        limit = query_limit(request, 20)
        if limit is None:
            return json_error(400, "limit must be a positive integer")
        result = await anyio.to_thread.run_sync(resources(request).catalog.search, query, tag, limit)
        body: dict[str, object] = {"query": query, "tag": tag, "results": [
            {"id": h.id, "name": h.name, "score": round(h.score, 4)} for h in result.hits]}
        if result.corrected is not None:
            body["corrected"] = result.corrected
        return JSONResponse(body)

    async def edit(self, request: Request) -> Response:
        session = await self.auth.require(request, "creator")
        if not isinstance(session, Session):
            return session
        title_id = str(request.path_params["title"])
        res = resources(request)
        try:
            meta = await anyio.to_thread.run_sync(res.catalog.meta, title_id)
        except TitleNotFound:
            return json_error(404, f"unknown title {title_id[:80]!r}")
        if session.role != "operator" and meta.owner != session.user_id:
            return json_error(403, "only the title's creator or an operator may edit it")
        body = await json_body(request, self.max_json_body_bytes)
        if isinstance(body, Response):
            return body
        try:
            edit = parse_edit(body)
        except ValueError as exc:
            return json_error(400, str(exc))
        try:
            await anyio.to_thread.run_sync(lambda: res.catalog.update_meta(title_id, **edit))
        except TitleNotFound:
            return json_error(404, f"unknown title {title_id[:80]!r}")
        res.details.pop(title_id, None)
        updated = await anyio.to_thread.run_sync(res.catalog.meta, title_id)
        return JSONResponse({"id": title_id, "description": updated.description, "tags": list(updated.tags),
                             "cast": list(updated.cast), "release_date": updated.release_date})

    async def play(self, request: Request) -> Response:
        """Count one play (reported by players or steering with any session): the "popular" order."""
        session = await self.auth.require(request)
        if not isinstance(session, Session):
            return session
        title_id = str(request.path_params["title"])
        try:
            await anyio.to_thread.run_sync(resources(request).catalog.count_play, title_id)
        except TitleNotFound:
            return json_error(404, f"unknown title {title_id[:80]!r}")
        return Response(status_code=204)
