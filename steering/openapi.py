"""The OpenAPI 3.1 document of steering's HTTP API, served at ``GET /openapi.json``.

Written by hand (steering's routes are plain starlette) and checked against the running
service by a schemathesis run (tests/faults/test_openapi.py): every status and body the
service can answer is declared here.
"""

from __future__ import annotations

from typing import Any

from streamfleet.openapi import ERROR, TEXT, THIS_DOCUMENT, error, json_response, ref

_URL = {
    "type": "object",
    "required": ["url", "kind", "appliance", "site", "reason"],
    "properties": {
        "url": {"type": "string", "description": "the title's master playlist at that place"},
        "dash_url": {"type": ["string", "null"],
                     "description": "the title's DASH manifest at that place; null when it has none"},
        "kind": {"type": "string", "enum": ["appliance", "origin"]},
        "appliance": {"type": ["string", "null"]},
        "site": {"type": ["string", "null"]},
        "reason": {"type": "string"},
    },
}
_ANSWER = {
    "type": "object",
    "required": ["title", "site", "site_reason", "expires_at", "urls"],
    "properties": {
        "title": {"type": "string"},
        "site": {"type": "string"},
        "site_reason": {"type": "string"},
        "expires_at": {"type": "integer", "description": "unix time the signed URLs expire"},
        "request_id": {"type": ["string", "null"],
                       "description": "send as X-Request-Id on every request of this playback"},
        "urls": {"type": "array", "minItems": 1, "items": _URL, "description": "best first; origin last"},
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "control_plane", "fleet_version", "appliances", "healthy_appliances"],
    "properties": {
        "status": {"type": "string", "enum": ["ok"]},
        "control_plane": {"type": "string", "enum": ["connected", "unreachable"]},
        "fleet_version": {"type": "integer"},
        "fleet_state_age_s": {"type": ["number", "null"]},
        "appliances": {"type": "integer"},
        "healthy_appliances": {"type": "integer"},
        "coverage_zones": {"type": ["integer", "null"]},
        "coverage_error": {"type": ["string", "null"]},
        "popularity_pending_titles": {"type": "integer"},
    },
}


_TITLE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}


def document() -> dict[str, Any]:
    """The whole OpenAPI document (a fresh dict each call)."""
    playback = {
        "summary": "Ranked, signed URLs where this client should fetch the title",
        "security": [{"session": []}, {}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["title"], "properties": {"title": _TITLE},
            }}},
        },  # fmt: skip
        "responses": {
            "200": json_response(ref("PlaybackAnswer"), "where to fetch the title, best first"),
            "400": error("malformed body or title id"),
            "401": error("no, forged or expired viewer session"),
            "404": error("unknown title, or not ready"),
            "408": error("the request body did not arrive in time"),
            "413": error("body larger than max_body_bytes"),
            "503": error("the origin cannot be asked and nothing is cached for the title"),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamfleet steering", "version": "1"},
        "components": {
            "schemas": {"Error": ERROR, "PlaybackAnswer": _ANSWER, "Health": _HEALTH},
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/playback": {"post": playback},
            "/healthz": {"get": {
                "summary": "Always 200 while serving; says whether the control plane is reachable",
                "responses": {"200": json_response(ref("Health"), "serving")},
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": TEXT}}},
            "/openapi.json": THIS_DOCUMENT,
        },  # fmt: skip
    }
