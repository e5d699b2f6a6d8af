"""Hit serving: a real appliance process against nginx (sendfile) on the same chunk files, via wrk.

Both serve the same page-cached 2 MiB and 256 KiB chunk files on loopback; the appliance verifies
a signed token, parses Range and counts metrics on every request. Runs alternate A/B per size
(rounds x seconds each) and the medians are printed as one JSON line.
Usage: python -m bench.appliance_vs_nginx [--rounds 3] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.tools import ensure_debian_tool, run_wrk
from streamfleet import tokens

TITLE = "bench"
SIZES = {"2mib": ("1080p", 2 * 1024 * 1024), "256kib": ("240p", 256 * 1024)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def started(argv: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run ``argv`` until the block ends; stops it by PID (SIGTERM, then SIGKILL)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_http(url, proc)
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def write_chunks(chunks_dir: Path) -> dict[str, str]:
    """The chunk files (random bytes), by size label -> cache key; read once to warm the page cache."""
    keys = {}
    for label, (rendition, size) in SIZES.items():
        key = f"{TITLE}/{rendition}/seg_00000.m4s"
        path = chunks_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        path.read_bytes()
        keys[label] = key
    return keys


def nginx_conf(root: Path, port: int, workdir: Path) -> Path:
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""daemon off;
worker_processes auto;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    fastcgi_temp_path {workdir}/nginx-fastcgi;
    uwsgi_temp_path {workdir}/nginx-uwsgi;
    scgi_temp_path {workdir}/nginx-scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""
    )
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server", default="fast", choices=["fast", "uvicorn"])
    parser.add_argument("--hit-threads", type=int, default=-1, help="appliance hit_threads (-1: auto)")
    args = parser.parse_args(argv)
    nginx = ensure_debian_tool("nginx", "nginx")
    ensure_debian_tool("wrk", "wrk")

    with tempfile.TemporaryDirectory(prefix="sf-bench-appliance-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx workers run unprivileged and must read the chunk files
        data_dir = workdir / "appliance"
        keys = write_chunks(data_dir / "chunks")
        nginx_port, appliance_port = free_port(), free_port()
        config = workdir / "appliance.toml"
        config.write_text(
            f'id = "bench-1"\nport = {appliance_port}\ndata_dir = "{data_dir}"\n'
            f'control_plane = "127.0.0.1:{free_port()}"\nserver = "{args.server}"\n'
            # No origin runs here to read the pre-placed chunks back against: trust their size.
            "verify_on_first_hit = false\n"
            f"hit_threads = {args.hit_threads}\n"
            'log_level = "warning"\n'
        )
        token = tokens.sign(tokens.TokenSettings().keyring(), TITLE, int(time.time()) + 3600)
        nginx_url = f"http://127.0.0.1:{nginx_port}"
        appliance_url = f"http://127.0.0.1:{appliance_port}"
        results: dict[str, dict[str, list[dict[str, float]]]] = {
            label: {"nginx": [], "appliance": []} for label in SIZES
        }
        nginx_argv = [nginx, "-c", str(nginx_conf(data_dir / "chunks", nginx_port, workdir))]
        appliance_argv = [
            sys.executable, "-m", "streamfleet.cli", "appliance", "serve", "--config", str(config)
        ]
        with started(nginx_argv, nginx_url), started(appliance_argv, appliance_url + "/healthz"):
            for label, key in keys.items():
                urls = {"nginx": f"{nginx_url}/{key}", "appliance": f"{appliance_url}/s/{token}/{key}"}
                for name, url in urls.items():  # warm-up, and a correctness check
                    response = httpx.get(url)
                    if response.status_code != 200 or len(response.content) != SIZES[label][1]:
                        raise RuntimeError(f"{name} did not serve {key}: {response.status_code}")
                    run_wrk(url, 1, args.connections)
                for _ in range(args.rounds):
                    for name in ("nginx", "appliance"):
                        result = run_wrk(urls[name], args.seconds, args.connections)
                        if result["non_2xx"] or result["socket_errors"]:
                            raise RuntimeError(f"{name} errors during the run: {result}")
                        results[label][name].append(result)

    def median(label: str, name: str, field: str) -> float:
        return statistics.median(r[field] for r in results[label][name])

    out: dict[str, float] = {}
    for label in SIZES:
        mine, theirs = median(label, "appliance", "mbps"), median(label, "nginx", "mbps")
        out[f"mbps_{label}"] = round(mine, 1)
        out[f"nginx_mbps_{label}"] = round(theirs, 1)
        out[f"ratio_{label}"] = round(mine / theirs, 3)
    out["p99_ms_2mib"] = round(median("2mib", "appliance", "p99_ms"), 2)
    out["nginx_p99_ms_2mib"] = round(median("2mib", "nginx", "p99_ms"), 2)
    out["p99_ms_256kib"] = round(median("256kib", "appliance", "p99_ms"), 2)
    out["nginx_p99_ms_256kib"] = round(median("256kib", "nginx", "p99_ms"), 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
