"""The catalog seam: which titles exist and how many bytes each one takes on an appliance's disk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CatalogTitle:
    """One ready title as the planner sees it."""

    id: str
    # Sum of the sizes of every file of the title (playlists, init and media segments).
    bytes: int
    # Unix seconds of the release (the origin's "created"); None: unknown, never counts as new.
    released_unix_s: float | None = None
    # The catalog flags it as new regardless of its release date.
    new: bool = False


class CatalogSource(Protocol):
    async def titles(self) -> list[CatalogTitle]:
        """Every ready title. Raises CatalogUnavailable when the catalog cannot be read."""
        ...


class StaticCatalog:
    """A fixed catalog, for tests and benchmarks. Safe across tasks (read-only after set())."""

    def __init__(self, titles: Iterable[CatalogTitle] = ()) -> None:
        self._titles = list(titles)

    def set(self, titles: Iterable[CatalogTitle]) -> None:
        self._titles = list(titles)

    async def titles(self) -> list[CatalogTitle]:
        return list(self._titles)
