"""Playwright helpers for browser tests: Debian's chromium, headless, driven by
the sync API against pytest-django's live server."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("CHORUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def login(page, base_url: str, email: str, password: str) -> None:
    """Sign in through the login form, as an admin would."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("domcontentloaded")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under screenshots/ (git-ignored) to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
