"""Catalog metadata, search (ranking, prefixes, typos, tags) on SQLite FTS5 and PostgreSQL tsvector,
new/popular lists and role checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.app import build_app
from origin.catalog import Catalog, TitleMeta
from origin.config import OriginConfig
from origin.search import edit_distance

from ..scaleout.backends import postgres_server
from .servers import bearer, login, origin_config, serving

TITLES = [
    ("space-odyssey", "Space Odyssey", TitleMeta("A voyage to Jupiter with a rogue computer",
                                                 ("scifi", "classic"), ("Keir Dullea",), "1968-04-02")),
    ("spaceballs", "Spaceballs", TitleMeta("A parody of space operas", ("comedy", "scifi"), ("Mel Brooks",),
                                           "1987-06-24")),
    ("the-matrix", "The Matrix", TitleMeta("A hacker learns the truth about reality", ("scifi", "action"),
                                           ("Keanu Reeves",), "1999-03-31")),
    ("gardening", "Gardening Basics", TitleMeta("Soil, seeds and space for vegetables", ("howto",), (),
                                                "2021-01-01")),
    ("unfinished", "Space Draft", TitleMeta("still processing", ("scifi",), (), "2024-01-01")),
]


def fill(target: Path | str, owner: str = "") -> None:
    with Catalog(target) as cat:
        for tid, name, meta in TITLES:
            cat.reserve_title(tid, name, meta=TitleMeta(meta.description, meta.tags, meta.cast,
                                                        meta.release_date, owner=owner))
            if tid != "unfinished":
                cat.publish_title(tid, 10.0, [], [])
        cat.count_play("the-matrix", 5)
        cat.count_play("gardening", 2)


def ids(cat: Catalog, query: str, tag: str | None = None) -> list[str]:
    return [h.id for h in cat.search(query, tag).hits]


def test_search_ranking_prefix_tags_and_typos(db_target: Path | str) -> None:
    fill(db_target)
    with Catalog(db_target) as cat:
        # Name matches outrank a description-only match; unfinished titles never show up.
        space = ids(cat, "space")
        assert set(space[:2]) == {"space-odyssey", "spaceballs"} and space[2:] == ["gardening"]
        assert {"space-odyssey", "spaceballs"} <= set(ids(cat, "spa"))
        assert ids(cat, "matr") == ["the-matrix"]  # prefix of the last word
        assert ids(cat, "keanu") == ["the-matrix"]  # cast
        assert ids(cat, "space", tag="comedy") == ["spaceballs"]
        assert ids(cat, "", tag="scifi") == ["the-matrix", "space-odyssey", "spaceballs"]  # by plays
        typo = cat.search("matirx")
        assert [h.id for h in typo.hits] == ["the-matrix"] and typo.corrected == "matrix"
        assert ids(cat, "odyssee") == ["space-odyssey"]
        assert ids(cat, "zzzzqqq") == [] and ids(cat, "") == []
        # FTS syntax is quoted away: never an error, every word must still match.
        assert ids(cat, 'matrix"*') == ["the-matrix"] and ids(cat, 'matrix" OR name:*') == []
        cat.update_meta("gardening", name="Gardening in Space", tags=("howto", "scifi"))
        assert ids(cat, "gardening", tag="scifi") == ["gardening"]
        assert ids(cat, "vegetab") == ["gardening"]  # description words are searched too
        cat.delete_title("spaceballs")
        assert "spaceballs" not in ids(cat, "space")


def test_postgresql_trigram_tolerates_two_typos_in_long_words(request: pytest.FixtureRequest) -> None:
    server = postgres_server(request)
    url = server.create_database()
    try:
        fill(url)
        with Catalog(url) as cat:
            two_typos = cat.search("spazeballz")  # 2 edits from "spaceballs": only pg_trgm finds it
            assert [h.id for h in two_typos.hits] == ["spaceballs"] and two_typos.corrected == "spaceballs"
            assert ids(cat, "matizx") == []  # short words still tolerate a single edit only
    finally:
        server.drop_database(url)


def test_edit_distance() -> None:
    assert edit_distance("matrix", "matirx", 2) == 1
    assert edit_distance("matrix", "matrix", 2) == 0
    assert edit_distance("kitten", "sitting", 3) == 3
    assert edit_distance("a", "abcdef", 2) == 3


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[OriginConfig, httpx.Client]]:
    config = origin_config(tmp_path)
    with serving(build_app(config)) as client:
        yield config, client


def test_http_search_lists_and_edits(served: tuple[OriginConfig, httpx.Client]) -> None:
    config, client = served
    creator = login(client, "studio", "creator")
    owner = client.get("/v1/me", headers=bearer(creator)).json()["id"]
    fill(config.catalog_path, owner=owner)
    found = client.get("/v1/search", params={"q": "matirx"}).json()
    assert [r["id"] for r in found["results"]] == ["the-matrix"] and found["corrected"] == "matrix"
    assert client.get("/v1/search", params={"q": "space", "tag": "comedy"}).json()["results"][0]["id"] == \
        "spaceballs"
    assert client.get("/v1/search", params={"q": "x", "limit": "0"}).status_code == 400
    new = [t["id"] for t in client.get("/v1/titles", params={"sort": "new"}).json()["titles"]]
    assert new == ["gardening", "the-matrix", "spaceballs", "space-odyssey"]
    popular = [t["id"] for t in client.get("/v1/titles", params={"sort": "popular"}).json()["titles"]]
    assert popular[:2] == ["the-matrix", "gardening"]
    assert client.get("/v1/titles", params={"sort": "bogus"}).status_code == 400
    assert len(client.get("/v1/titles").json()["titles"]) == len(TITLES)  # default: every title

    viewer = login(client, "watcher", "viewer")
    assert client.post("/v1/titles/spaceballs/plays", headers=bearer(viewer)).status_code == 204
    assert client.post("/v1/titles/spaceballs/plays").status_code == 401
    assert client.get("/v1/titles/spaceballs").json()["plays"] == 1
    refused = client.patch("/v1/titles/spaceballs", json={"description": "vandalised"},
                           headers=bearer(viewer))
    assert refused.status_code == 403 and refused.json()["error"]["status"] == 403
    other = login(client, "rival", "creator")
    not_theirs = client.patch("/v1/titles/spaceballs", json={"description": "x"}, headers=bearer(other))
    assert not_theirs.status_code == 403
    edited = client.patch("/v1/titles/spaceballs",
                          json={"tags": ["Comedy", "Parody"], "cast": "Mel Brooks, Rick"},
                          headers=bearer(creator))
    assert edited.status_code == 200 and edited.json()["tags"] == ["comedy", "parody"]
    assert client.get("/v1/titles/spaceballs").json()["cast"] == ["Mel Brooks", "Rick"]
    assert client.get("/v1/search", params={"q": "parody", "tag": "parody"}).json()["results"][0]["id"] == \
        "spaceballs"
    bad = client.patch("/v1/titles/spaceballs", json={"release_date": "yesterday"}, headers=bearer(creator))
    assert bad.status_code == 400
    assert client.patch("/v1/titles/nope", json={}, headers=bearer(creator)).status_code == 404
