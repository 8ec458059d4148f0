"""The Notetaker Recording Bot's recordings, wire-level: a bot scheduled into a
calendar meeting on a local HTTPS fake of the bot backend, the backend's webhook
deliveries really signed, the recording and the backend's transcript fetched from
it, one engagement per bot through processing — with duplicates, reordering,
backend faults and workers killed mid-import."""

import hashlib
import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import Engagement
from integrations.conferencing import notetaker_events
from integrations.conferencing.calendars.meetings import notetaker_sync
from integrations.conferencing.models import Calendar, CalendarEvent, NotetakerEvent
from integrations.conferencing.notetaker import NotetakerClient, download_host_allowed
from integrations.conferencing.tests.notetaker_fake import VIDEO, NotetakerBackend
from integrations.processing.models import EngagementProcessing, TranscriptSegment
from integrations.storage.models import RecordingFile
from testutils.factories import UserFactory
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
API_KEY = "notetaker-api-key"
SECRET = "notetaker-webhook-secret-for-tests"


class Killed(BaseException):
    """A worker killed mid-way: nothing after it runs, nothing catches it."""


@pytest.fixture
def backend(settings, https_fake):
    fake = NotetakerBackend(https_fake, api_key=API_KEY, secret=SECRET)
    settings.NOTETAKER_API_URL = fake.base_url
    settings.NOTETAKER_API_KEY = API_KEY
    settings.NOTETAKER_WEBHOOK_SECRET = SECRET
    return fake


def scheduled_meeting(user, *, starts_in=timedelta(hours=1), external_id="evt-1") -> CalendarEvent:
    """A business meeting in ``user``'s calendar with the bot scheduled at the backend."""
    calendar, _ = Calendar.objects.get_or_create(org=user.org, user=user, provider="ics", defaults={"status": "ok"})
    starts = timezone.now() + timedelta(hours=1)
    meeting = CalendarEvent.objects.create(
        org=user.org, calendar=calendar, external_id=external_id, title="Wonka discovery", starts_at=starts,
        ends_at=starts + timedelta(minutes=30), organizer_email=user.email,
        attendees=[{"email": "willy@wonka.example"}], conference_provider="google_meet",
        conference_url="https://meet.google.com/abc-defg-hij", record=True, notetaker_name="Chorus Notetaker",
    )
    notetaker_sync(event=meeting, client=NotetakerClient())
    meeting.starts_at = timezone.now() + starts_in  # then the meeting's time comes
    meeting.ends_at = meeting.starts_at + timedelta(minutes=30)
    meeting.save()
    assert meeting.notetaker_bot_id and not meeting.notetaker_error
    return meeting


@pytest.fixture
def meeting(host, backend):
    return scheduled_meeting(host)


