"""Zoom recordings through processing: Zoom's own WebVTT transcript (downloaded with
the event's token) becomes Moments, next steps and the KEY TOPICS and NEXT STEPS
blocks of the Task pushed to Salesforce; without a usable transcript (refused, not
WebVTT) the audio is transcribed instead; the recording-ready email waits for
processing."""

from __future__ import annotations

import pytest
from django.core import mail

from chorus.models import Engagement, Moment
from chorus.trackers import trackers_seed_defaults
from crm.tests.conftest import crm_server, push_settings  # noqa: F401  (fixtures)
from integrations.conferencing.models import ZoomEvent
from integrations.conferencing.tests.conftest import load
from integrations.conferencing.tests.zoom_fake import FakeZoomDownloads
from integrations.models import Connection, Delivery
from integrations.processing.models import EngagementProcessing, TranscriptSegment
from integrations.processing.transcript import Segment
from integrations.storage.models import RecordingFile
from testutils import crm_fakes
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
TOKEN = "DOWNLOAD-TOKEN-abc123"  # the fixture event's download_token
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16  # a small "MP4" (not decodable audio)
SF_OWNER = "005000000000001"
# Zoom's transcript file: "<n>\n<start> --> <end>\n<Speaker>: <text>" cues.
VTT = """WEBVTT

1
00:00:02.000 --> 00:00:07.000
Ada Host: Thanks for joining, Willy. Just so you know, this call is being recorded.

2
00:00:08.000 --> 00:00:15.000
Willy Wonka: Our biggest challenge is the manual process for quality checks.

3
00:00:16.000 --> 00:00:22.000
Ada Host: What budget have you set aside for this?

4
00:00:23.000 --> 00:00:30.000
Willy Wonka: About fifty thousand. We are also evaluating other vendors.

5
00:00:31.000 --> 00:00:38.000
Ada Host: I'll send you a proposal by Friday.

6
00:00:39.000 --> 00:00:45.000
Willy Wonka: Great, let's schedule a demo with my boss next week.
"""


@pytest.fixture
def zoom(httpserver):
    return FakeZoomDownloads(httpserver, token=TOKEN)


@pytest.fixture
def salesforce(enterprise_org, host, crm_server, push_settings):  # noqa: F811
    """The org's Salesforce (the strict fake over HTTPS), the host its Salesforce user."""
    host.external_ids = {**host.external_ids, "salesforce": SF_OWNER}
    host.save()
    Connection.objects.create(org=enterprise_org, provider="salesforce", status="ok",
                              config={"instance_url": crm_server.url_for("").rstrip("/"), "crm_org_id": "00D1"},
                              secrets={"access_token": "sf-token"})
    return crm_fakes.serve(crm_server, crm_fakes.FakeSalesforce(), r"/services/data/.*")


@pytest.fixture
def transcriber(monkeypatch):
    """Speech-to-text that hears two sentences in any recording, and keeps what it was given."""

    class Fake:
        engine = "fake-stt"
        given: list[bytes] = []

        def transcribe(self, audio_path):
            with open(audio_path, "rb") as f:
                self.given.append(f.read())
            return [Segment("", 1.0, 5.0, "We need a better price."), Segment("", 6.0, 9.0, "I will call you Monday.")]

    fake = Fake()
    monkeypatch.setattr("integrations.processing.speech.transcriber_from_settings", lambda: fake)
    return fake


def event(httpserver, zoom: FakeZoomDownloads, *, transcript: tuple[bytes, str] | int | None) -> dict:
    """The fixture recording.completed with its MP4, M4A, chat and (unless None) a
    TRANSCRIPT file: served as (body, content type), or refused with that status."""
    payload = load("recording_completed", base=httpserver.url_for("").rstrip("/"))
    httpserver.expect_request("/v2/past_meetings/4444AAAiAAAAAiAiAiiAii==/participants",
                              headers={"Authorization": "Bearer ZOOM-ACCESS-1"}).respond_with_json(
        {"participants": [{"name": "Ada Host", "user_email": "ada@acme.example"},
                          {"name": "Willy Wonka", "user_email": "willy@wonka.example"}]})
    zoom.add("video-file", VIDEO, "video/mp4")
    zoom.add("audio-file", b"m4a-bytes", "audio/mp4")
    files = payload["payload"]["object"]["recording_files"]
    if transcript is not None:
        if isinstance(transcript, int):
            zoom.refuse("transcript", transcript)
        else:
            zoom.add("transcript", *transcript)
        files.append({"id": "c7d1e0aa", "meeting_id": "4444AAAiAAAAAiAiAiiAii==",
                      "recording_start": "2026-11-27T15:00:05Z", "recording_end": "2026-11-27T15:30:35Z",
                      "file_type": "TRANSCRIPT", "file_extension": "VTT", "file_size": 1024,
                      "download_url": zoom.url("transcript"), "status": "completed",
                      "recording_type": "audio_transcript"})
    return payload


def receive(post_event, payload, capture) -> Engagement:
    with capture(execute=True):
        assert post_event(payload).status_code == 200
    event = ZoomEvent.objects.get()
    assert event.status == "done", event.detail
    return event.engagement


