"""Trace readers and the synthetic chunk expansion."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from appliance.eviction import Request, TraceFormatError, expand_to_chunks, read_trace
from appliance.eviction.chunks import LADDER, SEGMENT_SECONDS
from appliance.eviction.traces import parse_text
from streamfleet.addressing import SEGMENT_RE

UMASS = """\
1189828805.208862 63.22.65.73 140.8.48.66 GETVIDEO lML9dik8QNw 55.226.42.233
1189828810.212831 63.22.65.73 35.139.191.73 GETVIDEO bBXyB7niEc0&origin 55.253.185.27

1189828811.0 63.22.65.73 35.139.191.73 LLNWD bBXyB7niEc0 55.253.185.27
garbage line
1189828812.0 63.22.65.73 35.139.191.73 GETVIDEO bBXyB7niEc0 55.253.185.27
notatime 63.22.65.73 35.139.191.73 GETVIDEO x 55.253.185.27
1189828813.0 63.22.65.73 35.139.191.73 PUTVIDEO y 55.253.185.27
"""

TENCENT = """\
20160201164604 085abb02a06850729bb01479466420d9e102d325 5 m 12903 1 PHONE 1
20160201164604 085abb02a06850729bb01479466420d9e102d325 0 m 500 1 PHONE 1
20160201164604 ef1d4b96dfcf4f19c37dff1068565975e10866cc 5 b 0 1 PHONE 0
20160201164604 ef1d4b96dfcf4f19c37dff1068565975e10866cc 5 b -3 1 PHONE 0
20160201164605 short line
"""


def test_umass_keeps_getvideo_rows_normalises_ids_and_counts_the_rest() -> None:
    trace = parse_text(UMASS, "umass")
    assert trace.requests == [Request("lML9dik8QNw", 1), Request("bBXyB7niEc0", 1), Request("bBXyB7niEc0", 1)]
    assert trace.ignored == 1  # the LLNWD row
    assert trace.malformed == 3  # garbage, bad timestamp, unknown request type
    assert trace.first_malformed.startswith("line 5: expected 6 fields")


def test_strict_mode_fails_on_the_first_malformed_line() -> None:
    with pytest.raises(TraceFormatError, match="line 5"):
        parse_text(UMASS, "umass", strict=True)


def test_tencent_key_is_photo_format_and_spec_and_zero_sizes_are_ignored() -> None:
    trace = parse_text(TENCENT, "tencent")
    assert trace.requests == [
        Request("085abb02a06850729bb01479466420d9e102d325:5:m", 12903),
        Request("085abb02a06850729bb01479466420d9e102d325:0:m", 500),
    ]
    assert trace.ignored == 1 and trace.malformed == 2


def test_csv_header_quoting_and_malformed_rows() -> None:
    trace = parse_text('key,size\na,10\n"b,with comma",20\n\nc\nd,-1\ne,x\na,10\n', "csv")
    assert trace.requests == [Request("a", 10), Request("b,with comma", 20), Request("a", 10)]
    assert trace.malformed == 3
    headerless = parse_text("a,1\nb,2\n", "csv")
    assert headerless.requests == [Request("a", 1), Request("b", 2)] and headerless.malformed == 0


def test_bzip2_is_detected_by_content(tmp_path: Path) -> None:
    packed = tmp_path / "trace.txt"  # no .bz2 suffix on purpose
    packed.write_bytes(bz2.compress(TENCENT.encode()))
    assert len(read_trace(packed, "tencent").requests) == 2
    plain = tmp_path / "trace.csv"
    plain.write_text("k,5\n")
    assert read_trace(plain, "csv").requests == [Request("k", 5)]


def test_unknown_format_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="unknown trace format"):
        read_trace(tmp_path / "x", "parquet")
    with pytest.raises(TraceFormatError, match="cannot read trace"):
        read_trace(tmp_path / "missing.dat", "umass")
    broken = tmp_path / "broken.bz2"
    broken.write_bytes(bz2.compress(b"a,1\n" * 1000)[:40])
    with pytest.raises(TraceFormatError, match="cannot read trace"):
        read_trace(broken, "csv")


def test_real_traces_normalise_as_the_readme_says(youtube: list[Request], tencent: list[Request]) -> None:
    assert len(youtube) == 37_411 and len({r.key for r in youtube}) == 21_954
    assert all(r.size == 1 and "&" not in r.key for r in youtube)
    assert len(tencent) == 9_954 and len({r.key for r in tencent}) == 9_659


def test_chunk_expansion_is_a_run_of_segments_per_viewing() -> None:
    videos = [Request(v, 1) for v in ["v1", "v2", "v1", "v3", "v1"] * 20]
    chunks = expand_to_chunks(videos, seed=7)
    assert chunks == expand_to_chunks(videos, seed=7)  # deterministic
    assert chunks != expand_to_chunks(videos, seed=8)
    sizes = {name: int(bps * SEGMENT_SECONDS / 8) for name, bps, _ in LADDER}
    runs: list[list[Request]] = []
    for request in chunks:
        video, rendition, name = request.key.split("/")
        match = SEGMENT_RE.match(name)
        assert match and request.size == sizes[rendition]
        if int(match.group(1)) == 0:
            runs.append([])
        runs[-1].append(request)
    assert len(runs) == len(videos)  # one run per viewing, each starting at segment 0
    for run, viewing in zip(runs, videos, strict=True):
        prefixes = {r.key.rsplit("/", 1)[0] for r in run}
        assert len(prefixes) == 1 and prefixes.pop().startswith(viewing.key + "/")
        assert [int(r.key[-9:-4]) for r in run] == list(range(len(run)))
    # A video has one length: its longest viewing is the same whatever the rendition.
    longest: dict[str, int] = {}
    for run, viewing in zip(runs, videos, strict=True):
        longest[viewing.key] = max(longest.get(viewing.key, 0), len(run))
    assert all(n <= 600 / SEGMENT_SECONDS for n in longest.values())


def test_chunk_expansion_of_the_real_trace(youtube_chunks: list[Request]) -> None:
    assert 300_000 < len(youtube_chunks) < 1_500_000
    assert len({r.size for r in youtube_chunks}) == len(LADDER)
