"""The embedded views in a real browser (Debian's chromium): Salesforce's Lightning
page POSTs a really signed request into a named iframe, and the Outreach Account page
frames the tile. Both sites and Chorus are served over https through Playwright's
routing (Chromium blocks an http frame in an https page): ``https://chorus.test/**``
is forwarded to the live server and fulfilled with its answer, headers included, so
Chromium enforces the real Content-Security-Policy. From an allowed origin the frame
shows the recordings; the same page from another origin gets the frame blocked."""

from __future__ import annotations

import html
import io
import math
import struct
import wave
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from console.outreach import outreach_tile_set
from crm.models import AccountDomain, CrmAccount, CrmOpportunity
from crm.tests.test_salesforce_canvas import (
    ACME_FRAME,
    INSTANCE,
    OPP,
    SECRET,
    SF_ORG,
    SF_USER,
    canvas_payload,
    signed_request,
)
from integrations.models import Connection
from integrations.storage import services as storage
from integrations.storage.models import RecordingFile
from testutils.browser import SCREENSHOTS, screenshot
from testutils.factories import EngagementFactory, MomentFactory, TrackerFactory, UserFactory

# Until chorus/urls.py includes console.embed_urls, these tests mount it themselves.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHORUS = "https://chorus.test"
LIGHTNING = "https://acme.lightning.force.com"
OUTREACH = "https://app.outreach.io"
EVIL = "https://evil.example"


def tone_wav(seconds: float = 4.0, rate: int = 8000) -> bytes:
    """A short real WAV (a quiet 440 Hz tone) the player can load and seek."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return buf.getvalue()


def with_recording(engagement):
    _, name = storage.recording_store(org=engagement.org, name=f"recordings/{engagement.pk}.wav",
                                      fileobj=io.BytesIO(tone_wav()))
    RecordingFile.objects.create(org=engagement.org, engagement=engagement, name=name, content_type="audio/wav",
                                 file_type="WAV")
    return engagement


def serve_chorus(context, live_server) -> list[tuple[str, str, int, str]]:
    """https://chorus.test/** → the live server, its answer (status, headers, body) as
    is. Returns the log of (method, path, status, Content-Security-Policy) served."""
    served = []

    def forward(route):
        url = urlsplit(route.request.url)
        target = live_server.url + url.path + (f"?{url.query}" if url.query else "")
        response = route.fetch(url=target, max_redirects=0)
        served.append((route.request.method, url.path, response.status,
                       response.headers.get("content-security-policy", "")))
        route.fulfill(response=response)
    context.route(f"{CHORUS}/**", forward)
    return served


def serve_page(context, origin: str, body: str):
    context.route(f"{origin}/**", lambda route: route.fulfill(status=200, content_type="text/html", body=body))


def lightning_page(signed: str) -> str:
    """Salesforce's record page as far as the canvas goes: a form POSTing the signed
    request into the named iframe the canvas app lives in."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Wonka renewal | Opportunity | Salesforce</title>