@pytest.fixture
def deliver(client, backend, django_capture_on_commit_callbacks, run_tasks):
    """Deliver one event (signed) and run what it queued, as a worker would."""

    def send(payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return backend.deliver(client, payload, **kwargs)

    return send


def done_event(backend, meeting, **kwargs):
    backend.finish(meeting.notetaker_bot_id)
    return backend.event("bot.recording_done", meeting.notetaker_bot_id, **kwargs)


# --- Signatures ---------------------------------------------------------------------------------------


def test_a_valid_event_is_accepted_at_once_and_worked_by_the_task(
    client, backend, meeting, django_capture_on_commit_callbacks, run_tasks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks() as callbacks:
        response = backend.deliver(client, done_event(backend, meeting))
    assert response.status_code == 200 and response.json() == {"status": "queued"}
    assert time.monotonic() - started < 1
    event = NotetakerEvent.objects.get()
    assert (event.status, event.org_id, event.calendar_event_id) == ("queued", meeting.org_id, meeting.pk)
    assert not Engagement.objects.exists() and len(callbacks) == 1  # the import is the task's
    callbacks[0]()
    event.refresh_from_db()
    assert event.status == "done" and event.engagement is not None


def test_forged_stale_tampered_and_unsigned_deliveries_are_refused_and_nothing_is_written(
    client, backend, meeting, django_capture_on_commit_callbacks
):
    payload = done_event(backend, meeting)
    body = json.dumps(payload).encode()
    with django_capture_on_commit_callbacks() as callbacks:
        forged = backend.deliver(client, payload, secret="attacker-secret")
        stale = backend.deliver(client, payload, timestamp=str(int(time.time()) - 301))
        future = backend.deliver(client, payload, timestamp=str(int(time.time()) + 301))
        tampered = backend.deliver(client, payload, body=body.replace(b"recording_done", b"recording_DONE"),
                                   headers=backend.signed_headers(body))
        unsigned = backend.deliver(client, payload, headers={})
    assert [r.status_code for r in (forged, stale, future, tampered, unsigned)] == [401] * 5
    assert forged.json()["reason"] == "Bad X-Notetaker-Signature."
    assert stale.json()["reason"].startswith("Stale X-Notetaker-Timestamp")
    assert unsigned.json()["reason"].startswith("Missing")
    assert not NotetakerEvent.objects.exists() and not callbacks


def test_an_unconfigured_secret_refuses_everything(client, backend, meeting, settings):
    payload = done_event(backend, meeting)
    headers = backend.signed_headers(json.dumps(payload).encode())
    settings.NOTETAKER_WEBHOOK_SECRET = ""
    response = backend.deliver(client, payload, headers=headers)
    assert response.status_code == 401 and not NotetakerEvent.objects.exists()


def test_a_replayed_request_is_refused_but_the_backends_own_retry_is_a_harmless_duplicate(
    client, backend, meeting, django_capture_on_commit_callbacks
):
    payload = done_event(backend, meeting)
    body = json.dumps(payload).encode()
    headers = backend.signed_headers(body)
    with django_capture_on_commit_callbacks() as callbacks:
        first = backend.deliver(client, payload, body=body, headers=headers)
        replay = backend.deliver(client, payload, body=body, headers=headers)  # the very same request again
        retry = backend.deliver(client, payload, timestamp=str(int(time.time()) + 1))  # re-signed by the backend
    assert first.json() == {"status": "queued"}
    assert replay.status_code == 400 and replay.json()["reason"].startswith("Replayed delivery")
    assert retry.status_code == 200 and retry.json() == {"status": "duplicate"}
    assert NotetakerEvent.objects.count() == 1 and len(callbacks) == 1


def test_malformed_and_unknown_events(client, backend, meeting):
    bad = backend.deliver(client, {}, body=b"not json")
    no_bot = backend.deliver(client, {"id": "evt_1", "event": "bot.joined"})
    other = backend.deliver(client, backend.event("bot.heartbeat", meeting.notetaker_bot_id))
    unknown = backend.deliver(client, backend.event("bot.joined", "bot_nobody_scheduled"))
    assert (bad.status_code, no_bot.status_code, other.status_code, unknown.status_code) == (400, 400, 200, 404)
    assert other.json() == {"status": "ignored"} and not NotetakerEvent.objects.exists()


# --- "done" → one engagement ----------------------------------------------------------------------------


def test_done_makes_one_engagement_with_the_recording_and_the_backends_transcript(
    backend, meeting, host, deliver, crm_push_ready_calls
):
    response = deliver(done_event(backend, meeting))
    assert response.json() == {"status": "queued"}
    engagement = Engagement.objects.get()
    assert (engagement.org_id, engagement.source, engagement.external_id) == (
        host.org_id, "notetaker", meeting.notetaker_bot_id)
    assert (engagement.owner, engagement.title, engagement.duration_seconds) == (host, "Wonka discovery", 1800)
    assert engagement.started_at.isoformat() == "2026-12-01T15:00:00+00:00"
    people = {p.email: p for p in engagement.participants.all()}
    assert set(people) == {"ada@acme.example", "willy@wonka.example"}
    assert people["ada@acme.example"].is_internal and not people["willy@wonka.example"].is_internal
    stored = RecordingFile.objects.get(engagement=engagement)
    assert (stored.size, stored.sha256, stored.content_type) == (
        len(VIDEO), hashlib.sha256(VIDEO).hexdigest(), "video/mp4")
    meeting.refresh_from_db()
    assert (meeting.notetaker_status, meeting.engagement_id) == ("recording_done", engagement.pk)
    assert crm_push_ready_calls == []  # not before processing

    process_queued()
    processing = EngagementProcessing.objects.get(engagement=engagement)
    assert processing.transcript_source == "notetaker"
    segments = list(TranscriptSegment.objects.filter(engagement=engagement).order_by("position"))
    assert [s.speaker for s in segments] == ["Ada Host", "Willy Wonka"]
    assert segments[1].text == "Our budget is tight and the price matters a lot to us."
    assert crm_push_ready_calls == [engagement.pk]
    # Only the API key opens the backend: every call carried it (the fake refuses otherwise).
    assert ("GET", f"/media/{meeting.notetaker_bot_id}/transcript") in backend.requests


def test_duplicate_done_deliveries_still_make_one_engagement_announced_once(
    backend, meeting, deliver, crm_push_ready_calls
):
    payload = done_event(backend, meeting)
    deliver(payload)
    assert deliver(payload, timestamp=str(int(time.time()) + 2)).json() == {"status": "duplicate"}
    second = deliver(backend.event("bot.recording_done", meeting.notetaker_bot_id))  # another event id
    assert second.json() == {"status": "queued"}
    process_queued()
    engagement = Engagement.objects.get()
    statuses = sorted(NotetakerEvent.objects.values_list("status", "detail"))
    assert statuses[0][0] == "done" and statuses[1][0] == "ignored" and statuses[1][1].startswith("Already imported")
    assert NotetakerEvent.objects.filter(engagement=engagement).count() == 2
    assert RecordingFile.objects.count() == 1
    assert crm_push_ready_calls == [engagement.pk]


def test_done_before_joined_is_fine_and_the_later_status_stays(backend, meeting, deliver):
    joined_at = (timezone.now() - timedelta(minutes=30)).isoformat()
    deliver(done_event(backend, meeting))
    deliver(backend.event("bot.joined", meeting.notetaker_bot_id, created_at=joined_at))
    meeting.refresh_from_db()
    assert meeting.notetaker_status == "recording_done"
    assert Engagement.objects.count() == 1
    assert set(NotetakerEvent.objects.values_list("status", flat=True)) == {"done"}


def test_a_failure_arriving_after_done_does_not_hide_the_recording(backend, meeting, deliver):
    deliver(done_event(backend, meeting))
    deliver(backend.event("bot.kicked", meeting.notetaker_bot_id, reason="removed by the host"))
    meeting.refresh_from_db()
    assert (meeting.notetaker_status, meeting.notetaker_reason) == ("recording_done", "")


# --- Failures on the user's meeting list --------------------------------------------------------------


@pytest.mark.parametrize("kind, shown, reason", [
    ("bot.failed", "Could not record", "The Notetaker could not record this meeting: meeting link expired"),
    ("bot.kicked", "Removed from the meeting", "The Notetaker was removed from the meeting: removed by the host"),
    ("bot.waiting_room_timeout", "Not let in from the waiting room",
     "The Notetaker was not let in from the waiting room: nobody admitted the bot in 10 minutes"),
])
def test_bot_failures_show_on_the_personal_calendar_page_with_the_reason(
    client, backend, host, deliver, kind, shown, reason
):
    upcoming = scheduled_meeting(host, starts_in=timedelta(minutes=-10), external_id="now")
    past = scheduled_meeting(host, starts_in=timedelta(hours=-3), external_id="earlier")
    deliver(backend.event("bot.joined", upcoming.notetaker_bot_id))
    for m in (upcoming, past):
        deliver(backend.event(kind, m.notetaker_bot_id, reason=reason.split(": ", 1)[1]))
        m.refresh_from_db()
        assert (m.notetaker_status, m.notetaker_reason) == (kind.removeprefix("bot."), reason)
    client.force_login(host)
    page = client.get(reverse("settings-personal"))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count(f"Notetaker: {shown}") == 2  # this meeting's row and the recent meetings'
    assert html.count(reason) == 2
    assert "The Notetaker in your recent meetings" in html
    assert not Engagement.objects.exists()


def test_another_users_meeting_list_does_not_show_the_bot(client, backend, host, deliver):
    m = scheduled_meeting(host, starts_in=timedelta(hours=-3))
    deliver(backend.event("bot.failed", m.notetaker_bot_id, reason="meeting link expired"))
    colleague = UserFactory(org=host.org, email="bea@acme.example")
    client.force_login(colleague)
    assert "meeting link expired" not in client.get(reverse("settings-personal")).content.decode()


# --- Faults ---------------------------------------------------------------------------------------------


def test_backend_5xx_is_retried_later_then_done(backend, meeting, deliver, django_capture_on_commit_callbacks,
                                                 crm_push_ready_calls):
    backend.faults = [503]
    deliver(done_event(backend, meeting))
    event = NotetakerEvent.objects.get()
    assert (event.status, event.attempts) == ("retrying", 1)
    assert event.detail.startswith("The Notetaker service answered 503. Chorus tries again at ")
    assert timedelta(minutes=4) < event.next_attempt_at - timezone.now() <= timedelta(minutes=5)
    assert notetaker_events.notetaker_events_retry_due() == 0  # not yet
    assert not Engagement.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert notetaker_events.notetaker_events_retry_due(now=timezone.now() + timedelta(minutes=6)) == 1
    event.refresh_from_db()
    assert event.status == "done" and Engagement.objects.count() == 1
    process_queued()
    assert crm_push_ready_calls == [Engagement.objects.get().pk]


def test_retries_stop_after_five_attempts(backend, meeting, deliver, django_capture_on_commit_callbacks):
    backend.faults = [502] * 10
    deliver(done_event(backend, meeting))
    event = NotetakerEvent.objects.get()
    waits, now = [], timezone.now()
    while event.status == "retrying":
        waits.append(round((event.next_attempt_at - event.processed_at).total_seconds() / 60))
        now += timedelta(hours=2)
        with django_capture_on_commit_callbacks(execute=True):
            notetaker_events.notetaker_events_retry_due(now=now)
        event.refresh_from_db()
    assert waits == [5, 10, 20, 40] and (event.status, event.attempts) == ("failed", 5)
    assert not Engagement.objects.exists()


@pytest.mark.parametrize("where", ["before the engagement commit", "after the engagement commit"])
def test_a_worker_killed_mid_import_leaves_it_to_be_done_again_once(
    backend, meeting, deliver, monkeypatch, django_capture_on_commit_callbacks, crm_push_ready_calls, where
):
    if where.startswith("before"):
        real = notetaker_events.processing_queue

        def killed(**kwargs):  # downloaded and stored, rows written, then the worker dies
            monkeypatch.setattr(notetaker_events, "processing_queue", real)
            raise Killed
        monkeypatch.setattr(notetaker_events, "processing_queue", killed)
    else:
        real_save = NotetakerEvent.save

        def killed(self, *args, **kwargs):  # the engagement is committed; the event row never says so
            if not kwargs.get("update_fields"):
                return real_save(self, *args, **kwargs)
            monkeypatch.setattr(NotetakerEvent, "save", real_save)
            raise Killed
        monkeypatch.setattr(NotetakerEvent, "save", killed)
    with pytest.raises(Killed):
        deliver(done_event(backend, meeting))
    event = NotetakerEvent.objects.get()
    assert event.status == "processing"
    assert Engagement.objects.count() == (0 if where.startswith("before") else 1)
    assert notetaker_events.notetaker_events_retry_due() == 0  # its worker may still be at it
    with django_capture_on_commit_callbacks(execute=True):
        assert notetaker_events.notetaker_events_retry_due(now=timezone.now() + timedelta(hours=2)) == 1
    event.refresh_from_db()
    engagement = Engagement.objects.get()
    assert event.engagement == engagement and event.status in ("done", "ignored")
    assert RecordingFile.objects.filter(engagement=engagement).count() == 1
    process_queued()
    assert crm_push_ready_calls == [engagement.pk]
    assert notetaker_events.notetaker_event_process(event_id=event.pk) is None  # settled


# --- Tenancy and addresses -------------------------------------------------------------------------------


def test_another_orgs_bot_or_metadata_cannot_write_into_an_org(client, backend, meeting, host, other_org, deliver):
    stranger = UserFactory(org=other_org, email="eve@globex.example")
    theirs = scheduled_meeting(stranger, external_id="globex-1")
    backend.finish(theirs.notetaker_bot_id)
    # Their bot, with metadata naming our org and meeting: refused, nothing written.
    forged = backend.event("bot.recording_done", theirs.notetaker_bot_id,
                           metadata={"org": str(host.org_id), "calendar_event": str(meeting.pk)})
    response = deliver(forged)
    assert response.status_code == 400 and "does not match" in response.json()["reason"]
    # Our bot id with their org in the metadata: refused too.
    backend.finish(meeting.notetaker_bot_id)
    response = deliver(backend.event("bot.recording_done", meeting.notetaker_bot_id,
                                     metadata={"org": str(other_org.pk)}))
    assert response.status_code == 400
    assert not NotetakerEvent.objects.exists() and not Engagement.objects.exists()
    # Without metadata, the org is the one of the bot Chorus scheduled.
    deliver(backend.event("bot.recording_done", theirs.notetaker_bot_id, metadata={}))
    engagement = Engagement.objects.get()
    assert engagement.org_id == other_org.pk and engagement.owner == stranger
    assert not Engagement.objects.filter(org=host.org).exists()


def test_a_bot_whose_meeting_got_another_bot_meanwhile_writes_nothing(
    client, backend, meeting, django_capture_on_commit_callbacks, run_tasks
):
    old = meeting.notetaker_bot_id
    with django_capture_on_commit_callbacks() as callbacks:
        assert backend.deliver(client, done_event(backend, meeting)).json() == {"status": "queued"}
    CalendarEvent.objects.filter(pk=meeting.pk).update(notetaker_bot_id="bot_new")  # the link changed
    callbacks[0]()
    event = NotetakerEvent.objects.get()
    assert event.status == "ignored" and not Engagement.objects.exists()
    assert backend.deliver(client, backend.event("bot.failed", old, reason="x")).status_code == 404


def test_recordings_are_fetched_only_from_the_backends_host(backend, meeting, deliver, monkeypatch, settings):
    assert download_host_allowed(f"{backend.base_url}/media/x/recording")
    assert not download_host_allowed("https://169.254.169.254/latest/meta-data")
    assert not download_host_allowed("file:///etc/passwd")
    bot = backend.finish(meeting.notetaker_bot_id)
    monkeypatch.setattr(backend, "describe", lambda b: {"id": b.id, "recording_url": "https://169.254.169.254/x",
                                                        "participants": []})
    deliver(backend.event("bot.recording_done", bot.id))
    event = NotetakerEvent.objects.get()
    assert event.status == "failed" and "not the Notetaker service's" in event.detail
    assert not Engagement.objects.exists()
    assert not any(path.startswith("/x") for _, path in backend.requests)


def test_a_missing_transcript_falls_back_to_transcribing_the_recording(backend, meeting, deliver):
    backend.finish(meeting.notetaker_bot_id, transcript="")
    deliver(backend.event("bot.recording_done", meeting.notetaker_bot_id))
    engagement = Engagement.objects.get()
    assert EngagementProcessing.objects.get(engagement=engagement).provider_transcript == ""


# --- Who gets the bot ------------------------------------------------------------------------------------


def test_the_bot_is_the_enterprise_packages_as_the_seed_says(org, backend):
    """Seed, Choose your recording method: "Chorus' Notetaker Recording Bot - This
    recording method is best for customers using online meeting providers that are
    not Zoom. (Enterprise package only.)" A Standard org's Google Meet gets no bot."""
    from integrations.conferencing.calendars.meetings import meeting_scan

    assert not org.is_enterprise
    user = UserFactory(org=org, email="sam@acme.example")
    calendar = Calendar.objects.create(org=org, user=user, provider="ics", status="ok")
    event = CalendarEvent(org=org, calendar=calendar, external_id="std-1", title="Demo",
                          starts_at=timezone.now() + timedelta(hours=2), organizer_email=user.email,
                          attendees=[{"email": "willy@wonka.example"}],
                          location="https://meet.google.com/abc-defg-hij")
    meeting_scan(event=event, org=org)
    notetaker_sync(event=event, client=NotetakerClient())
    assert (event.record, event.notetaker_bot_id) == (False, "")
    assert event.reason == "not recorded: the Notetaker Recording Bot needs the Enterprise package"
    assert not backend.bots
