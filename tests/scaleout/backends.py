"""Real backing services for tests: a PostgreSQL server and an S3-compatible server (moto), each
started once per pytest session on a free loopback port and stopped by PID when the session ends.

``postgres_server(request)`` installs Debian's ``postgresql`` when it is missing and we are root,
runs ``initdb`` + ``pg_ctl start`` as the unprivileged ``postgres`` user (PostgreSQL refuses to run
as root) and hands out one fresh database per test. ``s3_server(request)`` runs ``moto_server``.
Either skips the test, saying why, when it cannot be had here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamfleet.launcher import free_port

ROLE = "streamfleet"
_PG_KEY = pytest.StashKey["PostgresServer | str"]()
_S3_KEY = pytest.StashKey["S3Server | str"]()


def _run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"})


def _pg_bindir() -> Path | None:
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found and shutil.which("initdb") else None


def _install_postgres() -> Path:
    """The PostgreSQL bin directory, installing Debian's package first when root. Raises RuntimeError."""
    bindir = _pg_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("PostgreSQL is not installed and cannot be installed here "
                           "(needs root and apt-get: apt-get install postgresql)")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]
    done = _run(install, 900)
    if done.returncode != 0:  # a stale package list: update once, then try again
        _run(["apt-get", "update", "-qq"], 900)
        done = _run(install, 900)
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError(f"apt-get install postgresql failed: {done.stderr.strip()[-500:]}")
    return bindir


class PostgresServer:
    """A throwaway cluster: trust authentication on 127.0.0.1 only, fsync off (tests need no durability)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="streamfleet-pg-"))
        self.pid: int | None = None
        # PostgreSQL will not run as root: use the package's postgres user then.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _as_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def start(self) -> None:
        """initdb + pg_ctl start. Raises RuntimeError with PostgreSQL's own words."""
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data = self.root / "data"
        steps = [
            [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-locale", "--no-sync"],
            [str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-w",
             "-t", "60",
             "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F -c max_connections=300",
             "start"],
        ]
        for argv in steps:
            done = _run(self._as_user(argv))
            if done.returncode != 0:
                log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
                said = f"{done.stdout[-800:]}{done.stderr[-800:]}{log[-800:]}"
                raise RuntimeError(f"{Path(argv[0]).name} failed: {said}")
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        self.admin(f"CREATE ROLE {ROLE} LOGIN")

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql.encode())

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database owned by the test role; returns its URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the cluster goes away at the end anyway
            self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        """Fast shutdown of the postmaster we started (SIGINT by PID), then remove its files."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)  # raises ProcessLookupError once it is gone
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


class S3Server:
    """``moto_server`` (an S3-compatible HTTP server) in its own process on a free loopback port."""

    ACCESS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
              "AWS_DEFAULT_REGION": "us-east-1"}

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1)
                return
            time.sleep(0.1)
        raise RuntimeError("moto_server did not answer within 30 s")

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def create_bucket(self, prefix: str = "t") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def url(self, bucket: str, prefix: str = "objects") -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def postgres_server(request: pytest.FixtureRequest) -> PostgresServer:
    """The session's PostgreSQL server (started on first use). Skips when it cannot be had."""
    stash = request.config.stash
    if _PG_KEY not in stash:
        try:
            server = PostgresServer(_install_postgres())
            request.config.add_cleanup(server.stop)
            server.start()
            stash[_PG_KEY] = server
        except (RuntimeError, OSError, KeyError, subprocess.TimeoutExpired) as exc:
            stash[_PG_KEY] = f"no PostgreSQL server for this test run: {exc}"
    found = stash[_PG_KEY]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The session's S3-compatible server (started on first use). Skips when moto is missing."""
    stash = request.config.stash
    if _S3_KEY not in stash:
        try:
            import moto.server  # noqa: F401 - only to learn whether the dev dependency is there
        except ImportError:
            stash[_S3_KEY] = "moto[server] is not installed (a dev dependency): no S3-compatible server"
        else:
            server = S3Server()
            request.config.add_cleanup(server.stop)
            try:
                server.start()
                stash[_S3_KEY] = server
            except (RuntimeError, OSError) as exc:
                stash[_S3_KEY] = f"no S3-compatible server for this test run: {exc}"
    found = stash[_S3_KEY]
    if isinstance(found, str):
        pytest.skip(found)
    return found
