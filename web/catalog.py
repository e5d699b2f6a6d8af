"""Title lookups the pages need beyond a plain proxy: search as you type and processing progress.

Search asks the origin's ``GET /v1/search?q=`` and joins its hits with ``GET /v1/titles`` (for
duration and status); an origin without search (404) is searched here by substring instead, and
the answer says which (``"source": "origin"`` or ``"web"``). Progress reads the ``progress``
object of ``GET /v1/titles/{id}`` (pipeline stage, encoded chunks per rendition). Both always
answer 200 for a valid request, so the pages never make a request that fails (a failed request
is a console error in the browser).
"""

from __future__ import annotations

from typing import Any

import httpx

from streamfleet.addressing import TITLE_RE

from .errors import NotFound, UpstreamUnavailable

MAX_QUERY = 200
MAX_RESULTS = 50
SEARCHED_FIELDS = ("id", "name", "description")


class TitleCatalog:
    """Reads the origin's catalog for search and progress. Use from one event loop."""

    def __init__(self, client: httpx.AsyncClient, origin_url: str) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")

    async def search(self, query: str) -> dict[str, Any]:
        """``{"query", "titles": [summary...], "corrected", "source"}``: ready titles matching ``query``,
        best first; ``corrected`` is the origin's spelling correction (None when it made none).

        Raises UpstreamUnavailable.
        """
        query = query.strip()[:MAX_QUERY]
        if not query:
            return {"query": query, "titles": [], "corrected": None, "source": "web"}
        response = await self._get("/v1/search", params={"q": query, "limit": str(MAX_RESULTS)})
        if response.status_code not in (200, 404):
            raise UpstreamUnavailable(f"origin answered {response.status_code} to a search")
        listing = await self._get("/v1/titles")
        if listing.status_code != 200:
            raise UpstreamUnavailable(f"origin answered {listing.status_code} to GET /v1/titles")
        summaries = {t["id"]: t for t in _ready(listing.json().get("titles", []))}
        if response.status_code == 200:
            body = response.json()
            if not isinstance(body, dict):
                body = {}
            hits: list[Any] = body.get("results") or body.get("titles") or []
            # Search hits carry id, name and score; the listing adds duration and status.
            found = [{**summaries[h["id"]], **h} for h in hits
                     if isinstance(h, dict) and h.get("id") in summaries]
            return {"query": query, "titles": found[:MAX_RESULTS], "corrected": body.get("corrected"),
                    "source": "origin"}
        words = query.lower().split()
        matches = [t for t in summaries.values() if _matches(t, words)]
        return {"query": query, "titles": matches[:MAX_RESULTS], "corrected": None, "source": "web"}

    async def progress(self, title: str) -> dict[str, Any]:
        """``{"title", "name", "status", "stage", "error", "renditions": [{"name", "done", "total"}]}``.

        ``renditions`` lists encoded chunks per rendition while the origin's pipeline works on the
        title (its detail's ``progress``), every rendition complete once ready. Raises NotFound for
        an unknown title, UpstreamUnavailable.
        """
        if not TITLE_RE.match(title):
            raise NotFound(f"invalid title id {title[:80]!r}")
        detail = await self._get(f"/v1/titles/{title}")
        if detail.status_code == 404:
            raise NotFound(f"unknown title {title!r}")
        if detail.status_code != 200:
            raise UpstreamUnavailable(f"origin answered {detail.status_code} for title {title!r}")
        info = detail.json()
        status = str(info.get("status", ""))
        progress = info.get("progress") or {}
        errors = progress.get("errors") or []
        out: dict[str, Any] = {
            "title": title, "name": info.get("name", title), "status": status,
            "stage": progress.get("stage", "done" if status == "ready" else status),
            "error": info.get("error") or (errors[-1].get("error", "") if errors else ""),
        }
        if status == "ready":
            out["renditions"] = [{"name": r.get("name"), "done": 1, "total": 1}
                                 for r in info.get("renditions", []) if int(r.get("height") or 0) > 0]
        else:
            encoding = sorted((progress.get("renditions") or {}).items(),
                              key=lambda kv: -int(kv[0].rstrip("p") or 0))
            out["renditions"] = [{"name": name, "done": int(r.get("chunks_done", 0)),
                                  "total": int(r.get("chunks", 0))} for name, r in encoding]
        return out

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client.get(self._origin + path, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"origin unreachable: {exc}") from None


def _ready(titles: Any) -> list[dict[str, Any]]:
    if not isinstance(titles, list):
        return []
    return [t for t in titles if isinstance(t, dict) and t.get("status", "ready") == "ready"]


def _matches(title: dict[str, Any], words: list[str]) -> bool:
    text = " ".join(str(title.get(f, "")) for f in SEARCHED_FIELDS).lower()
    text += " " + " ".join(str(t) for t in title.get("tags", []) or []).lower()
    return all(w in text for w in words)
