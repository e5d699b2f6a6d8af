"""Title search behind one interface: every query word must match (the last one as a prefix), best
first, with a tag filter and a typo fallback for short queries that find nothing.

The full-text part is a :class:`SearchIndex` (``search_sql``: SQLite FTS5 with BM25, or a
PostgreSQL tsvector with ts_rank). The typo fallback's vocabulary is portable SQL: every word of
names, tags and cast with its one-letter deletions (SymSpell), kept by ``index_terms`` inside the
catalog's write transactions. Pure functions over a connection: no HTTP here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS = 8
# Typo fallback only for short queries: longer ones carry enough signal already.
TYPO_MAX_TOKENS = 3
TYPO_MIN_LENGTH = 3
# Matches ranked at most per query (the most recently added ones): bounds a broad prefix's cost.
RANK_WINDOW = 2000


@dataclass(frozen=True)
class SearchHit:
    id: str
    name: str
    # Relevance, lower (more negative) is better: BM25 as SQLite reports it, or -ts_rank.
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    # The query actually run when the typo fallback rewrote it; None otherwise.
    corrected: str | None = None


class SearchIndex(Protocol):
    """The engine-specific half of search."""

    def match(self, conn: Connection, groups: Sequence[Sequence[str]], prefix_last: bool, tag: str | None,
              limit: int) -> tuple[SearchHit, ...]:
        """Ready titles matching every group (any word of a group), best first; the last group's
        words as prefixes when ``prefix_last``; only titles tagged ``tag`` unless None."""
        ...

    def corrections(self, conn: Connection, term: str) -> list[str]:
        """Vocabulary words close to ``term`` (``term`` itself when known), closest first, at most 3."""
        ...


def tokens(text: str) -> list[str]:
    """Lowercased word tokens of ``text`` (at most MAX_TOKENS)."""
    return [t.lower() for t in _WORD_RE.findall(text)][:MAX_TOKENS]


def variants(term: str) -> set[str]:
    """``term`` and every string made by deleting one of its letters."""
    return {term} | {term[:i] + term[i + 1:] for i in range(len(term))}


def index_terms(conn: Connection, texts: Iterable[str]) -> None:
    """Add the words of ``texts`` to the typo-fallback vocabulary (inside the caller's transaction)."""
    words = {t for text in texts for t in tokens(text)}
    terms = sorted(t for t in words if len(t) >= TYPO_MIN_LENGTH and not t.isdigit())
    insert_term = sa.text("INSERT INTO search_terms (term) VALUES (:term) ON CONFLICT DO NOTHING")
    fresh = [t for t in terms if conn.execute(insert_term, {"term": t}).rowcount]
    rows = [{"variant": v, "term": t} for t in fresh for v in sorted(variants(t))]
    if rows:
        conn.execute(sa.text("INSERT INTO search_deletes (variant, term) VALUES (:variant, :term) "
                             "ON CONFLICT DO NOTHING"), rows)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Edit distance of ``a`` and ``b`` counting insertions, deletions, substitutions and swaps of
    neighbours (optimal string alignment: "matirx" is 1 from "matrix"); ``limit + 1`` once it is
    known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def known_or_deletion_neighbours(conn: Connection, term: str) -> list[str]:
    """[term] when it is in the vocabulary; otherwise the words sharing a one-letter deletion with it."""
    if conn.execute(sa.text("SELECT 1 FROM search_terms WHERE term = :term"), {"term": term}).first():
        return [term]
    statement = sa.text("SELECT DISTINCT term FROM search_deletes WHERE variant IN :keys LIMIT 500")
    statement = statement.bindparams(sa.bindparam("keys", expanding=True))
    return [str(t) for (t,) in conn.execute(statement, {"keys": sorted(variants(term))})]


def closest(term: str, candidates: Iterable[str], max_distance: int = 1) -> list[str]:
    """Candidates within ``max_distance`` edits of ``term``, closest (then alphabetical) first, at most 3."""
    scored = sorted({(edit_distance(term, c, max_distance), c) for c in candidates})
    return [c for d, c in scored if d <= max_distance][:3]


def search(index: SearchIndex, conn: Connection, query: str, tag: str | None = None,
           limit: int = 20) -> SearchResult:
    """Ready titles matching ``query`` (every word; the last one as a prefix), best first, optionally
    only those tagged ``tag``. An empty query lists the tag's titles by popularity (none without
    a tag). A short query that finds nothing is retried with typo corrections."""
    words = tokens(query)
    tag = tag.strip().lower() if tag else None
    if not words:
        if not tag:
            return SearchResult(())
        rows = conn.execute(sa.text(
            "SELECT t.id, t.name FROM title_tags AS g JOIN titles AS t ON t.id = g.title "
            "WHERE g.tag = :tag AND t.status = 'ready' ORDER BY t.plays DESC, t.id LIMIT :limit"),
            {"tag": tag, "limit": limit})
        return SearchResult(tuple(SearchHit(str(i), str(n), 0.0) for i, n in rows))
    hits = index.match(conn, [[w] for w in words], True, tag, limit)
    if hits or len(words) > TYPO_MAX_TOKENS:
        return SearchResult(hits)
    groups = []
    for word in words:
        found = index.corrections(conn, word) if len(word) >= TYPO_MIN_LENGTH else [word]
        groups.append(found or [word])
    if all(g == [w] for g, w in zip(groups, words, strict=True)):
        return SearchResult(())
    corrected = " ".join(g[0] for g in groups)
    return SearchResult(index.match(conn, groups, False, tag, limit), corrected)
