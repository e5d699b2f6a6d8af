"""Title search: SQLite FTS5 with BM25 ranking and prefix matching, a tag filter, and a typo
fallback (one-deletion index candidates checked by edit distance) for short queries that find nothing.

The FTS index follows the titles table through triggers (catalog migration 3); the vocabulary
of names, tags and cast with its trigrams is kept by ``index_terms``, called by the catalog inside
its write transactions. Pure functions over a connection or a row reader: no HTTP here.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Reader = Callable[[str, Sequence[object]], list[Any]]

_WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS = 8
# Typo fallback only for short queries: longer ones carry enough signal already.
TYPO_MAX_TOKENS = 3
TYPO_MIN_LENGTH = 3
# Matches ranked at most per query (see _run).
RANK_WINDOW = 2000
# Column weights for bm25(): name, description, tags, cast_members.
WEIGHTS = (10.0, 1.0, 4.0, 3.0)

MIGRATION: tuple[str, ...] = (
    """CREATE VIRTUAL TABLE titles_fts USING fts5(
        name, description, tags, cast_members,
        content='titles', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER titles_fts_insert AFTER INSERT ON titles BEGIN
        INSERT INTO titles_fts(rowid, name, description, tags, cast_members)
        VALUES (new.rowid, new.name, new.description, new.tags, new.cast_members); END""",
    """CREATE TRIGGER titles_fts_delete AFTER DELETE ON titles BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, name, description, tags, cast_members)
        VALUES ('delete', old.rowid, old.name, old.description, old.tags, old.cast_members); END""",
    """CREATE TRIGGER titles_fts_update AFTER UPDATE OF name, description, tags, cast_members ON titles BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, name, description, tags, cast_members)
        VALUES ('delete', old.rowid, old.name, old.description, old.tags, old.cast_members);
        INSERT INTO titles_fts(rowid, name, description, tags, cast_members)
        VALUES (new.rowid, new.name, new.description, new.tags, new.cast_members); END""",
    "INSERT INTO titles_fts(titles_fts) VALUES ('rebuild')",
    "CREATE TABLE search_terms (term TEXT PRIMARY KEY) WITHOUT ROWID",
    # Every vocabulary word under itself and each one-letter deletion of it (SymSpell): two words
    # within edit distance 1 always share an entry, found by index lookups alone.
    """CREATE TABLE search_deletes (variant TEXT NOT NULL, term TEXT NOT NULL,
        PRIMARY KEY (variant, term)) WITHOUT ROWID""",
)


@dataclass(frozen=True)
class SearchHit:
    id: str
    name: str
    # BM25 score as SQLite reports it: lower (more negative) is better.
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    # The query actually run when the typo fallback rewrote it; None otherwise.
    corrected: str | None = None


def tokens(text: str) -> list[str]:
    """Lowercased word tokens of ``text`` (at most MAX_TOKENS)."""
    return [t.lower() for t in _WORD_RE.findall(text)][:MAX_TOKENS]


def variants(term: str) -> set[str]:
    """``term`` and every string made by deleting one of its letters."""
    return {term} | {term[:i] + term[i + 1:] for i in range(len(term))}


def index_terms(conn: sqlite3.Connection, texts: Iterable[str]) -> None:
    """Add the words of ``texts`` to the typo-fallback vocabulary (inside the caller's transaction)."""
    terms = {t for text in texts for t in tokens(text) if len(t) >= TYPO_MIN_LENGTH and not t.isdigit()}
    fresh = [t for t in terms if conn.execute("INSERT OR IGNORE INTO search_terms (term) VALUES (?)",
                                              (t,)).rowcount]
    conn.executemany("INSERT OR IGNORE INTO search_deletes (variant, term) VALUES (?, ?)",
                     [(v, t) for t in fresh for v in variants(t)])


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


def _fts_query(groups: Sequence[Sequence[str]], prefix_last: bool) -> str:
    """AND of OR-groups; each term quoted (no FTS syntax from users), the last one a prefix."""
    parts = []
    for n, group in enumerate(groups):
        star = "*" if prefix_last and n == len(groups) - 1 else ""
        alternatives = [f'"{t}"{star}' for t in group]
        parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
    return " AND ".join(parts)


def _run(read: Reader, match: str, tag: str | None, limit: int) -> tuple[SearchHit, ...]:
    sql = ("SELECT t.id, t.name, bm25(titles_fts, ?, ?, ?, ?) AS score FROM titles_fts "
           "JOIN titles AS t ON t.rowid = titles_fts.rowid WHERE titles_fts MATCH ? AND t.status = 'ready'")
    args: list[object] = [*WEIGHTS, match]
    # BM25 costs per matching row: a broad query (a short prefix) is ranked among its RANK_WINDOW
    # most recently added matches only, which bounds its latency. Finding that edge is cheap.
    edge = read("SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                (match, RANK_WINDOW - 1))
    if edge:
        sql += " AND titles_fts.rowid >= ?"
        args.append(int(edge[0][0]))
    if tag:
        sql += " AND EXISTS (SELECT 1 FROM title_tags AS g WHERE g.tag = ? AND g.title = t.id)"
        args.append(tag)
    sql += " ORDER BY score LIMIT ?"
    args.append(limit)
    return tuple(SearchHit(str(i), str(n), float(s)) for i, n, s in read(sql, args))


def _corrections(read: Reader, term: str) -> list[str]:
    """Vocabulary words within edit distance 1 of ``term`` (a swap of neighbours counts 1), at most 3."""
    if read("SELECT 1 FROM search_terms WHERE term = ?", (term,)):
        return [term]
    keys = sorted(variants(term))
    rows = read(f"SELECT DISTINCT term FROM search_deletes WHERE variant IN ({','.join('?' * len(keys))}) "
                "LIMIT 500", keys)
    scored = sorted((edit_distance(term, str(t), 1), str(t)) for (t,) in rows)
    return [t for d, t in scored if d <= 1][:3]


def search(read: Reader, query: str, tag: str | None = None, limit: int = 20) -> SearchResult:
    """Ready titles matching ``query`` (every word; the last one as a prefix), best first, optionally
    only those tagged ``tag``. An empty query lists the tag's titles by popularity (none without
    a tag). A short query that finds nothing is retried with typo corrections."""
    words = tokens(query)
    tag = tag.strip().lower() if tag else None
    if not words:
        if not tag:
            return SearchResult(())
        rows = read("SELECT t.id, t.name FROM title_tags AS g JOIN titles AS t ON t.id = g.title "
                    "WHERE g.tag = ? AND t.status = 'ready' ORDER BY t.plays DESC, t.id LIMIT ?",
                    (tag, limit))
        return SearchResult(tuple(SearchHit(str(i), str(n), 0.0) for i, n in rows))
    hits = _run(read, _fts_query([[w] for w in words], True), tag, limit)
    if hits or len(words) > TYPO_MAX_TOKENS:
        return SearchResult(hits)
    groups = []
    for word in words:
        found = _corrections(read, word) if len(word) >= TYPO_MIN_LENGTH else [word]
        groups.append(found or [word])
    if all(g == [w] for g, w in zip(groups, words, strict=True)):
        return SearchResult(())
    corrected = " ".join(g[0] for g in groups)
    return SearchResult(_run(read, _fts_query(groups, False), tag, limit), corrected)
