"""Checks downloaded files against the origin's catalog (size and sha256 of every file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from streamfleet.addressing import AddressError, parse_signed_path

from .errors import PlayerError


@dataclass(frozen=True, slots=True)
class FileFacts:
    size: int
    sha256: str


class FileCatalog:
    """The ``files`` map of a title: cache key -> size and sha256. Immutable."""

    def __init__(self, files: Mapping[str, FileFacts]) -> None:
        self._files = dict(files)

    def __len__(self) -> int:
        return len(self._files)

    @classmethod
    def from_title(cls, body: Any) -> FileCatalog:
        """Build from the origin's ``GET /v1/titles/{id}`` body. Raises PlayerError when malformed."""
        try:
            files = {
                str(key): FileFacts(int(meta["size"]), str(meta["sha256"]).lower())
                for key, meta in body["files"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PlayerError('origin title record has no valid "files" map') from None
        return cls(files)

    def problem(self, url: str, size: int, sha256: str) -> str | None:
        """Why the file fetched from ``url`` does not match the catalog; None when it does."""
        try:
            _, key = parse_signed_path(httpx.URL(url).path)
        except AddressError as exc:
            return f"{url}: not a content URL ({exc})"
        facts = self._files.get(key.cache_key)
        if facts is None:
            return f"{key.cache_key}: not in the origin's catalog"
        if facts.size != size:
            return f"{key.cache_key}: {size} bytes, catalog says {facts.size}"
        if facts.sha256 != sha256:
            return f"{key.cache_key}: sha256 {sha256[:12]}… differs from the catalog's {facts.sha256[:12]}…"
        return None


async def load_catalog(client: httpx.AsyncClient, origin_url: str, title: str) -> FileCatalog:
    """Fetch the title's files map from the origin. Raises PlayerError."""
    url = f"{origin_url.rstrip('/')}/v1/titles/{title}"
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise PlayerError(f"origin catalog unreachable at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise PlayerError(f"origin catalog answered {response.status_code} for {title!r}")
    try:
        body = response.json()
    except ValueError:
        raise PlayerError("origin catalog sent no JSON") from None
    return FileCatalog.from_title(body)
