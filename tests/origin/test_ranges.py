from __future__ import annotations

import pytest

from origin.errors import MalformedRange, RangeNotSatisfiable
from origin.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [(0, 100)]),
        ("bytes=0-0", [(0, 1)]),
        ("bytes=900-", [(900, 1000)]),
        ("bytes=-100", [(900, 1000)]),
        ("bytes=-5000", [(0, 1000)]),
        ("bytes=990-5000", [(990, 1000)]),
        ("BYTES = 0-1, 5-6", [(0, 2), (5, 7)]),
        ("bytes=0-1,2000-3000", [(0, 2)]),  # unsatisfiable parts are dropped
        ("items=0-5", None),  # unknown unit: ignored
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(17)), None),  # too many: whole object
    ],
)
def test_valid(header: str, expected: list[tuple[int, int]] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes", "bytes=", "bytes=abc", "bytes=5-1", "bytes=-", "bytes=1-2-3",
                                    "bytes=0x10-20", "bytes=-1-", "bytes= ,", "bytes=１-2"])
def test_malformed(header: str) -> None:
    with pytest.raises(MalformedRange):
        parse_range(header, 1000)


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=0-", 0),
                                              ("bytes=5000-6000,2000-", 1000)])
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, size)
    assert info.value.size == size
