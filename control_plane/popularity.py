"""Popularity: decayed playback-start counts per site and title, plus a boost for new releases.

Each (site, title) keeps one score and the time it was last updated; its value now is
``score * 2 ** -(age / half_life)``, so a count weighs half as much after each half-life and
adding to it is one multiply-add. A new release has no history yet, so its prediction is at least
the ``new_release_quantile`` of its site's current scores, decaying with the half-life since its
release: ``max(history, boost)``, which hands over to real counts as soon as they are larger.
A site that never reported anything borrows the fleet-wide counts, so a new site is planned too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streamfleet.addressing import TITLE_RE

from . import validation
from .catalog import CatalogTitle
from .clock import Clock
from .errors import InvalidRequest

# Bounds of one report: a steering batch covers seconds of starts, not the whole catalog twice.
MAX_BATCH_TITLES = 100_000
MAX_STARTS = 10**12
# A score decayed below this is forgotten (after ~20 half-lives for a single start).
FORGET_BELOW = 1e-6

# (site, title, score as of as_of_ms, as_of_ms)
Row = tuple[str, str, float, int]
# A report waiting in the inbox: (id, site, title, starts, reported at unix ms).
InboxEntry = tuple[int, str, str, int, int]


@dataclass(frozen=True, slots=True)
class PopularityPolicy:
    # A count loses half its weight after this many seconds.
    half_life_s: float = 2 * 86400.0
    # Titles released less than this long ago (or flagged new) get the boost.
    new_release_window_s: float = 7 * 86400.0
    # The boost is this quantile of the site's current scores; 0: no boost.
    new_release_quantile: float = 0.99


class PopularityStore(Protocol):
    def load_popularity(self) -> list[Row]:
        """Every stored score."""
        ...

    def save_popularity(self, rows: Iterable[Row]) -> None:
        """Insert or replace ``rows`` in one transaction."""
        ...

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget (site, title) pairs."""
        ...

    def add_to_inbox(self, site: str, starts: Mapping[str, int], at_ms: int) -> None:
        """Keep a validated report for the planning replica to fold in (any replica may call it)."""
        ...

    def load_inbox(self) -> list[InboxEntry]:
        """Every report waiting, oldest first."""
        ...

    def fold_inbox(self, rows: Iterable[Row], upto_id: int) -> None:
        """Save ``rows`` and drop the inbox entries up to ``upto_id``, in one transaction."""
        ...


