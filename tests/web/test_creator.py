"""Creators in a real browser: a resumable tus upload with a progress bar that survives a reload,
then the title's processing until it is ready."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, expect

from .browser import ConsoleWatch
from .conftest import screenshot
from .flows import log_in
from .stack import Stack, wait_until

pytestmark = pytest.mark.e2e
UPLOADED: dict[str, str] = {}


@pytest.fixture(scope="module")
def small_clip(stack: Stack) -> Path:
    path = stack.fleet.workdir / "creator-clip.mp4"
    made = stack.fleet.run_cli("testclip", str(path), "--seconds", "4", "--width", "320", "--height", "240")
    assert made.returncode == 0, made.stderr
    return path


def test_creator_upload_resumes_after_a_reload(stack: Stack, small_clip: Path, page: Page,
                                               console: ConsoleWatch) -> None:
    base = stack.web_url
    log_in(page, base, stack.users["creator"], "/upload")
    created: list[str] = []

    def count_creations(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/uploads"):
            created.append(request.url)

    page.on("request", count_creations)

    # First attempt: the upload is created, then the connection dies before any byte lands.
    def refuse(route: Route) -> None:
        route.abort("connectionreset")

    page.route("**/api/origin/v1/uploads/*", lambda route: refuse(route) if route.request.method == "PATCH"
               else route.continue_())
    page.get_by_label("Video file").set_input_files(small_clip)
    page.get_by_label("Title", exact=True).fill("Creator Clip")
    page.get_by_label("Tags").fill("test, upload")
    page.get_by_role("button", name="Upload").click()
    wait_until(lambda: page.evaluate("Object.keys(localStorage).some(k => k.startsWith('tus::'))"), 15)

    # After a reload the page lists the unfinished upload; choosing the same file resumes it.
    # PATCHes keep failing until after the reload: the client's own retries must not finish the
    # upload before the page is reloaded.
    page.reload()
    page.unroute("**/api/origin/v1/uploads/*")
    expect(page.locator("#pending li")).to_have_count(1, timeout=15_000)
    expect(page.locator("#pending")).to_contain_text(small_clip.name)
    screenshot(page, "upload-pending")
    page.get_by_label("Video file").set_input_files(small_clip)
    page.get_by_label("Title", exact=True).fill("Creator Clip")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-message")).to_contain_text("Upload complete", timeout=30_000)
    assert len(created) == 1, f"the reload must resume the upload, not start another: {created}"
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    section = page.locator("#processing-section")
    expect(section).to_be_visible()
    title = section.get_attribute("data-title")
    assert title and title.startswith("creator-clip")
    expect(page.get_by_test_id("processing-status")).to_have_text(re.compile("queued|processing|ready"))
    expect(page.locator("#pending li")).to_have_count(0)
    UPLOADED["title"] = title
    screenshot(page, "upload")
    # The aborted PATCH is the only expected error.
    assert console.unexpected(("net::ERR_CONNECTION_RESET", "/api/origin/v1/uploads/")) == [], console.errors
    stored = json.loads(page.evaluate("JSON.stringify(Object.keys(localStorage))"))
    assert not any(k.startswith("tus::") for k in stored), "a finished upload must forget its resume key"


def test_uploaded_title_becomes_ready(stack: Stack, page: Page, console: ConsoleWatch) -> None:
    title = UPLOADED.get("title")
    assert title, "needs the upload of test_creator_upload_resumes_after_a_reload"
    base = stack.web_url
    log_in(page, base, stack.users["creator"], f"/upload?title={title}")
    expect(page.get_by_test_id("processing-status")).to_have_text("ready", timeout=60_000)
    expect(page.get_by_role("link", name="Watch it")).to_be_visible()
    # One progress bar per rendition, each complete.
    bars = page.locator("#processing-renditions progress")
    expect(bars.first).to_be_visible()
    assert all(v == "1" for v in bars.evaluate_all("els => els.map(e => String(e.value))"))
    screenshot(page, "upload-ready")
    page.get_by_role("link", name="Title page").click()
    expect(page.get_by_role("link", name="Play")).to_be_visible()
    assert console.errors == []
