"""Benchmark: tus upload of a generated file to a real origin over loopback vs a raw disk copy.

Prints one JSON line ``{"upload_mbps", "copy_mbps", "ratio", ...}``. Both land on the same disk
(the origin's data dir and the copy sit in one temp folder) and both end with fsync. The upload's
last PATCH is refused with 422 (random bytes are not a video) after every byte is stored, so the
timing covers receiving, writing and syncing all of them. Files are deleted afterwards.

Usage: .venv/bin/python -m bench.upload [--mib 1024] [--chunk-mib 256] [--checksum]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from origin.tus_client import TusClientError, TusUploader
from streamfleet.launcher import free_port, write_toml

BLOCK = 64 << 20


def make_file(path: Path, mib: int) -> None:
    block = os.urandom(BLOCK)
    with open(path, "wb") as fh:
        for _ in range(mib * (1 << 20) // BLOCK):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())


def raw_copy(source: Path, dest: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, dest)  # copy_file_range/sendfile: the fastest copy Python has
    with open(dest, "rb") as fh:
        os.fsync(fh.fileno())
    return time.perf_counter() - started


def start_origin(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = write_toml(workdir / "origin.toml", {"port": port, "data_dir": str(workdir / "origin"),
                                                  "log_level": "warning", "pipeline": {"workers": 0}})
    argv = [sys.executable, "-m", "streamfleet.cli", "origin", "serve", "--config", str(config)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("origin did not start")
        time.sleep(0.1)


def creator_token(url: str) -> str:
    account = {"username": "bench-creator", "password": "bench-password-123", "role": "creator"}
    httpx.post(f"{url}/v1/accounts", json=account, timeout=30)
    response = httpx.post(f"{url}/v1/sessions", json=account, timeout=30)
    response.raise_for_status()
    return str(response.json()["token"])


def tus_upload(url: str, token: str, source: Path, chunk: int, checksum: bool) -> float:
    length = source.stat().st_size
    with TusUploader(f"{url}/v1/uploads", token, chunk_size=chunk, checksum=checksum, timeout=600) as tus:
        location = tus.create(length, {"filename": source.name, "title": "bench"})
        started = time.perf_counter()
        try:
            tus.send(source, location, 0, length)
        except TusClientError as exc:
            if "422" not in str(exc):  # expected: random bytes are refused as a video once stored
                raise
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=256)
    parser.add_argument("--checksum", action="store_true", help="sha1 on every PATCH")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=os.environ.get("BENCH_DIR")))
    proc = None
    try:
        source = workdir / "source.bin"
        make_file(source, args.mib)
        size = source.stat().st_size
        copy_s = raw_copy(source, workdir / "copy.bin")
        (workdir / "copy.bin").unlink()
        proc, url = start_origin(workdir)
        upload_s = tus_upload(url, creator_token(url), source, args.chunk_mib << 20, args.checksum)
        upload_mbps = size / upload_s / 1e6
        copy_mbps = size / copy_s / 1e6
        print(json.dumps({"upload_mbps": round(upload_mbps, 1), "copy_mbps": round(copy_mbps, 1),
                          "ratio": round(upload_mbps / copy_mbps, 3), "bytes": size,
                          "chunk_mib": args.chunk_mib, "checksum": args.checksum}))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
