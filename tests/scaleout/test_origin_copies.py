"""Two origin API processes on one database (a SQLite file, or PostgreSQL) and one shared data
directory, as two copies behind a load balancer: an upload moves between them mid-way, login
throttling counts failures on both together, and one upload is written by one copy at a time.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from origin.testclip import generate_test_clip
from origin.tus_client import TusUploader
from origin.uploads import encode_metadata
from streamfleet.launcher import DEV_KEY, SESSION_KEY, ServiceProcess, free_port, streamfleet_argv, write_toml

from .backends import postgres_server

PASSWORD = "correct horse battery"
MAX_PER_ACCOUNT = 4
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Copies:
    a: str
    b: str
    data_dir: Path
    processes: list[ServiceProcess]
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {**TUS, "Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def copies(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copies]:
    workdir = tmp_path_factory.mktemp(f"copies-{request.param}")
    data_dir = workdir / "shared-data"  # the shared volume: uploads, sources, objects (and SQLite)
    shared: dict[str, Any] = {
        "data_dir": data_dir, "tokens": {"keys": {"demo": DEV_KEY}, "active": "demo"},
        "sessions": {"keys": {"demo": SESSION_KEY}, "active": "demo"},
        "pipeline": {"workers": 0},
        "accounts": {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1,
                     "max_failures_per_account": MAX_PER_ACCOUNT, "max_failures_per_ip": 1000}}
    database_url = None
    if request.param == "postgresql":
        server = postgres_server(request)
        database_url = server.create_database("copies")
        shared["database_url"] = database_url
    processes: list[ServiceProcess] = []
    urls = []
    try:
        for name in ("origin-a", "origin-b"):
            port = free_port()
            config = write_toml(workdir / f"{name}.toml", {"port": port, **shared})
            url = f"http://127.0.0.1:{port}"
            proc = ServiceProcess(name, streamfleet_argv("origin", "serve", "--config", str(config)),
                                  workdir / f"{name}.log", f"{url}/healthz")
            processes.append(proc)
            proc.start()
            urls.append(url)
        for proc in processes:
            proc.wait_healthy(60)
        deployment = Copies(urls[0], urls[1], data_dir, processes)
        creator = {"username": "maker", "password": PASSWORD, "role": "creator"}
        assert httpx.post(f"{deployment.a}/v1/accounts", json=creator, timeout=10).status_code == 201
        login = httpx.post(f"{deployment.b}/v1/sessions", json=creator, timeout=10)
        assert login.status_code == 201, login.text
        deployment.token = login.json()["token"]
        yield deployment
    finally:
        codes = {p.name: p.stop() for p in processes}
        if database_url is not None:
            postgres_server(request).drop_database(database_url)
    assert all(code == 0 for code in codes.values()), codes


def _create(origin: str, auth: dict[str, str], length: int, title: str) -> str:
    """A new upload on ``origin``; returns its id."""
    created = httpx.post(f"{origin}/v1/uploads", timeout=10, headers={
        **auth, "Upload-Length": str(length), "Upload-Metadata": encode_metadata({"title": title})})
    assert created.status_code == 201, created.text
    return str(created.headers["location"]).rsplit("/", 1)[1]


def _offset(origin: str, auth: dict[str, str], upload_id: str) -> int:
    head = httpx.head(f"{origin}/v1/uploads/{upload_id}", headers=auth, timeout=10)
    assert head.status_code == 200, head.status_code
    return int(head.headers["upload-offset"])


def _wait_offset(origin: str, auth: dict[str, str], upload_id: str, at_least: int) -> int:
    deadline = time.monotonic() + 10
    while (offset := _offset(origin, auth, upload_id)) < at_least:
        assert time.monotonic() < deadline, f"offset stuck at {offset}"
        time.sleep(0.01)
    return offset


def _cut_patch(origin: str, auth: dict[str, str], upload_id: str, data: bytes, send: int) -> None:
    """A PATCH announcing all of ``data`` from offset 0 whose connection dies after ``send`` bytes."""
    host, port = origin.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in auth.items())
    request = (f"PATCH /v1/uploads/{upload_id} HTTP/1.1\r\nHost: {host}\r\n{head}"
               f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request + data[:send])
        time.sleep(0.2)
        sock.shutdown(socket.SHUT_RDWR)


def test_an_upload_begun_on_one_copy_is_finished_on_the_other(copies: Copies, tmp_path: Path) -> None:
    clip = generate_test_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180, fps=24)
    data = clip.read_bytes()
    upload_id = _create(copies.a, copies.auth, len(data), "Moved Mid-Way")
    # The connection to A dies part-way: A keeps what arrived, and B sees the same offset.
    _cut_patch(copies.a, copies.auth, upload_id, data, len(data) // 3)
    kept = _wait_offset(copies.a, copies.auth, upload_id, len(data) // 3)
    assert kept == len(data) // 3 == _offset(copies.b, copies.auth, upload_id)
    # The client resumes on B (another copy behind the balancer), checksummed chunks.
    with TusUploader(f"{copies.b}/v1/uploads", copies.token, chunk_size=64 * 1024) as uploader:
        outcome = uploader.send(clip, f"{copies.b}/v1/uploads/{upload_id}", kept, len(data))
    assert outcome.sent == len(data) - kept
    title = outcome.title
    assert title == "moved-mid-way"
    source = copies.data_dir / "sources" / f"{title}.src"
    assert hashlib.sha256(source.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    # Accepted as a title: both copies know it, and the upload reports it on either.
    for origin in (copies.a, copies.b):
        detail = httpx.get(f"{origin}/v1/titles/{title}", timeout=10)
        assert detail.status_code == 200 and detail.json()["status"] == "queued", detail.text
        head = httpx.head(f"{origin}/v1/uploads/{upload_id}", headers=copies.auth, timeout=10)
        assert head.headers["x-streamfleet-title"] == title
    # Completing it again on A (a lost answer, retried elsewhere) is refused, not a second title.
    again = httpx.patch(f"{copies.a}/v1/uploads/{upload_id}", content=b"", timeout=10, headers={
        **copies.auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(len(data))})
    assert again.status_code == 409


def test_failed_logins_on_both_copies_are_throttled_as_on_one(copies: Copies) -> None:
    user = {"username": "victim", "password": PASSWORD}
    assert httpx.post(f"{copies.b}/v1/accounts", json=user, timeout=10).status_code == 201
    for name in ("victim", "no-such-user"):
        for n in range(MAX_PER_ACCOUNT):
            wrong = httpx.post(f"{(copies.a, copies.b)[n % 2]}/v1/sessions", timeout=10,
                               json={"username": name, "password": "wrong password!"})
            assert wrong.status_code == 401, (name, n)
        # Each copy saw only half the failures, and still both refuse: the count is shared.
        answers = [httpx.post(f"{origin}/v1/sessions", json={"username": name, "password": PASSWORD},
                              timeout=10) for origin in (copies.a, copies.b)]
        assert [a.status_code for a in answers] == [429, 429], name
        assert answers[0].json() == {"error": {"status": 429,
                                               "message": "too many failed logins; try again later"}}
        assert 1 <= int(answers[1].headers["retry-after"]) <= 300


def test_one_upload_is_written_by_one_copy_at_a_time(copies: Copies) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    upload_id = _create(copies.a, copies.auth, len(data) + 1, "Never Finished")  # stays open
    url_a, url_b = (f"{o}/v1/uploads/{upload_id}" for o in (copies.a, copies.b))
    patch = {**copies.auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    first_sent, go_on = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield data[:65536]
        first_sent.set()
        assert go_on.wait(20)
        yield data[65536:]

    answers: dict[str, httpx.Response] = {}

    def write_on_a() -> None:
        answers["a"] = httpx.patch(url_a, content=slow_body(), timeout=30,
                                   headers={**patch, "Content-Length": str(len(data))})

    writer = threading.Thread(target=write_on_a)
    writer.start()
    try:
        assert first_sent.wait(10)
        offset = _wait_offset(copies.b, copies.auth, upload_id, 65536)
        # B is asked to write at the offset it reports, and to terminate: A holds the upload.
        answers["b"] = httpx.patch(url_b, content=b"interleaved?", timeout=10,
                                   headers={**patch, "Upload-Offset": str(offset)})
        answers["terminate"] = httpx.delete(url_b, headers=copies.auth, timeout=10)
    finally:
        go_on.set()
        writer.join(30)
    assert sorted(answers[k].status_code for k in ("a", "b")) == [204, 409]
    assert answers["a"].status_code == 204 and answers["a"].headers["upload-offset"] == str(len(data))
    assert "another request is writing" in answers["b"].json()["error"]["message"]
    assert answers["terminate"].status_code == 423
    assert (copies.data_dir / "uploads" / f"{upload_id}.part").read_bytes() == data


def test_the_last_bytes_sent_to_both_copies_at_once_complete_the_upload_once(copies: Copies,
                                                                            tmp_path: Path) -> None:
    clip = generate_test_clip(tmp_path / "race.mp4", seconds=2, width=320, height=180, fps=24)
    data = clip.read_bytes()
    upload_id = _create(copies.a, copies.auth, len(data), "Raced")
    patch = {**copies.auth, "Content-Type": "application/offset+octet-stream"}
    head_start = len(data) - 4096
    first = httpx.patch(f"{copies.a}/v1/uploads/{upload_id}", content=data[:head_start], timeout=10,
                        headers={**patch, "Upload-Offset": "0"})
    assert first.status_code == 204
    start = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def finish_on(name: str, origin: str) -> None:
        start.wait()
        answers[name] = httpx.patch(f"{origin}/v1/uploads/{upload_id}", content=data[head_start:],
                                    timeout=30, headers={**patch, "Upload-Offset": str(head_start)})

    racers = [threading.Thread(target=finish_on, args=(n, o)) for n, o in (("a", copies.a), ("b", copies.b))]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert sorted(r.status_code for r in answers.values()) == [204, 409], {
        n: (r.status_code, r.text) for n, r in answers.items()}
    [done] = [r for r in answers.values() if r.status_code == 204]
    title = done.headers["x-streamfleet-title"]
    assert title == "raced"
    assert (copies.data_dir / "sources" / f"{title}.src").read_bytes() == data
    listed = [t["id"] for t in httpx.get(f"{copies.b}/v1/titles", timeout=10).json()["titles"]]
    assert listed.count("raced") == 1 and not any(t.startswith("raced-") for t in listed)
