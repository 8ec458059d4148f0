"""Zoom Streaming end to end: a really signed meeting.started, Zoom's live-stream
calls against a local fake, a real ffmpeg pushing RTMP to a real nginx-rtmp which
asks Chorus (on_publish) and hands over the file (on_record_done), meeting.ended →
one Engagement with the media's real duration → processing."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from chorus.models import Engagement
from integrations.processing.models import EngagementProcessing, ProcessingStatus
from integrations.storage.models import RecordingFile
from integrations.streaming.models import StreamSession
from integrations.streaming.tests.conftest import MEETING_ID, MEETING_UUID, calendar_meeting, ended, push, started
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stream_url(zoom_api, meeting_id=MEETING_ID):
    configured = zoom_api.configured[meeting_id]
    return f"{configured['stream_url']}/{configured['stream_key']}"


def recorded_files(ingest):
    return sorted(Path(ingest.record_path).glob("*.flv"))


def test_a_streamed_meeting_becomes_one_engagement_with_its_real_duration(
        post_event, recorded_meeting, zoom_api, ingest, run_tasks, settings):
    assert post_event(started()).json() == {"status": "queued"}
    session = StreamSession.objects.get()
    assert session.status == StreamSession.Status.WAITING
    # Zoom was asked exactly this, with the connection's token.
    patches = [c for c in zoom_api.calls if c[0] == "PATCH"]
    key = zoom_api.configured[MEETING_ID]["stream_key"]
    assert patches == [
        ("PATCH", f"/v2/meetings/{MEETING_ID}/livestream",
         {"stream_url": ingest.url, "stream_key": key, "page_url": "https://chorus.test/recordings/"},
         "Bearer ZOOM-ACCESS-1"),
        ("PATCH", f"/v2/meetings/{MEETING_ID}/livestream/status",
         {"action": "start", "settings": {"active_speaker_name": True, "display_name": "Chorus Notetaker"}},
         "Bearer ZOOM-ACCESS-1"),
    ]
    assert len(key) >= 40 and session.key_hash != key and key not in str(StreamSession.objects.values().get())

    done = push(stream_url(zoom_api), seconds=3)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: StreamSession.objects.get().pieces and not StreamSession.objects.get().publishing,
             what="record_done")
    assert StreamSession.objects.get().status == StreamSession.Status.LIVE
    assert not Engagement.objects.exists()  # the meeting goes on until Zoom says it ended

    assert post_event(ended()).json() == {"status": "queued"}
    session = wait_for(lambda: StreamSession.objects.filter(status=StreamSession.Status.DONE).first(),
                       what="the recording")
    engagement = Engagement.objects.get()
    assert session.engagement == engagement and session.publishes == 1
    assert (engagement.source, engagement.external_id, engagement.kind) == ("zoom", MEETING_UUID, "recording")
    assert engagement.owner == recorded_meeting.calendar.user
    assert abs(engagement.duration_seconds - 3) <= 1
    assert sorted(engagement.participants.values_list("email", flat=True)) == [
        "ada@acme.example", "buyer@customer.example"]
    stored = RecordingFile.objects.get(engagement=engagement)
    assert stored.file_type == "MP4" and stored.size > 0 and stored.bucket is None
    assert Path(settings.MEDIA_ROOT, stored.name).is_file()
    assert recorded_files(ingest) == []  # the pieces are gone once stored

    process_queued()
    processing = EngagementProcessing.objects.get(engagement=engagement)
    # A sine tone has no words: processing ends (ready with no speech, or failed) and is announced either way.
    assert processing.status in (ProcessingStatus.READY, ProcessingStatus.FAILED)
    assert processing.announced_at is not None

    # The key is dead: the ingest refuses it now (and so makes no file).
    again = push(stream_url(zoom_api), seconds=1)
    assert again.returncode != 0
    assert recorded_files(ingest) == []
    assert Engagement.objects.count() == 1


def test_a_wrong_key_is_refused_by_the_ingest(post_event, recorded_meeting, zoom_api, ingest, run_tasks):
    post_event(started())
    done = push(f"{ingest.url}/not-a-key-chorus-issued", seconds=1)
    assert done.returncode != 0
    assert recorded_files(ingest) == []
    session = StreamSession.objects.get()
    assert (session.status, session.publishes, session.pieces) == (StreamSession.Status.WAITING, 0, [])


def test_a_key_is_refused_for_another_meeting_once_its_own_ended(
        post_event, recorded_meeting, zoom_api, ingest, run_tasks, host):
    post_event(started())
    first_url = stream_url(zoom_api)
    assert push(first_url, seconds=1).returncode == 0
    post_event(ended())
    wait_for(lambda: Engagement.objects.exists(), what="the first recording")
    # Next meeting: its own key; the old key publishes nothing.
    calendar_meeting(host.org, host, meeting_id="91112223334")
    zoom_api.add_meeting("91112223334")
    post_event(started(meeting_id="91112223334", uuid="second-meeting-uuid=="))
    assert stream_url(zoom_api, "91112223334") != first_url
    assert push(first_url, seconds=1).returncode != 0
    assert recorded_files(ingest) == []
    second = StreamSession.objects.get(meeting_uuid="second-meeting-uuid==")
    assert (second.publishes, second.pieces) == (0, [])


def test_a_dropped_and_reconnected_stream_is_one_engagement(post_event, recorded_meeting, zoom_api, ingest,
                                                           run_tasks):
    post_event(started())
    url = stream_url(zoom_api)
    assert push(url, seconds=2, frequency=440).returncode == 0
    wait_for(lambda: len(StreamSession.objects.get().pieces) == 1, what="the first piece")
    assert push(url, seconds=3, frequency=660).returncode == 0  # Zoom reconnects with the same key
    wait_for(lambda: len(StreamSession.objects.get().pieces) == 2 and not StreamSession.objects.get().publishing,
             what="the second piece")
    post_event(ended())
    wait_for(lambda: StreamSession.objects.filter(status=StreamSession.Status.DONE).exists(), what="the recording")
    engagement = Engagement.objects.get()
    assert abs(engagement.duration_seconds - 5) <= 1
    assert StreamSession.objects.get().publishes == 2


def test_meeting_ended_while_still_streaming_waits_for_the_last_piece(post_event, recorded_meeting, zoom_api,
                                                                      ingest, run_tasks):
    post_event(started())
    pusher = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "aac", "-f", "flv", stream_url(zoom_api)])
    wait_for(lambda: StreamSession.objects.get().publishing, what="the publish")
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", post_event(ended())))
    thread.start()
    thread.join()
    assert StreamSession.objects.get().status == StreamSession.Status.ENDED
    assert not Engagement.objects.exists()
    assert pusher.wait(timeout=30) == 0
    wait_for(lambda: StreamSession.objects.filter(status=StreamSession.Status.DONE).exists(), what="the recording")
    assert abs(Engagement.objects.get().duration_seconds - 3) <= 1