<style>body{{font-family:sans-serif;margin:0;background:#f3f3f3}}
header{{background:#032d60;color:#fff;padding:12px 20px}}
.panel{{margin:16px 20px;background:#fff;border-radius:4px;padding:12px;width:724px}}</style></head><body>
<header><strong>Opportunity</strong> · Wonka renewal</header>
<div class="panel"><form id="canvas-form" method="post" target="chorus-canvas"
      action="{CHORUS}/integrations/salesforce/canvas/">
  <input type="hidden" name="signed_request" value="{html.escape(signed)}"></form>
<iframe name="chorus-canvas" id="chorus-canvas" title="Chorus" width="700" height="760" style="border:0"></iframe></div>
<script>document.getElementById("canvas-form").submit();</script></body></html>"""


@pytest.fixture
def deal(org, settings, tmp_path):
    settings.SALESFORCE_CANVAS_SECRET = SECRET
    settings.MEDIA_ROOT = str(tmp_path)
    Connection.objects.create(org=org, provider="salesforce", status="ok",
                              config={"instance_url": INSTANCE, "crm_org_id": SF_ORG}, secrets={"access_token": "t"})
    rey = UserFactory(org=org, email="rey@acme.example", first_name="Rey", last_name="Rep",
                      external_ids={"salesforce": SF_USER})
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="0015e00000Wonka", name="Wonka")
    AccountDomain.objects.create(org=org, account=account, domain="wonka.example")
    CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id=OPP, name="Wonka renewal", account=account)
    pricing, competitors = TrackerFactory(org=org, name="Pricing"), TrackerFactory(org=org, name="Competitors")
    call = with_recording(EngagementFactory(org=org, title="Wonka pricing call", owner=rey, duration_seconds=1860,
                                            crm_opportunity_id=OPP, crm_account_id="0015e00000Wonka",
                                            started_at=timezone.now() - timedelta(days=1)))
    MomentFactory(engagement=call, tracker=pricing, at_seconds=2, speaker="Willy Wonka",
                  text="What would the price be for forty seats on the annual plan?")
    MomentFactory(engagement=call, tracker=competitors, at_seconds=3, speaker="Willy Wonka",
                  text="We are also looking at Globex for the same team.")
    intro = with_recording(EngagementFactory(org=org, title="Wonka discovery call", owner=rey, duration_seconds=2700,
                                             crm_opportunity_id=OPP, started_at=timezone.now() - timedelta(days=9)))
    MomentFactory(engagement=intro, tracker=TrackerFactory(org=org, name="Next steps"), at_seconds=1,
                  text="Let's set up a pricing call next Tuesday with procurement.")
    return rey


def test_salesforce_frames_the_canvas_and_another_site_cannot(page, live_server, deal):
    context = page.context
    served = serve_chorus(context, live_server)
    signed = signed_request(canvas_payload())
    serve_page(context, LIGHTNING, lightning_page(signed))
    serve_page(context, EVIL, lightning_page(signed))

    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"{LIGHTNING}/lightning/r/Opportunity/{OPP}/view")
    frame = page.frame_locator("#chorus-canvas")
    recordings = frame.locator("#embed-recordings")
    expect(recordings).to_contain_text("Wonka pricing call")
    expect(recordings).to_contain_text("Wonka discovery call")
    expect(frame.locator("#embed-count")).to_have_text("2 recordings")
    expect(frame.locator(".sx-record")).to_contain_text("Wonka renewal")
    canvas = page.frame(name="chorus-canvas")
    assert canvas.url == f"{CHORUS}/integrations/salesforce/canvas/"
    # The player loads the signed media URL inside the frame (no Chorus cookie there) …
    canvas.wait_for_function("() => [...document.querySelectorAll('audio')].every(a => a.readyState >= 1)")
    assert canvas.evaluate("() => document.querySelector('audio').duration") == pytest.approx(4.0, abs=0.1)
    # … and a Moment seeks it.
    frame.get_by_role("button", name="Play Competitors from 0:03").click()
    canvas.wait_for_function("() => document.querySelector('audio').currentTime >= 2.9")
    canvas.evaluate("() => document.querySelectorAll('audio').forEach(a => a.pause())")
    page.wait_for_timeout(300)
    screenshot(page, "salesforce_canvas_framed")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.locator("#chorus-canvas").screenshot(path=str(SCREENSHOTS / "salesforce_canvas_frame.png"))

    # The same page from another origin: Chromium refuses to render the answer in the frame.
    served.clear()
    page.goto(f"{EVIL}/lightning/r/Opportunity/{OPP}/view")
    page.wait_for_timeout(1500)
    # Chorus answered (200, with its frame-ancestors) and Chromium refused to show it there.
    assert ("POST", "/integrations/salesforce/canvas/", 200, ACME_FRAME) in served
    blocked = page.frame(name="chorus-canvas")
    assert blocked is not None and not blocked.url.startswith(CHORUS)
    assert "Wonka" not in blocked.content()
    expect(frame.locator("#embed-recordings")).to_have_count(0)


def outreach_page(tile_query: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Wonka | Accounts | Outreach</title></head><body>
<h1>Wonka</h1><p id="ready">waiting</p>
<iframe id="chorus-tile" width="640" height="600" src="{CHORUS}/integrations/outreach/tile/?{tile_query}"></iframe>
<script>window.addEventListener("message", function (e) {{
  if (e.data && e.data.type === "cxt:sdk:ready" && e.data.version === 2)
    document.getElementById("ready").textContent = "ready from " + e.origin;
}});</script></body></html>"""


def test_outreach_frames_the_tile_and_another_site_cannot(page, live_server, deal, org, settings):
    outreach_tile_set(org=org, actor=None, enabled=True)
    context = page.context
    served = serve_chorus(context, live_server)
    query = "acc.id=1207&acc.name=Wonka&acc.domain=wonka.example&locale=en&theme=light&uid=42"
    serve_page(context, OUTREACH, outreach_page(query))
    serve_page(context, EVIL, outreach_page(query))

    # Signed out: the tile says so and links to the first-party sign-in; it still says it is ready.
    page.goto(f"{OUTREACH}/accounts/1207")
    tile = page.frame_locator("#chorus-tile")
    expect(tile.locator("#embed-signed-out")).to_contain_text("Log in to Chorus")
    expect(page.locator("#ready")).to_have_text(f"ready from {CHORUS}")

    # "Log in to Chorus" opens /integrations/outreach/connect/ first-party, where the user is signed in.
    session = Client()
    session.force_login(deal)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session.cookies[settings.SESSION_COOKIE_NAME]
                          .value, "url": CHORUS, "secure": True}])
    page.goto(f"{CHORUS}/integrations/outreach/connect/")
    expect(page.locator("#outreach-connect")).to_contain_text("You are logged in for Outreach")
    assert any(c["name"] == "chorus_outreach" and c["path"] == "/integrations/outreach/" for c in context.cookies())

    page.goto(f"{OUTREACH}/accounts/1207")
    expect(tile.locator("#embed-recordings")).to_contain_text("Wonka pricing call")
    expect(page.locator("#ready")).to_have_text(f"ready from {CHORUS}")
    screenshot(page, "outreach_tile_framed")

    served.clear()
    page.goto(f"{EVIL}/accounts/1207")
    page.wait_for_timeout(1500)
    expect(page.locator("#ready")).to_have_text("waiting")
    assert ("GET", "/integrations/outreach/tile/", 200, "frame-ancestors 'self' https://*.outreach.io") in served
    blocked = next(f for f in page.frames if f != page.main_frame)
    assert not blocked.url.startswith(CHORUS)  # frame-ancestors refused it
    assert "Wonka" not in blocked.content()
    expect(tile.locator("#embed-recordings")).to_have_count(0)