def test_zooms_transcript_fills_moments_next_steps_and_the_salesforce_task(
        post_event, zoom_connection, host, httpserver, zoom, salesforce, run_tasks,
        django_capture_on_commit_callbacks, crm_push_ready_calls):
    org = zoom_connection.org
    trackers_seed_defaults(org=org)  # the org's trackers: the Chorus defaults
    e = receive(post_event, event(httpserver, zoom, transcript=(VTT.encode(), "text/vtt")),
                django_capture_on_commit_callbacks)

    # Both files were fetched once, with the event's download token.
    assert zoom.served("transcript") == zoom.served("video-file") == [f"Bearer {TOKEN}"]
    assert zoom.served("audio-file") == [] and RecordingFile.objects.get(engagement=e).file_type == "MP4"
    row = EngagementProcessing.objects.get(engagement=e)
    assert row.status == "queued" and row.provider_transcript == VTT
    # Imported, not ready: nothing announced, no email, no CRM delivery before processing.
    assert crm_push_ready_calls == [] and not mail.outbox and not Delivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}
    row.refresh_from_db()
    e.refresh_from_db()
    assert (row.status, row.transcript_source, row.brief_engine) == ("ready", "zoom", "extractive")
    assert list(TranscriptSegment.objects.filter(engagement=e).values_list("speaker", "start_seconds")) == [
        ("Ada Host", 2.0), ("Willy Wonka", 8.0), ("Ada Host", 16.0), ("Willy Wonka", 23.0), ("Ada Host", 31.0),
        ("Willy Wonka", 39.0)]
    # One Moment per tracker and sentence, at the time the phrase was said.
    assert list(Moment.objects.filter(engagement=e).order_by("at_seconds")
                .values_list("tracker__name", "at_seconds", "speaker", "text")) == [
        ("Pain", 9, "Willy Wonka", "Our biggest challenge is the manual process for quality checks."),
        ("Budget", 16, "Ada Host", "What budget have you set aside for this?"),
        ("Competitors", 27, "Willy Wonka", "We are also evaluating other vendors."),
        ("Authority", 42, "Willy Wonka", "Great, let's schedule a demo with my boss next week.")]
    assert e.next_steps == [
        {"text": "I'll send you a proposal by Friday.", "speaker": "Ada Host", "at_seconds": 31.0},
        {"text": "Great, let's schedule a demo with my boss next week.", "speaker": "Willy Wonka",
         "at_seconds": 39.0}]
    assert e.recording_notification_detected is True and row.notification_phrase == "this call is being recorded"
    assert e.summary  # Enterprise, 30 minutes: the brief is written
    assert crm_push_ready_calls == [e.pk]
    (message,) = mail.outbox  # "your recording is ready" once it is
    assert message.to == ["ada@acme.example"] and e.recording_url in message.body

    crm_fakes.drain()
    assert set(Delivery.objects.filter(engagement=e).values_list("status", flat=True)) == {"sent"}
    (sf_task,) = salesforce.records["Task"]
    assert sf_task["Subject"] == "Chorus - Acme <> Wonka discovery call" and sf_task["OwnerId"] == SF_OWNER
    assert sf_task["Description"] == (
        f"RECORDING:\nhttps://chorus.test/recordings/{e.pk}/\n\n"
        "ATTENDEES:\nAda Host\nWilly Wonka\n\n"
        "KEY TOPICS DISCUSSED:\nPain, Budget, Competitors, Authority\n\n"
        "NEXT STEPS (TRANSCRIPT):\n* I'll send you a proposal by Friday.\n"
        "* Great, let's schedule a demo with my boss next week.")


@pytest.mark.parametrize("transcript", [
    403,  # the account's transcript is not accessible
    (b"1\n00:00:01,000 --> 00:00:04,000\nAda Host: Hello\n", "text/plain"),  # SubRip, not WebVTT
    (b"<html>Sign in to Zoom</html>", "text/html"),  # not a transcript at all
], ids=["refused", "not-webvtt", "html"])
def test_without_a_usable_zoom_transcript_the_audio_is_transcribed(
        post_event, zoom_connection, host, httpserver, zoom, run_tasks, django_capture_on_commit_callbacks,
        crm_push_ready_calls, transcriber, transcript):
    e = receive(post_event, event(httpserver, zoom, transcript=transcript), django_capture_on_commit_callbacks)
    assert zoom.served("transcript") == [f"Bearer {TOKEN}"]  # asked for, with the token, once
    assert RecordingFile.objects.get(engagement=e).size == len(VIDEO)  # imported all the same
    assert crm_push_ready_calls == []

    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}
    row = EngagementProcessing.objects.get(engagement=e)
    assert (row.status, row.transcript_source) == ("ready", "fake-stt")
    assert transcriber.given == [VIDEO]  # the stored recording was transcribed
    assert list(TranscriptSegment.objects.filter(engagement=e).values_list("text", flat=True)) == [
        "We need a better price.", "I will call you Monday."]
    assert crm_push_ready_calls == [e.pk]


def test_undecodable_audio_without_a_transcript_fails_and_is_announced_all_the_same(
        post_event, zoom_connection, host, httpserver, zoom, run_tasks, django_capture_on_commit_callbacks,
        crm_push_ready_calls):
    e = receive(post_event, event(httpserver, zoom, transcript=403), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}  # for good: no retry can mend it
    row = EngagementProcessing.objects.get(engagement=e)
    assert row.status == "failed" and row.attempts == 1 and row.transcript_source == ""
    assert row.last_error.startswith("Transcribing: The recording could not be decoded as audio: ")
    assert crm_push_ready_calls == [e.pk] and len(mail.outbox) == 1  # ready with what is known


def test_the_download_token_is_required_for_every_file(httpserver, zoom, tmp_path):
    """The fake is strict: without the event's token Zoom serves nothing."""
    import requests

    zoom.add("transcript", VTT.encode(), "text/vtt")
    for headers in ({}, {"Authorization": "Bearer someone-elses-token"}, {"Authorization": TOKEN}):
        answer = requests.get(zoom.url("transcript"), headers=headers, timeout=5)
        assert answer.status_code == 401 and answer.json()["code"] == 124
    assert requests.get(zoom.url("transcript"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text == VTT
