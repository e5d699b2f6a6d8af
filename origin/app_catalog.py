"""HTTP routes for catalog search, metadata edits (creators and operators) and play counting."""

from __future__ import annotations

import re

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.httpkit import json_error
from streamfleet.sessions import Session

from .errors import TitleNotFound
from .web import Authenticator, json_body, resources

MAX_LIMIT = 100
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _limit(request: Request, default: int) -> int | None:
    text = request.query_params.get("limit", str(default))
    return min(int(text), MAX_LIMIT) if text.isdigit() and int(text) > 0 else None


def _strings(value: object, field: str, lower: bool = False) -> tuple[str, ...]:
    """A JSON list of strings (or a comma-separated string) as a tuple. Raises ValueError."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{field} must be a list of strings")
    cleaned = [i.strip().lower() if lower else i.strip() for i in items]
    return tuple(dict.fromkeys(i for i in cleaned if i))[:100]


class CatalogRoutes:
    """Search, edits and plays. Edits need the creator who owns the title, or an operator."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def routes(self) -> list[Route]:
        return [
            Route("/v1/search", self.search, methods=["GET"], name="search"),
            Route("/v1/titles/{title}", self.edit, methods=["PATCH"], name="title_edit"),
            Route("/v1/titles/{title}/plays", self.play, methods=["POST"], name="title_play"),
        ]

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:200]
        tag = request.query_params.get("tag") or None
        limit = _limit(request, 20)
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
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"name", "description", "tags", "cast", "release_date"}
        if unknown:
            return json_error(400, f"unknown field {sorted(unknown)[0]!r}")
        try:
            name = body.get("name")
            description = body.get("description")
            release = body.get("release_date")
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ValueError("name must be a non-empty string")
            if description is not None and not isinstance(description, str):
                raise ValueError("description must be a string")
            if release is not None and (not isinstance(release, str) or
                                        (release and not _DATE_RE.match(release))):
                raise ValueError("release_date must be YYYY-MM-DD")
            tags = _strings(body["tags"], "tags", lower=True) if "tags" in body else None
            cast = _strings(body["cast"], "cast") if "cast" in body else None
        except ValueError as exc:
            return json_error(400, str(exc))
        try:
            await anyio.to_thread.run_sync(
                lambda: res.catalog.update_meta(title_id, name, description, tags, cast, release))
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