class PopularityBook:
    """Decayed counts of every site. Not safe across threads; use from one event loop.

    With replicas, only the one holding the planner lease records into its book (and the table);
    the others put reports in the inbox (:meth:`queue`) and the planning replica folds them in
    (:meth:`fold_inbox`). A replica that takes the lease over reloads the book first.
    """

    def __init__(self, store: PopularityStore, policy: PopularityPolicy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        # Playback starts recorded since the process started (for /metrics).
        self.recorded_starts = 0
        # site -> title -> (score as of t, t in wall ms)
        self._scores: dict[str, dict[str, tuple[float, int]]] = {}
        self.reload()

    def reload(self) -> None:
        """Read every score back from the store (another replica may have written them)."""
        self._scores = {}
        for site, title, score, as_of in self._store.load_popularity():
            self._scores.setdefault(site, {})[title] = (score, as_of)

    @property
    def policy(self) -> PopularityPolicy:
        return self._policy

    def sites(self) -> list[str]:
        """Sites with any history, sorted."""
        return sorted(s for s, titles in self._scores.items() if titles)

    def record(self, site: str, starts: Mapping[str, int]) -> int:
        """Add a batch of playback starts at ``site``; persisted before returning.

        Returns the number of starts added. Raises InvalidRequest naming the bad field; nothing is
        recorded then. Zero counts are accepted and change nothing.
        """
        site = self.validate(site, starts)
        rows = self._add(site, starts, self._clock.wall_ms())
        self._store.save_popularity(rows)
        added = sum(starts.values())
        self.recorded_starts += added
        return added

    def validate(self, site: str, starts: Mapping[str, int]) -> str:
        """The canonical site name. Raises InvalidRequest naming the bad field."""
        site = validation.site(site)
        if len(starts) > MAX_BATCH_TITLES:
            raise InvalidRequest(f"starts: more than {MAX_BATCH_TITLES} titles in one report")
        for title, count in starts.items():
            if not isinstance(title, str) or not TITLE_RE.match(title):
                raise InvalidRequest(f"starts: {title!r} is not a title id")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_STARTS:
                raise InvalidRequest(f"starts.{title}: expected a count within 0..{MAX_STARTS}")
        return site

    def queue(self, site: str, starts: Mapping[str, int]) -> int:
        """Validate a report and put it in the inbox for the planning replica (persisted before
        returning). Returns the number of starts. Raises InvalidRequest as :meth:`record`."""
        site = self.validate(site, starts)
        self._store.add_to_inbox(site, starts, self._clock.wall_ms())
        added = sum(starts.values())
        self.recorded_starts += added
        return added

    def fold_inbox(self) -> dict[str, dict[str, int]]:
        """Add every report waiting in the inbox to the book, in one transaction. Returns the
        starts folded in, per site and title (empty when the inbox was)."""
        entries = self._store.load_inbox()
        if not entries:
            return {}
        folded: dict[str, dict[str, int]] = {}
        for _, site, title, count, _ in entries:
            per_site = folded.setdefault(site, {})
            per_site[title] = per_site.get(title, 0) + count
        now = self._clock.wall_ms()
        rows = [row for site, starts in folded.items() for row in self._add(site, starts, now)]
        self._store.fold_inbox(rows, max(e[0] for e in entries))
        return folded

    def _add(self, site: str, starts: Mapping[str, int], now: int) -> list[Row]:
        book = self._scores.setdefault(site, {})
        rows: list[Row] = []
        for title, count in starts.items():
            if count == 0:
                continue
            score = self._decayed(book.get(title), now) + count
            book[title] = (score, now)
            rows.append((site, title, score, now))
        return rows

    def score(self, site: str, title: str) -> float:
        """The decayed count of ``title`` at ``site`` now; 0.0 without history."""
        return self._decayed(self._scores.get(site, {}).get(title), self._clock.wall_ms())

    def scores(self, site: str) -> dict[str, float]:
        """Every title with history at ``site`` and its decayed count now."""
        now = self._clock.wall_ms()
        return {t: self._decayed(v, now) for t, v in self._scores.get(site, {}).items()}

    def predicted(self, site: str, titles: Sequence[CatalogTitle]) -> np.ndarray:
        """Predicted popularity of each of ``titles`` at ``site`` (aligned float64 array, >= 0).

        History where there is some, raised to the new-release boost for new titles; a site
        without any history uses the sum over all sites.
        """
        now = self._clock.wall_ms()
        book = self._scores.get(site)
        if not book:
            history = self._fleet_history(titles, now)
        else:
            history = self._history(book, titles, now)
        return self._boost(history, titles, now)

    def forget_faded(self) -> int:
        """Drop scores that decayed below FORGET_BELOW; returns how many. Bounds memory over time."""
        now = self._clock.wall_ms()
        faded = [(site, title) for site, book in self._scores.items()
                 for title, v in book.items() if self._decayed(v, now) < FORGET_BELOW]
        for site, title in faded:
            del self._scores[site][title]
        self._store.delete_popularity(faded)
        return len(faded)

    # -- internals -----------------------------------------------------------------------------

    def _decayed(self, entry: tuple[float, int] | None, now_ms: int) -> float:
        if entry is None:
            return 0.0
        score, as_of = entry
        age_s = max(0, now_ms - as_of) / 1000
        return score * math.exp2(-age_s / self._policy.half_life_s)

    def _history(self, book: Mapping[str, tuple[float, int]], titles: Sequence[CatalogTitle],
                 now_ms: int) -> np.ndarray:
        missing = (0.0, now_ms)
        pairs = [book.get(t.id, missing) for t in titles]
        score = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=len(pairs))
        as_of = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        age_s = np.maximum(0.0, now_ms - as_of) / 1000
        result: np.ndarray = score * np.exp2(-age_s / self._policy.half_life_s)
        return result

    def _fleet_history(self, titles: Sequence[CatalogTitle], now_ms: int) -> np.ndarray:
        total = np.zeros(len(titles), dtype=np.float64)
        for book in self._scores.values():
            if book:
                total += self._history(book, titles, now_ms)
        return total

    def _boost(self, history: np.ndarray, titles: Sequence[CatalogTitle], now_ms: int) -> np.ndarray:
        policy = self._policy
        if policy.new_release_quantile <= 0 or not len(titles):
            return history
        now_s = now_ms / 1000
        released = np.array([now_s if t.released_unix_s is None else t.released_unix_s for t in titles])
        age_s = np.maximum(0.0, now_s - released)
        flagged = np.array([t.new for t in titles], dtype=bool)
        known = np.array([t.released_unix_s is not None for t in titles], dtype=bool)
        new = flagged | (known & (age_s < policy.new_release_window_s))
        if not new.any():
            return history
        # The bar is set by titles with history; with none at all, new titles still rank first.
        positive = history[history > 0]
        level = float(np.quantile(positive, policy.new_release_quantile)) if positive.size else 1.0
        boost = np.where(new, level * np.exp2(-age_s / policy.half_life_s), 0.0)
        result: np.ndarray = np.maximum(history, boost)
        return result
