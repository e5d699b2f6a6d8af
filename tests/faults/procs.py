"""A real appliance process on its own (no control plane), plus small HTTP and metrics helpers."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streamfleet.addressing import ChunkKey
from streamfleet.launcher import ServiceProcess, free_port, streamfleet_argv, write_toml


class SoloAppliance:
    """``streamfleet appliance serve`` as a child process with a generated config.

    The control plane address points at a port nobody listens on: the appliance serves anyway
    (that is part of what is tested). ``settings`` are extra config keys; ``env`` extra
    environment (e.g. libfaketime). ``start`` waits for /healthz.
    """

    def __init__(
        self,
        workdir: Path,
        origin_url: str,
        *,
        appliance_id: str = "solo-1",
        site: str = "solo",
        env: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.id = appliance_id
        self.port = free_port()
        self.workdir = workdir
        self.data_dir = workdir / appliance_id
        self.config_path = workdir / f"{appliance_id}.toml"
        config: dict[str, Any] = {
            "id": appliance_id, "site": site, "host": "127.0.0.1", "port": self.port,
            "data_dir": self.data_dir, "origin_url": origin_url,
            "control_plane": f"127.0.0.1:{free_port()}", "hit_threads": 0, **settings,
        }  # fmt: skip
        write_toml(self.config_path, config)
        self.process = ServiceProcess(
            appliance_id,
            streamfleet_argv("appliance", "serve", "--config", str(self.config_path)),
            workdir / f"{appliance_id}.log",
            f"{self.url}/healthz",
            env=dict(env or {}),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chunk_path(self, key: ChunkKey) -> Path:
        return self.data_dir / "chunks" / key.relative_path

    def tmp_files(self) -> list[Path]:
        tmp = self.data_dir / "tmp"
        return sorted(tmp.iterdir()) if tmp.exists() else []

    def stored_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.data_dir / "chunks").rglob("*") if p.is_file())

    def start(self, timeout: float = 20.0) -> SoloAppliance:
        self.process.start()
        self.process.wait_healthy(timeout)
        return self

    def get(self, key: ChunkKey, token: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 10.0)
        return httpx.get(self.url + key.signed_path(token), **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0.0 when absent)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def stop(self) -> int | None:
        return self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def __enter__(self) -> SoloAppliance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.process.stop()


# Steering on its own: no control plane listening, no sessions, no waiting, no popularity reports.
SOLO_STEERING = {"host": "127.0.0.1", "startup_wait_seconds": 0, "popularity_interval_seconds": 0,
                 "require_session": False}


@contextlib.contextmanager
def served(workdir: Path, role: str, port: int, config: Mapping[str, Any], *,
           clean_exit: bool = True) -> Iterator[str]:
    """``streamfleet ROLE serve`` with ``config`` written to ``workdir/ROLE.toml``, its HTTP on
    ``port``; yields the base URL once /healthz answers, stops it after (asserting exit 0 when
    ``clean_exit``)."""
    url = f"http://127.0.0.1:{port}"
    path = write_toml(workdir / f"{role}.toml", dict(config))
    process = ServiceProcess(role, streamfleet_argv(role, "serve", "--config", str(path)),
                             workdir / f"{role}.log", f"{url}/healthz")
    process.start()
    try:
        process.wait_healthy(30)
        yield url
    finally:
        code = process.stop()
        if clean_exit:
            assert code == 0


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
