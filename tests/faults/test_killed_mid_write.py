"""Fault 5: an appliance SIGKILLed while it writes a chunk; after a restart no partial chunk is served.

The stand-in origin sends half of a chunk and stalls, so the appliance is caught with a
partial temp file on disk (and a viewer half-way through the streamed miss) when it dies.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from streamfleet.addressing import make_key, segment_name

from .procs import SoloAppliance, wait_until
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TITLE = "half-written"
FILES = make_title(TITLE, segments=2, segment_bytes=400_000)
KEY = make_key(TITLE, "480p", segment_name(1))


def test_killed_mid_write_serves_no_partial_chunk_after_restart(tmp_path: Path) -> None:
    with StandInOrigin({TITLE: FILES}) as origin:
        origin.stall_after[KEY.cache_key] = 150_000
        appliance = SoloAppliance(tmp_path, origin.url).start()
        try:
            viewer: dict[str, object] = {}

            def watch() -> None:
                received = bytearray()
                try:
                    with httpx.stream("GET", appliance.url + KEY.signed_path(sign(TITLE)), timeout=30) as r:
                        viewer["status"] = r.status_code
                        for data in r.iter_bytes():
                            received += data
                except httpx.HTTPError as exc:
                    viewer["error"] = type(exc).__name__
                viewer["bytes"] = bytes(received)

            thread = threading.Thread(target=watch)
            thread.start()
            assert origin.stalled.wait(10), "the origin never started the chunk"
            wait_until(lambda: any(p.stat().st_size >= 150_000 for p in appliance.tmp_files()), 5,
                       "the partial chunk to land in tmp/")
            assert not appliance.chunk_path(KEY).exists()
            appliance.kill()
            thread.join(10)
        finally:
            appliance.kill()
        # The viewer streaming behind the fill got a cut-off response, never a complete wrong one.
        assert viewer.get("status") == 200
        assert "error" in viewer and len(viewer["bytes"]) < len(FILES[KEY.cache_key])  # type: ignore[arg-type]
        assert [p.stat().st_size for p in appliance.tmp_files()] != []  # the debris is there

        origin.stall_after.clear()
        origin.release()
        with appliance:
            assert appliance.tmp_files() == []  # deleted at start-up
            assert not appliance.chunk_path(KEY).exists()
            response = appliance.get(KEY, sign(TITLE))
            assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
            assert response.content == FILES[KEY.cache_key]
            again = appliance.get(KEY, sign(TITLE))
            assert again.headers["x-cache"] == "HIT" and again.content == FILES[KEY.cache_key]
            assert appliance.chunk_path(KEY).stat().st_size == len(FILES[KEY.cache_key])
