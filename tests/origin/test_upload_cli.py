"""``streamfleet upload`` and its tus client: progress, resume after an interruption, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.app import build_app
from origin.config import OriginConfig
from origin.tus_client import ResumeState, TusClientError, TusUploader, upload_file

from .servers import login, origin_config, serving


@pytest.fixture
def config(tmp_path: Path) -> OriginConfig:
    return origin_config(tmp_path)


@pytest.fixture
def client(config: OriginConfig) -> Iterator[httpx.Client]:
    with serving(build_app(config)) as c:
        yield c


class Interrupt(Exception):
    pass


def test_interrupted_upload_resumes_from_the_state_file(client: httpx.Client, config: OriginConfig,
                                                        clip_360: Path, tmp_path: Path) -> None:
    token = login(client, "maker", "creator")
    state = ResumeState(tmp_path / "state.json")
    endpoint = f"{client.base_url}/v1/uploads"
    seen: list[int] = []

    def stop_halfway(done: int, total: int) -> None:
        seen.append(done)
        if done > total // 2:
            raise Interrupt

    with TusUploader(endpoint, token, chunk_size=64 * 1024) as uploader:
        with pytest.raises(Interrupt):
            upload_file(uploader, clip_360, {"title": "Half Way"}, state, stop_halfway)
        assert len(json.loads(state.path.read_text())) == 1  # the URL is remembered
        outcome = upload_file(uploader, clip_360, {"title": "Half Way"}, state, lambda d, t: seen.append(d))
    size = clip_360.stat().st_size
    assert 0 < outcome.sent < size and outcome.length == size and outcome.title == "half-way"
    assert (config.sources_dir / "half-way.src").read_bytes() == clip_360.read_bytes()
    assert json.loads(state.path.read_text()) == {}  # forgotten once done
    assert seen[-1] == size


def test_refused_upload_is_forgotten(client: httpx.Client, tmp_path: Path) -> None:
    token = login(client, "maker", "creator")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk" * 5000)
    state = ResumeState(tmp_path / "state.json")
    with TusUploader(f"{client.base_url}/v1/uploads", token) as uploader:
        with pytest.raises(TusClientError, match="422: cannot read junk.mp4: invalid data"):
            upload_file(uploader, junk, {"filename": "junk.mp4", "title": "Junk"}, state)
    assert json.loads(state.path.read_text()) == {}


# The kernel's command table gains "upload" -> origin.cli:upload_main; until then, call it directly.
ENTRY = "import sys; from origin.cli import upload_main; sys.exit(upload_main(sys.argv[1:]))"


def run_upload(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_cli_upload(client: httpx.Client, config: OriginConfig, clip_360: Path, tmp_path: Path) -> None:
    token = login(client, "maker", "creator")
    common = ["--origin", str(client.base_url), "--state", str(tmp_path / "state.json")]
    done = run_upload(str(clip_360), "--title", "CLI Upload", "--description", "from the CLI",
                      "--tags", "demo,cli", "--token", token, *common)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["title"] == "cli-upload" and result["bytes"] == result["sent"] == clip_360.stat().st_size
    assert "100%" in done.stderr
    detail = client.get("/v1/titles/cli-upload").json()
    assert detail["status"] == "queued"

    viewer = login(client, "watcher", "viewer")
    refused = run_upload(str(clip_360), "--title", "Nope", "--token", viewer, *common)
    assert refused.returncode == 1 and "403" in refused.stderr and "Traceback" not in refused.stderr
    missing = run_upload(str(tmp_path / "missing.mp4"), "--title", "Nope", *common)
    assert missing.returncode == 2
