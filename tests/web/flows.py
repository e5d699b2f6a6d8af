"""Steps several browser tests share: logging in, reading the player's state."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .stack import PASSWORD


def log_in(page: Page, base_url: str, username: str, next_path: str = "/") -> None:
    """Log in through the login form and wait for the page it sends us to."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{next_path}")
    expect(page.get_by_test_id("who")).to_contain_text(username)


def player_state(page: Page) -> dict[str, Any]:
    """window.sfPlayer plus the video element's clock."""
    state: dict[str, Any] = page.evaluate(
        "() => ({...window.sfPlayer, currentTime: document.getElementById('video').currentTime,"
        " ended: document.getElementById('video').ended})")
    return state
