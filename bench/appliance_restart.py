"""Appliance restart: time to rebuild the chunk index of a store holding 100k chunks.

Creates ``--chunks`` small chunk files (titles x renditions x segments), then times
``ChunkStore.open()`` (scan, parse every key, stat every file, rebuild the LRU order) against a
bare ``os.listdir`` walk of the same tree (the floor any scan pays). Dentries and inodes are
warm (just written), as after a process restart; a cold boot adds the disk's metadata reads.
Prints one JSON line. Usage: python -m bench.appliance_restart [--chunks 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from appliance.store import ChunkStore
from streamfleet.addressing import make_key, segment_name

RENDITIONS = ("1080p", "720p", "480p", "240p")
SEGMENTS_PER_RENDITION = 250


def populate(data_dir: Path, chunks: int) -> None:
    payload = b"x" * 64
    made = 0
    title_no = 0
    while made < chunks:
        title = f"title-{title_no:05d}"
        title_no += 1
        for rendition in RENDITIONS:
            folder = data_dir / "chunks" / title / rendition
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(min(SEGMENTS_PER_RENDITION, chunks - made)):
                key = make_key(title, rendition, segment_name(n))
                with open(data_dir / "chunks" / key.relative_path, "wb") as fh:
                    fh.write(payload)
                made += 1
            if made >= chunks:
                return


def listdir_walk(root: str) -> int:
    count = 0
    stack = [root]
    while stack:
        path = stack.pop()
        for name in os.listdir(path):
            full = os.path.join(path, name)
            if name.endswith((".m4s", ".mp4", ".m3u8")):
                count += 1
            else:
                stack.append(full)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sf-bench-restart-") as tmp:
        data_dir = Path(tmp)
        populate(data_dir, args.chunks)
        started = time.perf_counter()
        listed = listdir_walk(str(data_dir / "chunks"))
        reference = time.perf_counter() - started
        store = ChunkStore(data_dir, 10**15)
        started = time.perf_counter()
        store.open()
        rebuild = time.perf_counter() - started
        if len(store) != args.chunks or listed != args.chunks:
            raise RuntimeError(f"expected {args.chunks} chunks, index has {len(store)}, listing {listed}")
    print(json.dumps({"chunks": args.chunks, "rebuild_s": round(rebuild, 3),
                      "reference_listdir_s": round(reference, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
