"""The engine-specific half of title search: SQLite FTS5 (BM25) and PostgreSQL tsvector (ts_rank).

Both read the same tables (the catalog's migrations build the FTS5 table or the tsvector column)
and rank name > tags > cast > description. User words never reach a query language unquoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .search import RANK_WINDOW, SearchHit, SearchIndex, closest, known_or_deletion_neighbours

# Column weights for bm25(): name, description, tags, cast_members.
FTS5_WEIGHTS = (10.0, 1.0, 4.0, 3.0)
# ts_rank weights of D, C, B, A (description, cast, tags, name): the same proportions.
TS_WEIGHTS = "{0.1,0.3,0.4,1.0}"
# pg_trgm: words this long also tolerate two edits (trigram candidates make that affordable).
LONG_WORD = 8

_TAG_FILTER = " AND EXISTS (SELECT 1 FROM title_tags AS g WHERE g.tag = :tag AND g.title = t.id)"


def _hits(rows: Iterable[Any]) -> tuple[SearchHit, ...]:
    return tuple(SearchHit(str(i), str(n), float(s)) for i, n, s in rows)


class Fts5Search:
    """SQLite FTS5 over ``titles_fts`` (BM25, prefix indexes for 2 and 3 letters)."""

    @staticmethod
    def query(groups: Sequence[Sequence[str]], prefix_last: bool) -> str:
        """AND of OR-groups; each term quoted (no FTS syntax from users), the last one a prefix."""
        parts = []
        for n, group in enumerate(groups):
            star = "*" if prefix_last and n == len(groups) - 1 else ""
            alternatives = [f'"{t}"{star}' for t in group]
            parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
        return " AND ".join(parts)

    def match(self, conn: Connection, groups: Sequence[Sequence[str]], prefix_last: bool, tag: str | None,
              limit: int) -> tuple[SearchHit, ...]:
        match = self.query(groups, prefix_last)
        params: dict[str, object] = {"match": match, "limit": limit, "tag": tag,
                                     **{f"w{i}": w for i, w in enumerate(FTS5_WEIGHTS)}}
        sql = ("SELECT t.id, t.name, bm25(titles_fts, :w0, :w1, :w2, :w3) AS score FROM titles_fts "
               "JOIN titles AS t ON t.rowid = titles_fts.rowid WHERE titles_fts MATCH :match "
               "AND t.status = 'ready'")
        # BM25 costs per matching row: a broad query is ranked among its RANK_WINDOW most recently
        # added matches only. Finding that edge is cheap.
        edge = conn.execute(sa.text("SELECT rowid FROM titles_fts WHERE titles_fts MATCH :match "
                                    "ORDER BY rowid DESC LIMIT 1 OFFSET :skip"),
                            {"match": match, "skip": RANK_WINDOW - 1}).first()
        if edge:
            sql += " AND titles_fts.rowid >= :edge"
            params["edge"] = int(edge[0])
        if tag:
            sql += _TAG_FILTER
        sql += " ORDER BY score LIMIT :limit"
        return _hits(conn.execute(sa.text(sql), params))

    def corrections(self, conn: Connection, term: str) -> list[str]:
        return closest(term, known_or_deletion_neighbours(conn, term))


class TsvectorSearch:
    """PostgreSQL: ``titles.search_vector`` (a weighted, generated tsvector with a GIN index),
    ``to_tsquery`` with ``:*`` prefixes, ts_rank; pg_trgm similarity widens typo candidates."""

    def __init__(self, trigram: bool) -> None:
        self.trigram = trigram

    @staticmethod
    def query(groups: Sequence[Sequence[str]], prefix_last: bool) -> str:
        """tsquery text: AND of OR-groups, every word a quoted lexeme (\\w+ tokens hold no quote)."""
        parts = []
        for n, group in enumerate(groups):
            star = ":*" if prefix_last and n == len(groups) - 1 else ""
            alternatives = [f"'{t}'{star}" for t in group]
            parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")")
        return " & ".join(parts)

    def match(self, conn: Connection, groups: Sequence[Sequence[str]], prefix_last: bool, tag: str | None,
              limit: int) -> tuple[SearchHit, ...]:
        inner = ("SELECT t.id, t.name, t.search_vector FROM titles AS t WHERE t.search_vector @@ "
                 "to_tsquery('simple', :query) AND t.status = 'ready'" + (_TAG_FILTER if tag else "") +
                 " ORDER BY t.created DESC LIMIT :window")
        sql = (f"SELECT m.id, m.name, -ts_rank('{TS_WEIGHTS}', m.search_vector, to_tsquery('simple', "
               f":query)) AS score FROM ({inner}) AS m ORDER BY score, m.id LIMIT :limit")
        params = {"query": self.query(groups, prefix_last), "tag": tag, "window": RANK_WINDOW, "limit": limit}
        return _hits(conn.execute(sa.text(sql), params))

    def corrections(self, conn: Connection, term: str) -> list[str]:
        candidates = known_or_deletion_neighbours(conn, term)
        if candidates == [term]:
            return candidates
        if self.trigram:
            rows = conn.execute(sa.text("SELECT term FROM search_terms WHERE term % :term "
                                        "ORDER BY similarity(term, :term) DESC LIMIT 20"), {"term": term})
            candidates += [str(t) for (t,) in rows]
        return closest(term, candidates, 2 if self.trigram and len(term) >= LONG_WORD else 1)


def search_index(conn: Connection) -> SearchIndex:
    """The search index of the database behind ``conn``."""
    if conn.dialect.name == "postgresql":
        trigram = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
        return TsvectorSearch(trigram is not None)
    return Fts5Search()
