"""Zoom Streaming tests: conferencing's Zoom fixtures (really signed webhooks, the
Zoom connection, inline tasks), a fake of Zoom's live-stream API, a calendar meeting
the Meeting Recording Rules record, and a real nginx-rtmp ingest on a free loopback
port calling back the live server."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.conferencing.calendars.meetings import meeting_scan
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.tests.conftest import (  # noqa: F401  (fixtures)
    SECRET,
    enterprise_org,
    host,
    post_event,
    run_tasks,
    s3,
    s3_bucket,
    signed_headers,
    zoom_connection,
    zoom_settings,
)
from integrations.streaming import ingest as ingest_module
from integrations.streaming.tests.zoom_live_fake import FakeZoomLiveStreams

MEETING_ID = "85746065123"
MEETING_UUID = "4444AAAiAAAAAiAiAiiAii=="
HOST_ID = "z8yAAAAA8bbbQ"
ACCOUNT = "ACCT-ACME-1"


@pytest.fixture
def streaming(zoom_connection, host):  # noqa: F811 (imported fixtures)
    """Acme records with Streaming (the method Activate selects) and Ada is its Zoom host."""
    zoom_connection.config = {**zoom_connection.config, "recording_method": "streaming", "streaming": True}
    zoom_connection.save()
    host.external_ids = {"zoom": HOST_ID}
    host.save()
    return zoom_connection


@pytest.fixture
def zoom_api(httpserver, settings):
    fake = FakeZoomLiveStreams(httpserver, token="ZOOM-ACCESS-1")
    fake.add_meeting(MEETING_ID)
    return fake


def calendar_meeting(org, user, *, meeting_id=MEETING_ID, attendees=("buyer@customer.example",), starts_at=None,
                     title="Acme / Customer demo"):
    calendar, _ = Calendar.objects.get_or_create(org=org, user=user, provider=Calendar.Provider.ICS)
    event = CalendarEvent(
        org=org, calendar=calendar, external_id=f"evt-{meeting_id}-{CalendarEvent.objects.count()}",
        title=title, starts_at=starts_at or timezone.now() - timedelta(minutes=1),
        ends_at=(starts_at or timezone.now()) + timedelta(minutes=30), organizer_email=user.email,
        attendees=[{"email": user.email}, *({"email": a, "name": a.split("@")[0].title()} for a in attendees)],
        location=f"https://acme.zoom.us/j/{meeting_id}",
    )
    meeting_scan(event=event, org=org)
    event.save()
    return event


@pytest.fixture
def recorded_meeting(streaming, host):  # noqa: F811 (an imported fixture)
    return calendar_meeting(host.org, host)


def started(*, meeting_id=MEETING_ID, uuid=MEETING_UUID, host_id=HOST_ID, account=ACCOUNT, ts=None, **extra):
    """Zoom's meeting.started (Zoom webhook event reference: event, event_ts, payload
    {account_id, object {id, uuid, host_id, topic, type, start_time, timezone, duration}})."""
    return {"event": "meeting.started", "event_ts": ts or int(time.time() * 1000), "payload": {
        "account_id": account, "object": {
            "id": meeting_id, "uuid": uuid, "host_id": host_id, "topic": "Acme / Customer demo", "type": 2,
            "start_time": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "timezone": "UTC", "duration": 30,
            **extra}}}


def ended(*, meeting_id=MEETING_ID, uuid=MEETING_UUID, host_id=HOST_ID, account=ACCOUNT, ts=None):
    now = timezone.now()
    return {"event": "meeting.ended", "event_ts": ts or int(time.time() * 1000), "payload": {
        "account_id": account, "object": {
            "id": meeting_id, "uuid": uuid, "host_id": host_id, "topic": "Acme / Customer demo", "type": 2,
            "start_time": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "timezone": "UTC", "duration": 30}}}


@pytest.fixture
def ingest(live_server, settings, tmp_path):
    """A real nginx-rtmp on a free loopback port, recording under tmp_path and calling
    back the live server; ``STREAM_INGEST_URL`` points at it."""
    if not shutil.which("nginx") or not shutil.which("ffmpeg"):
        pytest.fail("nginx (with libnginx-mod-rtmp) and ffmpeg are needed: make system-deps")
    settings.STREAM_RECORD_DIR = str(tmp_path / "streams")
    settings.STREAM_INGEST_URL = "rtmp://127.0.0.1:1935/live"
    running = ingest_module.start(callback_base_url=live_server.url, host="127.0.0.1", port=0, app="live")
    settings.STREAM_INGEST_URL = running.url
    yield running
    running.stop()


def push(url: str, *, seconds: float = 3, frequency: int = 440, timeout: float = 60) -> subprocess.CompletedProcess:
    """Publish generated audio (AAC in FLV) in real time, as Zoom's Custom Live
    Streaming Service does with the meeting."""
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", f"sine=frequency={frequency}:duration={seconds}", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url],
        capture_output=True, text=True, timeout=timeout,
    )
