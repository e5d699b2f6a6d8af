"""Benchmark: search latency over a generated catalog of 100,000 ready titles.

Builds the catalog with the origin's own Catalog (FTS5 index, tag table, typo vocabulary), then
times ``Catalog.search`` for a mix of queries: whole words, prefixes, two-word queries, tag
filters and misspellings (which take the typo fallback). Prints one JSON line
``{"titles", "queries", "p50_ms", "p99_ms", ...}``.

Usage: .venv/bin/python -m bench.search [--titles 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from origin.catalog import READY, Catalog, TitleMeta

SYLLABLES = ["ka", "lo", "mi", "ren", "sta", "vor", "qui", "dex", "lan", "tor", "bel", "nix", "ara", "sol",
             "mor", "vin", "tes", "pha", "gal", "ost", "ult", "zer", "hal", "cor"]
TAGS = ["drama", "comedy", "scifi", "action", "horror", "documentary", "kids", "romance", "thriller", "music"]


def make_words(rng: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def build(path: Path, titles: int, rng: random.Random, words: list[str]) -> None:
    with Catalog(path) as catalog, catalog.database.write() as conn:
        # Bulk load in one transaction: the bench measures queries, not loading.
        from origin import search

        vocabulary: set[str] = set()
        for i in range(titles):
            name = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))).title()
            description = " ".join(rng.choice(words) for _ in range(12))
            tags = tuple(rng.sample(TAGS, 2))
            cast = tuple(" ".join(rng.choice(words) for _ in range(2)).title() for _ in range(3))
            meta = TitleMeta(description, tags, cast, f"{rng.randint(1950, 2024)}-01-01")
            conn.exec_driver_sql(
                "INSERT INTO titles (id, name, status, duration_s, created, description, tags, cast_members, "
                "release_date, plays) VALUES (?, ?, ?, 60, ?, ?, ?, ?, ?, ?)",
                (f"t{i:06d}", name, READY, float(i), meta.description, "\n".join(tags), "\n".join(cast),
                 meta.release_date, rng.randint(0, 10_000)))
            conn.exec_driver_sql("INSERT INTO title_tags (title, tag) VALUES (?, ?)",
                                 [(f"t{i:06d}", t) for t in tags])
            vocabulary.update(name.lower().split())
        search.index_terms(conn, vocabulary)
    with Catalog(path) as catalog, catalog.database.write() as conn:
        conn.exec_driver_sql("PRAGMA optimize")


def typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def queries(rng: random.Random, words: list[str], n: int) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for _ in range(n):
        kind = rng.random()
        word = rng.choice(words)
        if kind < 0.35:
            out.append((word, None))
        elif kind < 0.55:
            out.append((word[: rng.randint(2, 4)], None))  # prefix, as typed
        elif kind < 0.75:
            out.append((f"{word} {rng.choice(words)}", None))
        elif kind < 0.85:
            out.append((word, rng.choice(TAGS)))
        else:
            out.append((typo(rng, word), None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(7)
    words = make_words(rng, 5000)
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-", dir=os.environ.get("BENCH_DIR")))
    try:
        path = workdir / "catalog.sqlite3"
        started = time.perf_counter()
        build(path, args.titles, rng, words)
        build_s = time.perf_counter() - started
        with Catalog(path) as catalog:
            mix = queries(rng, words, args.queries)
            for q, tag in mix[:100]:  # warm the page cache
                catalog.search(q, tag)
            times = []
            hits = 0
            for q, tag in mix:
                t0 = time.perf_counter()
                result = catalog.search(q, tag)
                times.append((time.perf_counter() - t0) * 1000)
                hits += bool(result.hits)
        times.sort()
        print(json.dumps({"titles": args.titles, "queries": len(times),
                          "p50_ms": round(statistics.median(times), 2),
                          "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
                          "max_ms": round(times[-1], 2), "with_results": round(hits / len(times), 3),
                          "build_s": round(build_s, 1)}))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
