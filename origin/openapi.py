"""The OpenAPI 3.1 document of the origin's HTTP API, served at ``GET /openapi.json``.

Written by hand, as steering's and the appliance's are, from the kernel's building blocks
(:mod:`streamfleet.openapi`), and checked against a running origin by schemathesis
(tests/faults/test_origin_openapi.py): every status and body the origin can answer is here.
The tus endpoints are described as far as an OpenAPI document can (headers, statuses).
"""

from __future__ import annotations

from typing import Any

from streamfleet.openapi import (
    ERROR,
    TEXT,
    THIS_DOCUMENT,
    error,
    json_response,
    path_params,
    ref,
    signed_files,
)

from .accounts import MAX_PASSWORD, USERNAME_RE
from .config import AccountSettings, OriginConfig

_STRINGS = {"type": "array", "items": {"type": "string"}}
_ACCOUNT_PROPS = {"id": {"type": "string"}, "username": {"type": "string"},
                  "role": {"type": "string", "enum": ["viewer", "creator", "operator"]}}
_ACCOUNT = {"type": "object", "required": list(_ACCOUNT_PROPS), "properties": _ACCOUNT_PROPS}
_SUMMARY_PROPS = {
    "id": {"type": "string"},
    "name": {"type": "string"},
    "status": {"type": "string"},
    "duration_s": {"type": "number"},
    "created": {"type": "number", "description": "unix time the title was reserved"},
}
_SUMMARY = {"type": "object", "required": list(_SUMMARY_PROPS), "properties": _SUMMARY_PROPS}
_META_PROPS = {
    "description": {"type": "string"},
    "tags": _STRINGS,
    "cast": _STRINGS,
    "release_date": {"type": "string", "description": "YYYY-MM-DD, or empty"},
}
_DETAIL = {
    "type": "object",
    "required": [*_SUMMARY_PROPS, "renditions", "files", *_META_PROPS, "plays"],
    "properties": {
        **_SUMMARY_PROPS,
        "renditions": {"type": "array", "items": {
            "type": "object", "required": ["name", "width", "height", "bandwidth"],
            "properties": {"name": {"type": "string"}, "width": {"type": "integer"},
                           "height": {"type": "integer"}, "bandwidth": {"type": "integer"}}}},
        "files": {"type": "object", "description": "cache key -> size and sha256",
                  "additionalProperties": {
                      "type": "object", "required": ["size", "sha256"],
                      "properties": {"size": {"type": "integer"}, "sha256": {"type": "string"}}}},
        **_META_PROPS,
        "plays": {"type": "integer"},
        "error": {"type": "string", "description": "why processing failed"},
        "progress": {"type": "object", "description": "pipeline stage and chunks encoded per rendition"},
    },
}  # fmt: skip
_LOGIN_BODY = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
}
_LOGIN = {
    "type": "object",
    "required": ["token", "expires_at", "user"],
    "properties": {"token": {"type": "string"}, "expires_at": {"type": "integer"}, "user": _ACCOUNT},
}
_ME = {
    "type": "object",
    "required": [*_ACCOUNT_PROPS, "session"],
    "properties": {**_ACCOUNT_PROPS, "session": {
        "type": "object", "required": ["id", "role", "expires_at"],
        "properties": {"id": {"type": "string"}, "role": {"type": "string"},
                       "expires_at": {"type": "integer"}}}},
}  # fmt: skip
_SEARCH = {
    "type": "object",
    "required": ["query", "tag", "results"],
    "properties": {
        "query": {"type": "string"},
        "tag": {"type": ["string", "null"]},
        "results": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "score"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                           "score": {"type": "number"}}}},
        "corrected": {"type": "string", "description": "the query as spelled when it was corrected"},
    },
}  # fmt: skip
_UPLOAD = {
    "type": "object",
    "required": ["id", "offset", "length", "metadata", "title"],
    "properties": {"id": {"type": "string"}, "offset": {"type": "integer"}, "length": {"type": "integer"},
                   "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                   "title": {"type": ["string", "null"]}},
}
_HEALTH = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok", "unhealthy"]}, "service": {"type": "string"},
                   "error": {"type": "string"}},
}
_SESSION: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
_DIGITS = "^[0-9]{1,18}$"
_LIMIT = {"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999}}
_UNAUTHENTICATED = error("no, forged, expired or revoked session")
_TOO_LARGE = error("JSON body larger than max_json_body_bytes")


def _header(name: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string", **schema}}


def _query(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string", **schema}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _no_content(description: str) -> dict[str, Any]:
    return {"description": description}


def _accounts(settings: AccountSettings) -> dict[str, Any]:
    signup = {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string", "pattern": f"^{USERNAME_RE.pattern}$"},
        "password": {"type": "string", "minLength": settings.min_password_length, "maxLength": MAX_PASSWORD},
        "role": {"type": "string", "description": "viewer (default) or creator"}}}
    return {
        "/v1/accounts": {"post": {
            "summary": "Sign up (viewer or creator)", "requestBody": _json_body(signup),
            "responses": {"201": json_response(_ACCOUNT, "the new account"),
                          "400": error("malformed body, username or password"),
                          "403": error("that role cannot sign up"), "409": error("username cannot be used"),
                          "413": _TOO_LARGE}}},
        "/v1/sessions": {
            "post": {"summary": "Log in: a session token, also set as an HttpOnly cookie",
                     "requestBody": _json_body(_LOGIN_BODY),
                     "responses": {"201": json_response(_LOGIN, "logged in"), "400": error("malformed body"),
                                   "401": error("wrong username or password"), "413": _TOO_LARGE,
                                   "429": error("too many failed logins (see Retry-After)")}},
            "delete": {"summary": "Log out: revoke this session", "security": _SESSION,
                       "responses": {"204": _no_content("revoked"), "401": _UNAUTHENTICATED}},
        },
        "/v1/me": {"get": {"summary": "The logged-in account and its session", "security": _SESSION,
                           "responses": {"200": json_response(_ME, "who you are"), "401": _UNAUTHENTICATED}}},
    }  # fmt: skip


def _catalog() -> dict[str, Any]:
    title = path_params("title")
    edited = {"type": "object", "required": ["id", *_META_PROPS],
              "properties": {"id": {"type": "string"}, **_META_PROPS}}
    listing = {"anyOf": [_STRINGS, {"type": "string", "description": "comma-separated"}]}
    edit = {"type": "object", "additionalProperties": False, "properties": {
        "name": {"type": "string", "pattern": "\\S"}, "description": {"type": "string"},
        "tags": listing, "cast": listing,
        "release_date": {"anyOf": [{"type": "string", "maxLength": 0},
                                   {"type": "string", "format": "date"}]}}}  # fmt: skip
    return {
        "/v1/titles": {"get": {
            "summary": "Every title, oldest first; or ready titles newest or most played first (home lists)",
            "parameters": [_query("sort", enum=["created", "new", "popular"]), _query("tag"),
                           _LIMIT],
            "responses": {"200": json_response({"type": "object", "required": ["titles"], "properties": {
                "titles": {"type": "array", "items": _SUMMARY}}}, "the titles"),
                          "400": error("unknown sort, or limit not a positive integer")}}},
        "/v1/titles/{title}": {
            "get": {"summary": "A title: renditions, files (size and sha256), metadata, pipeline progress",
                    "parameters": title,
                    "responses": {"200": json_response(_DETAIL, "the title"), "404": error("unknown title")}},
            "patch": {"summary": "Edit a title's metadata (its creator or an operator)", "security": _SESSION,
                      "parameters": title, "requestBody": _json_body(edit),
                      "responses": {"200": json_response(edited, "the metadata now"),
                                    "400": error("malformed body or field"), "401": _UNAUTHENTICATED,
                                    "403": error("not the title's creator, nor an operator"),
                                    "404": error("unknown title"), "413": _TOO_LARGE}},
        },
        "/v1/titles/{title}/plays": {"post": {
            "summary": "Count one play (the popular order)", "security": _SESSION, "parameters": title,
            "responses": {"204": _no_content("counted"), "401": _UNAUTHENTICATED,
                          "404": error("unknown title")}}},
        "/v1/search": {"get": {
            "summary": "Full-text search over names, descriptions, tags and cast (typos corrected)",
            "parameters": [_query("q"), _query("tag"), _LIMIT],
            "responses": {"200": json_response(_SEARCH, "best first"),
                          "400": error("limit not a positive integer")}}},
    }  # fmt: skip


def _uploads() -> dict[str, Any]:
    tus = _header("tus-resumable", required=True, enum=["1.0.0"])
    upload = path_params("upload_id")
    tus_errors = {"401": _UNAUTHENTICATED, "403": error("this needs the creator role"),
                  "412": error("Tus-Resumable: 1.0.0 missing")}
    bare = {"description": "tus answer; the state is in the Upload-Offset and Upload-Length headers"}
    return {
        "/v1/uploads": {
            "options": {"summary": "tus capabilities (Tus-Version, Tus-Extension, Tus-Max-Size)",
                        "responses": {"204": _no_content("capabilities in headers")}},
            "post": {"summary": "tus creation: a new upload of Upload-Length bytes", "security": _SESSION,
                     "parameters": [tus, _header("upload-length", required=True, pattern=_DIGITS),
                                    _header("upload-metadata")],
                     "responses": {"201": _no_content("created; Location names the upload"), **tus_errors,
                                   "400": error("malformed Upload-Length or Upload-Metadata"),
                                   "413": error("larger than [uploads] max_size")}},
        },
        "/v1/uploads/{upload_id}": {
            "options": {"summary": "tus capabilities", "parameters": upload,
                        "responses": {"204": _no_content("capabilities in headers")}},
            "head": {"summary": "tus: the upload's offset", "security": _SESSION,
                     "parameters": [*upload, tus],
                     "responses": {"200": bare, "401": bare, "403": bare, "404": bare, "412": bare}},
            "get": {"summary": "The upload as JSON (not tus)", "security": _SESSION, "parameters": upload,
                    "responses": {"200": json_response(_UPLOAD, "the upload"), "401": _UNAUTHENTICATED,
                                  "403": error("this needs the creator role"),
                                  "404": error("no such upload")}},
            "patch": {"summary": "tus: append bytes at Upload-Offset (the last PATCH queues the title)",
                      "security": _SESSION,
                      "parameters": [*upload, tus, _header("upload-offset", required=True, pattern=_DIGITS),
                                     _header("upload-checksum")],
                      "requestBody": {"required": True, "content": {"application/offset+octet-stream": {
                          "schema": {"type": "string", "format": "binary"}}}},
                      "responses": {"204": _no_content("stored; Upload-Offset is the new offset"),
                                    **tus_errors,
                                    "400": error("malformed header, or the body was cut off"),
                                    "404": error("no such upload"),
                                    "409": error("wrong offset, already complete, or another PATCH running"),
                                    "413": error("body runs past Upload-Length"),
                                    "415": error("Content-Type is not application/offset+octet-stream"),
                                    "422": error("the finished upload is not a usable video"),
                                    "460": error("Upload-Checksum does not match the body")}},
            "delete": {"summary": "tus termination", "security": _SESSION, "parameters": [*upload, tus],
                       "responses": {"204": _no_content("removed"), **tus_errors,
                                     "404": error("no such upload"), "423": error("a PATCH is writing it")}},
        },
    }  # fmt: skip


def document(config: OriginConfig) -> dict[str, Any]:
    """The whole OpenAPI document for ``config`` (a fresh dict each call)."""
    paths: dict[str, Any] = {**_accounts(config.accounts), **_catalog(), **_uploads()}
    paths.update(signed_files("one file of a title, for an appliance's miss (or a player)", {
        "400": error("malformed Range"),
        "403": error("bad, expired or other-title token (nothing was read)"),
        "404": error("unknown title or file, or the title is not ready"),
        "416": error("range not satisfiable"),
    }))  # fmt: skip
    paths["/healthz"] = {"get": {
        "summary": "Whether the catalog and the object store are usable",
        "responses": {"200": json_response(ref("Health"), "ok"),
                      "503": json_response(ref("Health"), "unhealthy")},
    }}  # fmt: skip
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "responses": {"200": TEXT}}}
    paths["/openapi.json"] = THIS_DOCUMENT
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamfleet origin", "version": "1"},
        "components": {
            "schemas": {"Error": ERROR, "Health": _HEALTH},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": config.sessions.cookie_name},
            },
        },
        "paths": paths,
    }
