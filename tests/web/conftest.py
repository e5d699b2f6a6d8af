"""Fixtures of the browser tests: Debian's Chromium, one fleet + web server per session, pages."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from streamfleet.launcher import ServiceProcess, free_port, streamfleet_argv, write_toml

from .browser import CHROMIUM_ARGS, ChromiumMissing, ConsoleWatch, ensure_chromium
from .stack import REPO, Stack, start_stack, stop_stack

SCREENSHOTS = REPO / "build" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing and we are root."""
    try:
        return ensure_chromium()
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[Stack]:
    """A running fleet with one ingested 12 s title, the web server, and one account per role."""
    started = start_stack(tmp_path_factory.mktemp("webstack"))
    try:
        yield started
    finally:
        codes = stop_stack(started)
        for name in ("web", "web-public"):
            assert codes.get(name, 0) == 0, f"{name} did not shut down cleanly: {codes}"


@pytest.fixture(scope="session")
def public_web(stack: Stack) -> str:
    """A second steering (require_session = false) and web server (watch_requires_login = false)
    on the same fleet: public playback, the deployment where nobody needs to log in to watch.
    Returns the web server's URL."""
    fleet = stack.fleet
    workdir = fleet.workdir
    steering = tomllib.loads(fleet.config_path("steering").read_text())
    steering.update(port=free_port(), require_session=False)
    steering_config = write_toml(workdir / "config" / "steering-public.toml", steering)
    steering_url = f"http://127.0.0.1:{steering['port']}"
    proc = ServiceProcess("steering-public", streamfleet_argv("steering", "serve", "--config",
                                                              str(steering_config)),
                          workdir / "logs" / "steering-public.log", f"{steering_url}/healthz")
    fleet.processes[proc.name] = proc
    proc.start()
    proc.wait_healthy(30)
    web = tomllib.loads((workdir / "config" / "web.toml").read_text())
    web.update(port=free_port(), steering_url=steering_url, watch_requires_login=False,
               data_dir=str(workdir / "web-public"))
    web_config = write_toml(workdir / "config" / "web-public.toml", web)
    url = f"http://127.0.0.1:{web['port']}"
    web_proc = ServiceProcess("web-public", [*stack.web.argv[:4], "--config", str(web_config)],
                              workdir / "logs" / "web-public.log", f"{url}/healthz", env=stack.web.env)
    fleet.processes[web_proc.name] = web_proc
    web_proc.start()
    web_proc.wait_healthy(30)
    return url


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture
def context(playwright: Playwright, chromium: Path, tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (Playwright refuses --user-data-dir in args)."""
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(context: BrowserContext, console: ConsoleWatch) -> Page:
    page = context.pages[0] if context.pages else context.new_page()
    console.attach(page)
    return page


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as build/screenshots/{name}.png (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
