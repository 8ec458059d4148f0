"""An admin keeps the default recording method (Streaming), a meeting happens — a
really signed meeting.started, a real ffmpeg pushing a sample sales call over RTMP to
the real nginx ingest, meeting.ended — and the recording appears on Recordings with
the transcript the offline engine made of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chorus.models import Engagement
from integrations.processing.models import TranscriptSegment
from integrations.streaming.models import StreamSession
from integrations.streaming.tests.conftest import MEETING_ID, ended, started
from integrations.streaming.tests.test_ingest import wait_for
from testutils.browser import login, screenshot
from testutils.processing import process_queued

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
SAMPLE = Path(__file__).resolve().parents[3] / "console" / "samples" / "calls" / "sabre-pricing.ogg"


@pytest.fixture
def activated(streaming, admin_user):
    """Zoom activated with what Activate selects: Streaming on, Streaming the method."""
    streaming.config = {**streaming.config, "streaming": True, "post_call_download": False,
                        "recording_method": "streaming"}
    streaming.save()
    admin_user.set_password(PASSWORD)
    admin_user.save()
    return streaming


def test_a_streamed_meeting_appears_on_recordings_with_its_transcript(
        page, live_server, activated, admin_user, post_event, recorded_meeting, zoom_api, ingest, run_tasks):
    login(page, live_server.url, admin_user.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/")
    methods = page.locator("fieldset.zoom-methods")
    methods.scroll_into_view_if_needed()
    streaming = methods.locator("label.zoom-method", has_text="Streaming").first
    expect(streaming.locator("input[type=radio]")).to_be_checked()
    expect(streaming).to_contain_text("In use")

    # The meeting starts: Chorus sets and starts Zoom's live stream; Zoom pushes RTMP.
    assert post_event(started()).json() == {"status": "queued"}
    configured = zoom_api.configured[MEETING_ID]
    pushed = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(SAMPLE), "-c:a", "aac",
         "-b:a", "64k", "-f", "flv", f"{configured['stream_url']}/{configured['stream_key']}"],
        capture_output=True, text=True, timeout=60)
    assert pushed.returncode == 0, pushed.stderr
    wait_for(lambda: StreamSession.objects.get().pieces and not StreamSession.objects.get().publishing,
             what="the ingest's record_done")
    assert post_event(ended()).json() == {"status": "queued"}
    wait_for(lambda: StreamSession.objects.filter(status=StreamSession.Status.DONE).exists(), what="the recording")
    process_queued()  # what a worker does: transcribe (offline engine), analyse, announce

    engagement = Engagement.objects.get()
    assert abs(engagement.duration_seconds - 30) <= 2
    assert engagement.processing.transcript_source == "pocketsphinx"
    assert TranscriptSegment.objects.filter(engagement=engagement).count() >= 3

    page.goto(f"{live_server.url}/recordings/")
    row = page.get_by_role("link", name="Acme / Customer demo")
    expect(row).to_be_visible()
    row.click()
    expect(page.locator("#processing")).to_contain_text("Ready")
    expect(page.locator("audio, video").first).to_be_visible()
    lines = page.locator("#transcript li.seg")
    expect(lines.first).to_be_visible()
    assert lines.count() == TranscriptSegment.objects.filter(engagement=engagement).count()
    screenshot(page, "streaming_recording")
