"""The OpenAPI 3.1 document of the appliance's HTTP API, served at ``GET /openapi.json``.

Content paths are ``/s/{token}/{cache key}``, one path template per file kind
(:func:`streamfleet.openapi.signed_files`). Checked against the running appliance by
schemathesis (tests/faults/test_openapi.py).
"""

from __future__ import annotations

from typing import Any

from streamfleet.openapi import ERROR, TEXT, THIS_DOCUMENT, error, json_response, ref, signed_files

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


def document() -> dict[str, Any]:
    """The whole OpenAPI document (a fresh dict each call)."""
    paths: dict[str, Any] = signed_files(
        "one file of a title: from disk, or fetched from a site peer or the origin",
        {
            "400": error("malformed Range"),
            "403": error("bad, expired or other-title token (nothing was read or fetched)"),
            "404": error("unknown title or file"),
            "416": error("range not satisfiable"),
            "502": error("upstream unreachable, or it sent bytes that do not match the catalog"),
            "503": error("the chunk cannot be stored here (disk, capacity) or too many connections"),
            "504": error("upstream did not answer within upstream_timeout_s"),
        },
    )
    paths["/healthz"] = {"get": {"summary": "The appliance's own health", "responses": {
        "200": json_response(ref("Health"), "ok or draining"),
        "503": json_response(ref("Health"), "unhealthy or overloaded"),
    }}}  # fmt: skip
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "responses": {"200": TEXT}}}
    paths["/admin/drain"] = {"post": {
        "summary": "Report DRAINING to the control plane (undo=1: ACTIVE again) while still serving",
        "security": [{"admin": []}],
        "parameters": [{"name": "undo", "in": "query", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": json_response({"type": "object", "required": ["appliance", "draining"], "properties": {
                "appliance": {"type": "string"}, "draining": {"type": "boolean"}}}, "the drain state now"),
            "403": error("admin token missing or wrong"),
            "413": error("request body too large"),
        },
    }}  # fmt: skip
    paths["/openapi.json"] = THIS_DOCUMENT
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamfleet appliance", "version": "1"},
        "components": {
            "schemas": {"Error": ERROR, "Health": _HEALTH},
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
