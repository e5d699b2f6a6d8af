"""The OpenAPI 3.1 document of the appliance's HTTP API, served at ``GET /openapi.json``.

Content paths are ``/s/{token}/{cache key}``; a cache key has slashes, which OpenAPI path
parameters cannot hold, so each of the four file kinds of the addressing scheme is its own
path template. Checked against the running appliance by schemathesis
(tests/faults/test_openapi.py).
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
        }
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "appliance", "site", "disk_used_bytes", "disk_capacity_bytes", "chunks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "draining", "overloaded", "unhealthy"]},
        "reason": {"type": "string"},
        "appliance": {"type": "string"},
        "site": {"type": "string"},
        "disk_used_bytes": {"type": "integer"},
        "disk_capacity_bytes": {"type": "integer"},
        "chunks": {"type": "integer"},
        "connections": {"type": "integer"},
        "disk_errors": {"type": "integer"},
        "draining": {"type": "boolean"},
    },
}
_PARAMS = {
    "token": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,200}$"},
    "title": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
    "rendition": {"type": "string", "pattern": "^(?:[0-9]{2,4}p|audio)$"},
    "segment": {"type": "string", "pattern": "^seg_[0-9]{5}\\.m4s$"},
}
_PLAYLIST = "application/vnd.apple.mpegurl"
_IN_RENDITION = ["token", "title", "rendition"]
_FILES = {
    "/s/{token}/{title}/master.m3u8": (_PLAYLIST, ["token", "title"]),
    "/s/{token}/{title}/{rendition}/index.m3u8": (_PLAYLIST, _IN_RENDITION),
    "/s/{token}/{title}/{rendition}/init.mp4": ("video/mp4", _IN_RENDITION),
    "/s/{token}/{title}/{rendition}/{segment}": ("video/iso.segment", [*_IN_RENDITION, "segment"]),
}
_HEADERS = ("range", "if-none-match", "if-range")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _file(media_type: str, params: list[str], method: str) -> dict[str, Any]:
    body = {"description": "the file (Range: the part asked for)", "content": {media_type: {
        "schema": {"type": "string", "format": "binary"}}}}  # fmt: skip
    return {
        "summary": f"{method} one file of a title: from disk, or fetched from a site peer or the origin",
        "parameters": [{"name": p, "in": "path", "required": True, "schema": _PARAMS[p]} for p in params]
        + [{"name": h, "in": "header", "required": False, "schema": {"type": "string"}} for h in _HEADERS],
        "responses": {
            "200": body,
            "206": body,
            "304": {"description": "If-None-Match matched the ETag (the sha256)"},
            "400": _error("malformed Range"),
            "403": _error("bad, expired or other-title token (nothing was read or fetched)"),
            "404": _error("unknown title or file"),
            "416": _error("range not satisfiable"),
            "502": _error("upstream unreachable, or it sent bytes that do not match the catalog"),
            "503": _error("the chunk cannot be stored here (disk, capacity) or too many connections"),
            "504": _error("upstream did not answer within upstream_timeout_s"),
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI document (a fresh dict each call)."""
    paths: dict[str, Any] = {
        path: {"get": _file(media, params, "GET"), "head": _file(media, params, "HEAD")}
        for path, (media, params) in _FILES.items()
    }
    paths["/healthz"] = {"get": {"summary": "The appliance's own health", "responses": {
        "200": _json({"$ref": "#/components/schemas/Health"}, "ok or draining"),
        "503": _json({"$ref": "#/components/schemas/Health"}, "unhealthy or overloaded"),
    }}}  # fmt: skip
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "responses": {"200": {
        "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    paths["/admin/drain"] = {"post": {
        "summary": "Report DRAINING to the control plane (undo=1: ACTIVE again) while still serving",
        "security": [{"admin": []}],
        "parameters": [{"name": "undo", "in": "query", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": _json({"type": "object", "required": ["appliance", "draining"], "properties": {
                "appliance": {"type": "string"}, "draining": {"type": "boolean"}}}, "the drain state now"),
            "403": _error("admin token missing or wrong"),
            "413": _error("request body too large"),
        },
    }}  # fmt: skip
    paths["/openapi.json"] = {"get": {"summary": "This document", "responses": {
        "200": _json({"type": "object"}, "OpenAPI 3.1")}}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamfleet appliance", "version": "1"},
        "components": {
            "schemas": {"Error": _ERROR, "Health": _HEALTH},
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
