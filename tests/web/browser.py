"""Debian's Chromium for the browser tests: installed on demand (apt, as root), never downloaded.

Playwright for Python drives ``/usr/bin/chromium`` through ``executable_path``; Playwright's own
browser downloads are never used. Flags are the ones measured to play H.264/AAC HLS headless.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]
INSTALL_HINT = "install Debian's Chromium: apt-get update && apt-get install -y chromium"


class ChromiumMissing(RuntimeError):
    """Chromium is not installed and cannot be installed from here."""


def ensure_chromium(path: Path = CHROMIUM, timeout: float = 900.0) -> Path:
    """The Chromium binary, installed with apt-get first when missing and we are root.

    Raises ChromiumMissing with what to install otherwise (or when apt-get fails).
    """
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChromiumMissing(f"{path} is missing; {INSTALL_HINT} (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise ChromiumMissing(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-1500:]}; "
                                  f"{INSTALL_HINT}")
    if not path.is_file():
        raise ChromiumMissing(f"apt-get installed chromium but {path} is still missing; {INSTALL_HINT}")
    return path


@dataclass
class ConsoleWatch:
    """Collects console errors and uncaught page errors of one page."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"pageerror: {error.message}")

    def unexpected(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """Errors not containing any of the ``allowed`` substrings."""
        return [e for e in self.errors if not any(a in e for a in allowed)]
