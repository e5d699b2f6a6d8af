from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# Property tests: any header text is a clean outcome, and well-formed ranges land inside the object.
_header_text = st.text(alphabet=st.characters(max_codepoint=255), max_size=120)
_range_part = st.one_of(
    st.tuples(st.integers(0, 5000), st.one_of(st.none(), st.integers(0, 5000))).map(
        lambda p: f"{p[0]}-{'' if p[1] is None else p[1]}"
    ),
    st.integers(0, 5000).map(lambda n: f"-{n}"),
)


@given(_header_text, st.integers(0, 4000))
def test_any_range_header_is_parsed_or_refused_cleanly(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except (MalformedRange, RangeNotSatisfiable):
        return
    if ranges is not None:
        assert ranges and all(0 <= start < end <= size for start, end in ranges)


@given(st.lists(_range_part, min_size=1, max_size=5), st.integers(0, 4000))
def test_well_formed_ranges_stay_inside_the_object(parts: list[str], size: int) -> None:
    header = "bytes=" + ",".join(parts)
    try:
        ranges = parse_range(header, size)
    except MalformedRange:
        # Only a range whose last byte precedes its first is malformed here.
        assert any("-" in p and p.split("-")[1] and not p.startswith("-")
                   and int(p.split("-")[1]) < int(p.split("-")[0]) for p in parts)
        return
    except RangeNotSatisfiable:
        return
    assert ranges is not None
    for start, end in ranges:
        assert 0 <= start < end <= size
