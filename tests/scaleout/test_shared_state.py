"""Scale-out: two origin API processes and two steering processes (plus a control plane) share one
PostgreSQL database and one S3 bucket, and either copy answers any request.

A creator signs up on origin A, logs in on origin B and uploads to A; A's worker encodes into S3
and the catalog; B lists, searches and serves the title (Range reads from S3); playback is answered
by both steering copies; logging out on B revokes the session on A.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from origin.testclip import generate_test_clip
from origin.tus_client import ResumeState, TusUploader, upload_file
from streamfleet.addressing import parse_key
from streamfleet.launcher import DEV_KEY, SESSION_KEY, ServiceProcess, free_port, streamfleet_argv, write_toml
from streamfleet.tokens import Keyring, sign

from .backends import PostgresServer, S3Server

PASSWORD = "correct horse battery"
TOKENS: dict[str, Any] = {"keys": {"demo": DEV_KEY}, "active": "demo"}
SESSIONS = {"keys": {"demo": SESSION_KEY}, "active": "demo"}


@dataclass
class Deployment:
    origins: list[str]
    steerings: list[str]
    control_plane_http: str
    database_url: str
    bucket: str
    workdir: Path
    processes: list[ServiceProcess]


def _start(proc: ServiceProcess, processes: list[ServiceProcess]) -> None:
    processes.append(proc)
    proc.start()


@pytest.fixture(scope="module")
def deployment(pg: PostgresServer, s3: S3Server,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("scaleout")
    database_url = pg.create_database("scaleout")
    bucket = s3.create_bucket("scaleout")
    env = dict(S3Server.ACCESS)
    cp_grpc, cp_http = free_port(), free_port()
    processes: list[ServiceProcess] = []
    origins, steerings = [], []
    try:
        # The control plane shares the database too: its tables and migration history sit beside
        # the origin's.
        config = write_toml(workdir / "control-plane.toml", {
            "grpc_port": cp_grpc, "http_port": cp_http, "database_url": database_url,
            "db_path": workdir / "unused-cp.sqlite3", "origin_url": "http://127.0.0.1:9"})
        argv = streamfleet_argv("control-plane", "serve", "--config", str(config))
        _start(ServiceProcess("control-plane", argv, workdir / "control-plane.log",
                              f"http://127.0.0.1:{cp_http}/healthz"), processes)
        for name, workers in (("origin-a", 1), ("origin-b", 0)):
            port = free_port()
            config = write_toml(workdir / f"{name}.toml", {
                "port": port, "data_dir": workdir / name, "database_url": database_url,
                "object_store_url": s3.url(bucket), "tokens": TOKENS, "sessions": SESSIONS,
                # Encoding runs in A only: uploads and pipeline scratch space are A's local disk.
                "pipeline": {"workers": workers, "chunk_seconds": 2, "poll_seconds": 0.05},
                "ingest": {"segment_seconds": 2},
                "accounts": {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}})
            url = f"http://127.0.0.1:{port}"
            _start(ServiceProcess(name, streamfleet_argv("origin", "serve", "--config", str(config)),
                                  workdir / f"{name}.log", f"{url}/healthz", env=env), processes)
            origins.append(url)
        for name, origin in (("steering-1", origins[0]), ("steering-2", origins[1])):
            port = free_port()
            config = write_toml(workdir / f"{name}.toml", {
                "port": port, "control_plane": f"127.0.0.1:{cp_grpc}", "origin_url": origin,
                "control_plane_http": f"http://127.0.0.1:{cp_http}", "default_site": "east",
                "tokens": TOKENS, "sessions": SESSIONS})
            url = f"http://127.0.0.1:{port}"
            _start(ServiceProcess(name, streamfleet_argv("steering", "serve", "--config", str(config)),
                                  workdir / f"{name}.log", f"{url}/healthz"), processes)
            steerings.append(url)
        for proc in processes:
            proc.wait_healthy(60)
        yield Deployment(origins, steerings, f"http://127.0.0.1:{cp_http}", database_url, bucket, workdir,
                         processes)
    finally:
        codes = {p.name: p.stop() for p in reversed(processes)}
        pg.drop_database(database_url)
    assert all(code == 0 for code in codes.values()), codes


def _get_json(url: str, **kwargs: Any) -> Any:
    response = httpx.get(url, timeout=10, **kwargs)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
    return response.json()


def _wait_ready(origin: str, title: str, deployment: Deployment, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail = httpx.get(f"{origin}/v1/titles/{title}", timeout=10)
        if detail.status_code == 200:
            body: dict[str, Any] = detail.json()
            if body["status"] == "ready" and body.get("progress", {}).get("stage") == "done":
                return body
            assert body["status"] != "failed", body
        if time.monotonic() > deadline:
            logs = "\n".join(p.tail_log(15) for p in deployment.processes if p.name.startswith("origin"))
            raise AssertionError(f"{title} not ready on {origin}: {detail.text[:500]}\n{logs}")
        time.sleep(0.1)


def test_either_copy_answers_any_request(deployment: Deployment, s3: S3Server, tmp_path: Path) -> None:
    a, b = deployment.origins
    # 1. Accounts: sign up on A, log in on B, and B's session is good on A.
    creator = {"username": "studio", "password": PASSWORD, "role": "creator"}
    assert httpx.post(f"{a}/v1/accounts", json=creator, timeout=10).status_code == 201
    assert httpx.post(f"{b}/v1/accounts", json=creator, timeout=10).status_code == 409  # one user table
    login = httpx.post(f"{b}/v1/sessions", json=creator, timeout=10)
    assert login.status_code == 201, login.text
    session = login.json()["token"]
    auth = {"Authorization": f"Bearer {session}"}
    assert _get_json(f"{a}/v1/me", headers=auth)["username"] == "studio"

    # 2. Upload to A; A's worker encodes it; B sees it ready with every file, and can search it.
    clip = generate_test_clip(tmp_path / "clip.mp4", seconds=4, width=320, height=180, fps=24)
    with TusUploader(f"{a}/v1/uploads", session) as uploader:
        outcome = upload_file(uploader, clip, {"title": "Shared Voyage", "tags": "scifi"},
                              ResumeState(tmp_path / "state.json"))
    title = outcome.title
    assert title == "shared-voyage"
    detail = _wait_ready(b, title, deployment)
    assert detail == _get_json(f"{a}/v1/titles/{title}")
    assert [t["id"] for t in _get_json(f"{b}/v1/titles")["titles"]] == [title]
    assert [r["id"] for r in _get_json(f"{b}/v1/search", params={"q": "voyag"})["results"]] == [title]
    assert _get_json(f"{b}/v1/search", params={"q": "voyaeg"})["corrected"] == "voyage"

    # 3. Both origins serve every file from the shared bucket, byte for byte, with Range support.
    token = sign(Keyring.from_strings({"demo": DEV_KEY}, "demo"), title, int(time.time()) + 300)
    for key, info in detail["files"].items():
        path = parse_key(key).signed_path(token)
        for origin in (a, b):
            body = httpx.get(f"{origin}{path}", timeout=10)
            assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == info["sha256"]
    segment = next(k for k in detail["files"] if k.endswith("seg_00001.m4s"))
    whole = httpx.get(f"{b}{parse_key(segment).signed_path(token)}", timeout=10).content
    part = httpx.get(f"{b}{parse_key(segment).signed_path(token)}", headers={"Range": "bytes=100-1099"},
                     timeout=10)
    assert part.status_code == 206 and part.content == whole[100:1100]
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket)
    stored = {o["Key"] for page in pages for o in page.get("Contents", [])}
    assert stored == {f"objects/{k}" for k in detail["files"]}
    for name in ("origin-a", "origin-b"):  # nothing was written to the local object directories
        assert not any((deployment.workdir / name / "objects").glob("**/*.m4s"))

    # 4. Playback is answered by both steering copies (each asks its own origin about the title).
    for steering in deployment.steerings:
        answer = httpx.post(f"{steering}/v1/playback", json={"title": title}, headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text
        [origin_url] = [u["url"] for u in answer.json()["urls"] if u["kind"] == "origin"]
        master = httpx.get(origin_url, timeout=10)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U")
    missing = httpx.post(f"{deployment.steerings[1]}/v1/playback", json={"title": "nope"}, headers=auth,
                         timeout=10)
    assert missing.status_code == 404

    # 5. Logging out on B revokes the session on A as well.
    assert httpx.delete(f"{b}/v1/sessions", headers=auth, timeout=10).status_code == 204
    assert httpx.get(f"{a}/v1/me", headers=auth, timeout=10).status_code == 401

    # 6. The control plane runs on the same database, with its own migration history.
    assert _get_json(f"{deployment.control_plane_http}/healthz")["status"] == "ok"
    import sqlalchemy as sa

    engine = sa.create_engine(deployment.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version_origin", "alembic_version_control_plane", "titles", "jobs", "users",
            "appliances", "fill_manifests"} <= tables
