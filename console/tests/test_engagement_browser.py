"""The engagement page in a real browser: a call imported and processed for real (a
stored clip, Zoom's transcript, a worker's run), then the player, the transcript,
Moments that seek the player, next steps, the brief and the processing status; an
admin's Retry."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from chorus.models import Organization
from console.tests.test_engagement_page import processed_call
from integrations.processing.models import EngagementProcessing
from testutils.browser import SCREENSHOTS, login, screenshot
from testutils.factories import ParticipantFactory, UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def admin(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                       role=role(org, "Admin"), password=PASSWORD)


def player_time(page) -> float:
    return page.evaluate("document.querySelector('audio').currentTime")


def wait_for_time(page, low: float, high: float) -> None:
    page.wait_for_function(
        "([low, high]) => { const t = document.querySelector('audio').currentTime; return t >= low && t < high; }",
        arg=[low, high])


def test_the_engagement_page_plays_the_call_from_what_was_said(page, live_server, admin, org):
    e = processed_call(org, minutes=12, title="Wonka discovery call")
    ParticipantFactory(engagement=e, name="Willy Wonka", email="willy@wonka.example", title="Chocolatier")
    budget = e.moments.filter(tracker__name="Budget").order_by("at_seconds").first()
    assert budget is not None and budget.at_seconds >= 10

    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("link", name="Wonka discovery call").click()
    expect(page.get_by_role("heading", name="Wonka discovery call")).to_be_visible()

    status = page.locator("#processing")
    expect(status.locator(".badge").first).to_have_text("Ready")
    expect(status).to_contain_text("Zoom transcript")
    expect(status).to_contain_text("Written by Chorus extractive summary (offline)")
    expect(status).to_contain_text("“this call is being recorded”")

    audio = page.locator("audio[data-player]")
    expect(audio).to_be_visible()
    page.wait_for_function("document.querySelector('audio').readyState >= 1")
    # The media view answers byte ranges, so the player knows the length and can seek.
    page.wait_for_function("isFinite(document.querySelector('audio').duration)")

    lines = page.locator("#transcript li.seg")
    expect(lines).to_have_count(7)
    expect(lines.first).to_contain_text("Jim Halpert")
    expect(lines.nth(1)).to_contain_text("Our biggest challenge is paper for the factory.")
    screenshot(page, "engagement_page")

    # A Moment seeks the player to its second and plays.
    moments = page.locator("#moments")
    moment = moments.get_by_role("link", name=f"Play Budget from 0:{budget.at_seconds:02d}").first
    moment.click()
    wait_for_time(page, budget.at_seconds, budget.at_seconds + 3)
    page.evaluate("document.querySelector('audio').pause()")
    # The transcript follows: the line being said is highlighted.
    expect(page.locator("#transcript li.seg.is-current")).to_have_count(1)
    expect(page.locator("#transcript li.seg.is-current")).to_contain_text("budget")

    # A click on a transcript line's text plays from its start.
    lines.nth(5).locator(".seg-text").click()
    start = float(lines.nth(5).get_attribute("data-start"))
    wait_for_time(page, start - 0.01, start + 3)
    page.evaluate("document.querySelector('audio').pause()")
    expect(lines.nth(5)).to_have_class(re.compile(r"\bis-current\b"))

    # Next steps, with a time that seeks too.
    steps = moments.locator("li", has_text="send you the proposal by Friday")
    expect(steps.first).to_contain_text("Jim Halpert")
    steps.first.locator("a[data-seek]").click()
    wait_for_time(page, 29, 33.5)
    page.evaluate("document.querySelector('audio').pause()")

    brief = page.locator("#brief")
    expect(brief.get_by_role("heading", name="Post-meeting brief")).to_be_visible()
    expect(brief.get_by_role("heading", name="Meeting summary")).to_be_visible()
    expect(brief.get_by_role("heading", name="Action items")).to_be_visible()
    expect(brief).to_contain_text("I'll send you the proposal by Friday. — Jim Halpert")
    expect(brief).to_contain_text("Written by Chorus extractive summary (offline)")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "engagement_page_playing")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.locator("#transcript").screenshot(path=str(SCREENSHOTS / "engagement_transcript.png"))

    # A failed run: the reason, and the admin's Retry.
    EngagementProcessing.objects.filter(engagement=e).update(
        status="failed", attempts=5,
        last_error="Transcribing: The speech-to-text service did not answer (gave up after 5 tries)")
    page.reload()
    status = page.locator("#processing")
    expect(status.locator(".badge").first).to_have_text("Failed")
    expect(status).to_contain_text("did not answer (gave up after 5 tries)")
    page.locator("#processing").screenshot(path=str(SCREENSHOTS / "engagement_processing_failed.png"))
    status.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status").filter(has_text="Chorus processes this conversation again now")).to_be_visible()
    expect(page.locator("#processing .badge").first).to_have_text("Queued")
    screenshot(page, "engagement_page_retried")
    assert EngagementProcessing.objects.get(engagement=e).status == "queued"
