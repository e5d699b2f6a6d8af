"""Upload -> in-process worker -> ready, watched through GET /v1/titles/{id} and ``titles show``."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

from origin.app import build_app
from origin.config import IngestSettings, PipelineSettings
from origin.tus_client import ResumeState, TusUploader, upload_file
from streamfleet.addressing import parse_key
from streamfleet.tokens import sign

from .servers import login, origin_config, serving

ENTRY = "import sys; from origin.cli import titles_main; sys.exit(titles_main(sys.argv[1:]))"


def test_uploaded_title_becomes_ready_and_playable(tmp_path: Path, clip_360: Path) -> None:
    config = origin_config(tmp_path, ingest=IngestSettings(segment_seconds=2),
                           pipeline=PipelineSettings(workers=1, chunk_seconds=2, poll_seconds=0.05))
    with serving(build_app(config)) as client:
        token = login(client, "studio", "creator")
        with TusUploader(f"{client.base_url}/v1/uploads", token) as uploader:
            outcome = upload_file(uploader, clip_360, {"title": "Studio Cut", "tags": "drama"},
                                  ResumeState(tmp_path / "state.json"))
        assert outcome.title == "studio-cut"
        seen = set()
        deadline = time.monotonic() + 60
        while True:
            detail = client.get("/v1/titles/studio-cut").json()
            seen.add(detail["status"])
            if detail["status"] == "ready" and detail["progress"]["stage"] == "done":
                break
            assert detail["status"] != "failed", detail
            assert time.monotonic() < deadline, detail
            time.sleep(0.05)
        assert seen <= {"queued", "processing", "ready"}
        assert detail["tags"] == ["drama"] and detail["progress"]["renditions"]["240p"]["chunks"] == 3
        key = "studio-cut/360p/seg_00001.m4s"
        signed = sign(config.tokens.keyring(), "studio-cut", int(time.time()) + 60)
        segment = client.get(parse_key(key).signed_path(signed))
        assert segment.status_code == 200
        assert hashlib.sha256(segment.content).hexdigest() == detail["files"][key]["sha256"]
        shown = subprocess.run([sys.executable, "-c", ENTRY, "show", "studio-cut", "--origin",
                                str(client.base_url)], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0, shown.stderr
        assert "studio-cut: Studio Cut (ready" in shown.stdout and "3/3 chunks" in shown.stdout
