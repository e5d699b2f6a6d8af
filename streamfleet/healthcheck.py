"""``streamfleet healthcheck URL``: exit 0 when URL answers 200 in time, else 1 (container probes).

Standard library only, so a probe starts fast and works in the slimmest image.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """GET ``url``: (True, "200") when it answers 200 within ``timeout`` seconds, else (False, why).

    Never raises for network trouble; raises ValueError for a URL that is not http(s).
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": "streamfleet-healthcheck"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            status = int(response.status)
    except urllib.error.HTTPError as exc:  # 4xx/5xx: the service answered, and it is unhealthy
        exc.close()
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unreachable: {reason}"
    return status == 200, f"HTTP {status}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="streamfleet healthcheck",
        description="Exit 0 when URL (a service's /healthz) answers 200 in time; 1 otherwise.",
    )
    parser.add_argument("url", help="e.g. http://127.0.0.1:8081/healthz")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--quiet", action="store_true", help="print nothing when healthy")
    args = parser.parse_args(argv)
    try:
        healthy, detail = probe(args.url, args.timeout)
    except ValueError as exc:
        print(f"streamfleet healthcheck: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {args.url}: {detail}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"healthy: {args.url}: {detail}")
    return 0
