"""Zoom Streaming's webhook events (really signed, through conferencing's queue) and
the ingest's callbacks over HTTP: duplicates, reordering, refusals, Zoom failures,
org isolation, and one engagement per meeting whichever method imports it."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import Engagement
from integrations.conferencing.models import ZoomEvent
from integrations.models import Connection
from integrations.streaming import services
from integrations.streaming.models import StreamSession
from integrations.streaming.tests.conftest import MEETING_ID, MEETING_UUID, calendar_meeting, ended, started
from testutils.factories import EngagementFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def record_dir(settings, tmp_path):
    settings.STREAM_RECORD_DIR = str(tmp_path / "streams")
    Path(settings.STREAM_RECORD_DIR).mkdir()
    settings.STREAM_INGEST_URL = "rtmp://ingest.chorus.test:1935/live"
    return Path(settings.STREAM_RECORD_DIR)


def callback(client, name, *, key, secret=None, **fields):
    url = reverse(f"stream-{name}") + "?secret=" + (secret if secret is not None else services.callback_secret())
    return client.post(url, {"call": "publish" if name == "publish" else "record_done", "app": "live",
                             "addr": "203.0.113.9", "name": key, **fields})


def piece(record_dir, key, seconds=1, n=1):
    path = record_dir / f"{key}-{1700000000 + n}.flv"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-f", "flv", str(path)], check=True)
    return path


def key_of(zoom_api, meeting_id=MEETING_ID):
    return zoom_api.configured[meeting_id]["stream_key"]


def test_duplicate_and_replayed_meeting_started_make_one_session(post_event, recorded_meeting, zoom_api, run_tasks,
                                                                 record_dir):
    payload = started()
    assert post_event(payload).json() == {"status": "queued"}
    assert post_event(payload).json() == {"status": "duplicate"}  # Zoom's retry of the same delivery
    assert post_event(started(ts=payload["event_ts"] + 1)).json() == {"status": "queued"}  # a new delivery
    assert StreamSession.objects.count() == 1
    assert len([c for c in zoom_api.calls if c[0] == "PATCH"]) == 2
    second = ZoomEvent.objects.filter(event="meeting.started").order_by("id").last()
    assert second.status == ZoomEvent.Status.IGNORED and "Already handled" in second.detail
    assert zoom_api.configured[MEETING_ID]["stream_url"] == "rtmp://ingest.chorus.test:1935/live"


@pytest.mark.parametrize("why", ["internal only", "turned off", "post call download", "no calendar", "not a user"])
def test_meetings_the_rules_do_not_record_are_not_streamed(post_event, streaming, host, zoom_api, run_tasks, why):
    if why == "internal only":
        calendar_meeting(host.org, host, attendees=("bob@acme.example",))
    elif why == "turned off":
        event = calendar_meeting(host.org, host)
        event.recording_disabled = True
        from integrations.conferencing.calendars.meetings import meeting_scan
        meeting_scan(event=event, org=host.org)
        event.save()
    elif why == "post call download":
        calendar_meeting(host.org, host)
        streaming.config = {**streaming.config, "recording_method": "post_call_download"}
        streaming.save()
    elif why == "not a user":
        calendar_meeting(host.org, host)
    post_event(started(host_id="someone-else" if why == "not a user" else "z8yAAAAA8bbbQ"))
    event = ZoomEvent.objects.get()
    assert event.status == ZoomEvent.Status.IGNORED, event.detail
    assert not [c for c in zoom_api.calls if c[0] == "PATCH"]
    assert not StreamSession.objects.exclude(status=StreamSession.Status.FAILED).exists()


def test_the_host_is_found_by_the_email_zoom_gives(post_event, streaming, host, zoom_api, run_tasks):
    host.external_ids = {}
    host.save()
    zoom_api.add_user("z8yAAAAA8bbbQ", "ADA@acme.example")
    calendar_meeting(host.org, host)
    post_event(started())
    assert StreamSession.objects.get().owner == host
    assert ("GET", "/v2/users/z8yAAAAA8bbbQ", None, "Bearer ZOOM-ACCESS-1") in zoom_api.calls


def test_zoom_refusing_fails_the_session_with_a_reason(post_event, recorded_meeting, zoom_api, run_tasks):
    zoom_api.meetings.clear()  # Zoom: 404 3001 Meeting does not exist
    post_event(started())
    session = StreamSession.objects.get()
    assert session.status == StreamSession.Status.FAILED and "Meeting does not exist" in session.detail
    assert session.key_hash is None
    assert ZoomEvent.objects.get().status == ZoomEvent.Status.FAILED


def test_zoom_busy_is_retried_with_a_fresh_key(post_event, recorded_meeting, zoom_api, run_tasks):
    from integrations.conferencing.services import zoom_event_process

    zoom_api.fail_next.append((503, {"code": 503, "message": "Service unavailable"}))
    post_event(started())
    event = ZoomEvent.objects.get()
    assert event.status == ZoomEvent.Status.RETRYING
    assert StreamSession.objects.get().status == StreamSession.Status.FAILED
    ZoomEvent.objects.filter(pk=event.pk).update(status=ZoomEvent.Status.QUEUED)
    zoom_event_process(event_id=event.pk)
    assert ZoomEvent.objects.get().status == ZoomEvent.Status.DONE
    session = StreamSession.objects.get()
    assert session.status == StreamSession.Status.WAITING
    assert session.key_hash == services.key_hash(key_of(zoom_api))


def test_meeting_ended_before_started_streams_nothing(post_event, recorded_meeting, zoom_api, run_tasks):
    post_event(ended())
    post_event(started())
    assert not [c for c in zoom_api.calls if c[0] == "PATCH"]
    assert StreamSession.objects.get().status == StreamSession.Status.FAILED


def test_callbacks_need_the_ingest_secret(client, post_event, recorded_meeting, zoom_api, run_tasks, record_dir):
    post_event(started())
    key = key_of(zoom_api)
    assert callback(client, "publish", key=key, secret="").status_code == 403
    assert callback(client, "publish", key=key, secret="guess").status_code == 403
    assert client.get(reverse("stream-publish") + "?secret=" + services.callback_secret()).status_code == 405
    assert StreamSession.objects.get().publishes == 0
    assert callback(client, "publish", key=key).status_code == 200


def test_publish_refusals(client, post_event, recorded_meeting, zoom_api, run_tasks, record_dir):
    post_event(started())
    key = key_of(zoom_api)
    assert callback(client, "publish", key="made-up").status_code == 403
    assert callback(client, "publish", key=key, app="other").status_code == 403
    StreamSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert callback(client, "publish", key=key).status_code == 403
    StreamSession.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    assert callback(client, "publish", key=key).status_code == 200
    assert callback(client, "publish", key=key).status_code == 200  # a reconnect of the same meeting


def test_record_done_only_takes_files_of_the_record_directory(client, post_event, recorded_meeting, zoom_api,
                                                              run_tasks, record_dir, tmp_path):
    post_event(started())
    key = key_of(zoom_api)
    callback(client, "publish", key=key)
    outside = piece(tmp_path, key)
    assert callback(client, "done", key=key, path=str(outside)).status_code == 404
    assert callback(client, "done", key=key, path=str(record_dir / ".." / outside.name)).status_code == 404
    other = piece(record_dir, "someone-else")
    assert callback(client, "done", key=key, path=str(other)).status_code == 404
    mine = piece(record_dir, key)
    assert callback(client, "done", key=key, path=str(mine)).status_code == 200
    assert callback(client, "done", key=key, path=str(mine)).status_code == 200  # repeated: counted once
    assert StreamSession.objects.get().pieces == [str(mine)]


def test_record_done_after_meeting_ended_makes_the_recording(client, post_event, recorded_meeting, zoom_api,
                                                            run_tasks, record_dir):
    post_event(started())
    key = key_of(zoom_api)
    callback(client, "publish", key=key)
    post_event(ended())
    assert StreamSession.objects.get().status == StreamSession.Status.ENDED
    assert callback(client, "publish", key=key).status_code == 403  # over: no more publishing
    callback(client, "done", key=key, path=str(piece(record_dir, key, seconds=2)))
    engagement = Engagement.objects.get()
    assert abs(engagement.duration_seconds - 2) <= 1
    post_event(ended(ts=1))  # a replayed end changes nothing
    assert Engagement.objects.count() == 1


def test_post_call_download_of_the_same_meeting_is_not_a_second_engagement(
        client, post_event, recorded_meeting, zoom_api, run_tasks, record_dir, host):
    EngagementFactory(org=host.org, source="zoom", external_id=MEETING_UUID, owner=host)
    post_event(started())
    key = key_of(zoom_api)
    callback(client, "publish", key=key)
    callback(client, "done", key=key, path=str(piece(record_dir, key)))
    post_event(ended())
    session = StreamSession.objects.get()
    assert session.status == StreamSession.Status.DONE and "Already imported" in session.detail
    assert Engagement.objects.filter(external_id=MEETING_UUID).count() == 1
    assert list(record_dir.iterdir()) == []


def test_a_key_of_one_org_never_writes_into_another(client, post_event, recorded_meeting, zoom_api, run_tasks,
                                                    record_dir, other_org):
    """Globex streams too; Acme's key finds only Acme's session, Globex's events only Globex's."""
    globex_host = UserFactory(org=other_org, email="gus@globex.example", external_ids={"zoom": "GLOBEX-HOST"})
    Connection.objects.create(
        org=other_org, provider="zoom", status="ok",
        config={"account_id": "ACCT-GLOBEX", "streaming": True, "recording_method": "streaming"},
        secrets={"access_token": "ZOOM-ACCESS-1", "refresh_token": "r", "expires_at": "2999-01-01T00:00:00+00:00"})
    calendar_meeting(other_org, globex_host, meeting_id="77788899900", attendees=("x@customer.example",))
    zoom_api.add_meeting("77788899900")
    post_event(started())
    post_event(started(meeting_id="77788899900", uuid="globex-uuid==", host_id="GLOBEX-HOST", account="ACCT-GLOBEX"))
    acme_key = key_of(zoom_api)
    callback(client, "publish", key=acme_key)
    callback(client, "done", key=acme_key, path=str(piece(record_dir, acme_key)))
    # Globex's meeting.ended naming Acme's meeting uuid closes nothing of Acme's.
    post_event(ended(uuid=MEETING_UUID, account="ACCT-GLOBEX", meeting_id="77788899900"))
    acme = StreamSession.objects.get(org=recorded_meeting.org)
    assert acme.status == StreamSession.Status.LIVE
    post_event(ended())
    assert Engagement.objects.get().org == recorded_meeting.org
    assert not Engagement.objects.filter(org=other_org).exists()
    assert StreamSession.objects.get(meeting_uuid="globex-uuid==").publishes == 0


def test_a_lost_record_done_or_a_dead_finalizer_is_finished_by_the_sweep(client, post_event, recorded_meeting,
                                                                       zoom_api, run_tasks, record_dir):
    post_event(started())
    key = key_of(zoom_api)
    callback(client, "publish", key=key)
    callback(client, "done", key=key, path=str(piece(record_dir, key, seconds=2, n=1)))
    callback(client, "publish", key=key)  # a reconnect whose record_done never comes (nginx restarted)
    post_event(ended())
    session = StreamSession.objects.get()
    assert session.status == StreamSession.Status.ENDED and session.publishing
    assert services.stream_sessions_sweep() == 0  # too early: the ingest may still report it
    assert not Engagement.objects.exists()

    later = timezone.now() + services.STALE + timedelta(minutes=1)
    assert services.stream_sessions_sweep(now=later) == 1
    engagement = Engagement.objects.get()
    assert abs(engagement.duration_seconds - 2) <= 1  # what the ingest reported
    assert StreamSession.objects.get().status == StreamSession.Status.DONE
    assert services.stream_sessions_sweep(now=later) == 0


def test_a_finalization_whose_worker_died_runs_again(client, post_event, recorded_meeting, zoom_api, monkeypatch,
                                                     run_tasks, record_dir):
    from integrations.streaming import tasks

    post_event(started())
    key = key_of(zoom_api)
    callback(client, "publish", key=key)
    callback(client, "done", key=key, path=str(piece(record_dir, key, seconds=1)))
    queued = []
    monkeypatch.setattr(services, "_finalize_queue", queued.append)
    post_event(ended())
    assert queued and StreamSession.objects.get().status == StreamSession.Status.ENDED
    StreamSession.objects.update(status=StreamSession.Status.FINALIZING)  # claimed, then the worker died
    assert services.stream_sessions_sweep() == 0
    later = timezone.now() + services.STALE + timedelta(minutes=1)
    assert services.stream_sessions_sweep(now=later) == 1
    assert StreamSession.objects.get().status == StreamSession.Status.ENDED
    monkeypatch.undo()
    tasks.stream_finalize_task(queued[-1])
    assert StreamSession.objects.get().status == StreamSession.Status.DONE and Engagement.objects.count() == 1
