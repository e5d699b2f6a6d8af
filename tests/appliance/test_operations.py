"""Operations: drain (admin endpoint + CLI), health under overload and disk errors, corrupt chunks."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from appliance.cli import main

from .support import (
    TITLE,
    ServerThread,
    StandInOrigin,
    appliance_config,
    fleet,
    running_appliance,
    segment,
    url_of,
)


def test_drain_needs_the_admin_token_and_keeps_serving(
    tmp_path: Path, server_kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with fleet(tmp_path, server=server_kind, admin_token="s3cret-admin") as (appliance, _):
        assert httpx.post(appliance + "/admin/drain").status_code == 403
        wrong = httpx.post(appliance + "/admin/drain", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 403 and wrong.json()["error"]["status"] == 403
        assert main(["drain", "--url", appliance, "--token", "s3cret-admin"]) == 0
        assert "draining" in capsys.readouterr().out
        health = httpx.get(appliance + "/healthz")
        assert health.status_code == 200 and health.json()["status"] == "draining"
        assert httpx.get(url_of(appliance, segment(0))).status_code == 200, "draining still serves"
        assert "streamfleet_appliance_draining 1.0" in httpx.get(appliance + "/metrics").text
        assert main(["drain", "--url", appliance, "--token", "s3cret-admin", "--undo"]) == 0
        assert httpx.get(appliance + "/healthz").json()["status"] == "ok"
        assert main(["drain", "--url", appliance, "--token", "wrong"]) == 1


def test_overload_shows_in_healthz(tmp_path: Path) -> None:
    with fleet(tmp_path, overload_connections=2) as (appliance, _):
        port = int(appliance.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            time.sleep(0.2)
            health = httpx.get(appliance + "/healthz")
            assert health.status_code == 503 and health.json()["status"] == "overloaded"
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(appliance + "/healthz").status_code == 200


def test_hard_connection_limit_answers_503(tmp_path: Path) -> None:
    with fleet(tmp_path, max_connections=2) as (appliance, _):
        port = int(appliance.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            time.sleep(0.1)
            refused = httpx.get(appliance + "/healthz")
            assert refused.status_code == 503 and refused.json()["error"]["status"] == 503
        finally:
            for sock in held:
                sock.close()


def test_disk_errors_make_the_appliance_unhealthy(tmp_path: Path) -> None:
    with fleet(tmp_path) as (appliance, _):
        tmp_dir = tmp_path / "appliance" / "tmp"
        tmp_dir.rmdir()
        tmp_dir.write_bytes(b"")  # the store can no longer create temp files
        failed = httpx.get(url_of(appliance, segment(0), None), headers={"range": "bytes=0-1"})
        assert failed.status_code == 503
        tmp_dir.unlink()
        tmp_dir.mkdir()
        health = httpx.get(appliance + "/healthz")  # writable again, but errors are recent
        assert health.status_code == 503 and health.json()["reason"] == "recent disk errors"
        assert "streamfleet_appliance_disk_errors_total 1.0" in httpx.get(appliance + "/metrics").text


def test_corrupt_chunk_found_after_restart_is_dropped_and_refetched(tmp_path: Path, server_kind: str) -> None:
    origin = StandInOrigin()
    key = segment(5)
    good = origin.titles[TITLE][key.cache_key]
    with ServerThread(origin.app()) as origin_server:
        config = appliance_config(tmp_path, origin_server.url, server=server_kind)
        with running_appliance(config) as url:
            assert httpx.get(url_of(url, key)).headers["x-cache"] == "MISS"
        path = tmp_path / "chunks" / key.relative_path
        path.write_bytes(bytes([good[0] ^ 1]) + good[1:])  # bit rot, same size
        with running_appliance(config) as url:
            again = httpx.get(url_of(url, key))
            assert again.status_code == 200 and again.content == good
            assert again.headers["x-cache"] == "MISS"
            assert origin.chunk_requests[key.cache_key] == 2
            assert "streamfleet_appliance_corrupt_chunks_total 1.0" in httpx.get(url + "/metrics").text
            assert httpx.get(url_of(url, key)).headers["x-cache"] == "HIT"
        assert path.read_bytes() == good
