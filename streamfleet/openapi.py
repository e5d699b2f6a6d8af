"""Building blocks of the services' hand-written OpenAPI 3.1 documents (``GET /openapi.json``).

The error body every API shares, small response helpers, and the signed file paths
(``/s/{token}/{cache key}``) that the origin and the appliances both serve. A cache key has
slashes, which OpenAPI path parameters cannot hold, so each file kind of the addressing scheme
is its own path template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .addressing import INIT_SEGMENT, MEDIA_PLAYLIST, TITLE_FILES, make_key, segment_name

ERROR = {
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
TEXT = {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}
THIS_DOCUMENT = {"get": {"summary": "This document", "responses": {"200": {
    "description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
PARAMS = {
    "token": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,200}$"},
    "title": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
    "rendition": {"type": "string", "pattern": "^(?:[0-9]{2,4}p|audio)$"},
    "segment": {"type": "string", "pattern": "^seg_[0-9]{5}\\.m4s$"},
}
# Conditional and partial requests of a file.
FILE_HEADERS = ("range", "if-none-match", "if-range")


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def error(description: str) -> dict[str, Any]:
    """A response with the shared error body (``components.schemas.Error`` must hold ERROR)."""
    return json_response(ref("Error"), description)


def path_params(*names: str) -> list[dict[str, Any]]:
    """Required path parameters, with the patterns of PARAMS where they are known."""
    return [{"name": n, "in": "path", "required": True, "schema": PARAMS.get(n, {"type": "string"})}
            for n in names]


def _file_kinds() -> dict[str, tuple[str, list[str]]]:
    """Signed path template -> (media type, path parameters), one per file kind of a title."""
    kinds = {f"/s/{{token}}/{{title}}/{name}": (make_key("t", "", name).content_type, ["token", "title"])
             for name in TITLE_FILES}
    in_rendition = ["token", "title", "rendition"]
    for name, template in ((MEDIA_PLAYLIST, MEDIA_PLAYLIST), (INIT_SEGMENT, INIT_SEGMENT),
                           (segment_name(0), "{segment}")):
        params = in_rendition + (["segment"] if template == "{segment}" else [])
        kinds[f"/s/{{token}}/{{title}}/{{rendition}}/{template}"] = (make_key("t", "720p", name).content_type,
                                                                       params)
    return kinds


def signed_files(summary: str, responses: Mapping[str, Any]) -> dict[str, Any]:
    """Path items (GET and HEAD) of every signed file path; ``responses`` other than 200/206/304."""

    def operation(media_type: str, params: list[str], method: str) -> dict[str, Any]:
        binary = {"schema": {"type": "string", "format": "binary"}}
        body = {"description": "the whole file", "content": {media_type: binary}}
        part = {"description": "the range asked for; several ranges as multipart/byteranges",
                "content": {media_type: binary, "multipart/byteranges": binary}}
        return {
            "summary": f"{method} {summary}",
            "parameters": path_params(*params)
            + [{"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
               for h in FILE_HEADERS],
            "responses": {"200": body, "206": part,
                          "304": {"description": "If-None-Match matched the ETag (the sha256)"},
                          **responses},
        }

    return {path: {"get": operation(media, params, "GET"), "head": operation(media, params, "HEAD")}
            for path, (media, params) in _file_kinds().items()}
