"""Helpers shared by benchmarks: installing Debian tools on demand and running wrk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


def ensure_debian_tool(binary: str, package: str) -> str:
    """Return the path of ``binary``, installing ``package`` with apt when root and missing."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{binary} is missing: install the Debian package {package!r}")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which(binary)
    if not found:
        raise SystemExit(f"installing {package} did not provide {binary}")
    return found


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, seconds: float, connections: int, threads: int = 2,
            script: Path | None = None) -> dict[str, float]:
    """Run wrk --latency against a loopback URL; returns rps, MB/s, p50/p99 latency in ms."""
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError("benchmarks only send traffic to loopback")
    wrk = ensure_debian_tool("wrk", "wrk")
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1e-6, "KB": 1e-3 * 1.024, "MB": 1.048576, "GB": 1073.741824}
    mbps = float(transfer.group(1)) * scale.get(transfer.group(2), 1.0) if transfer else 0.0
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps, "mbps": mbps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }
