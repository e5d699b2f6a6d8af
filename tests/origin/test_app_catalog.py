"""Input checks of the catalog routes that schemathesis found wanting: title edits (null is not
"unchanged", dates are real dates in ASCII digits) and ``limit`` (only ASCII digits: ``int()``
takes "٣" and raises on "²", which was a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest

from origin.app import build_app
from origin.app_catalog import parse_edit

from .servers import origin_config, serving


@pytest.mark.parametrize("body", [
    {"name": None}, {"name": " \x1c "}, {"description": None}, {"release_date": None},
    {"release_date": "2024-02-30"}, {"release_date": "٢٠٢٤-٠١-٠١"}, {"release_date": "2024-01-01\n"},
    {"release_date": "20240101"}, {"tags": None}, {"tags": [1]}, {"cast": {"a": 1}}, {"plays": 3},
])  # fmt: skip
def test_bad_edits_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(body)) if "plays" not in body else "unknown field"):
        parse_edit(body)


def test_good_edits_keep_only_what_was_sent() -> None:
    assert parse_edit({}) == {}
    assert parse_edit({"release_date": ""}) == {"release_date": ""}
    assert parse_edit({"name": "Film", "release_date": "2024-02-29", "tags": "Drama, drama ,sci-fi",
                       "cast": ["A", " B "]}) == {
        "name": "Film", "release_date": "2024-02-29", "tags": ("drama", "sci-fi"), "cast": ("A", "B")}


@pytest.mark.parametrize("limit", ["²", "٣", "0", "-1", "1.5", "9" * 5000, " 5"])
def test_limits_that_are_not_positive_ascii_integers_are_400(tmp_path: Path, limit: str) -> None:
    with serving(build_app(origin_config(tmp_path))) as client:
        for path in ("/v1/search?q=x", "/v1/titles?sort=new", "/v1/titles"):
            answer = client.get(path, params={"limit": limit})
            assert answer.status_code == 400, (path, limit, answer.text)
        assert client.get("/v1/titles", params={"limit": "007"}).status_code == 200
