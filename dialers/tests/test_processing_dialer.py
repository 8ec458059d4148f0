"""Dialer calls through processing: a call without a transcript is transcribed by the
offline engine from a real audio clip, and a worker killed mid-processing (or
mid-import) leaves nothing half-done: the next run processes each call once — one
set of segments, one announcement, one set of CRM deliveries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from chorus.models import Engagement, Moment
from chorus.trackers import trackers_seed_defaults
from dialers import import_run
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus, Delivery
from integrations.processing import services as processing
from integrations.processing.models import EngagementProcessing, TranscriptSegment
from integrations.processing.speech import word_error_rate
from testutils.dialer_fakes import FakeMedia, FakeSalesforce, task
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
SAMPLES = Path(django_settings.BASE_DIR) / "console" / "samples" / "calls"
FAKE_MP3 = b"ID3\x03\x00fake-mp3-bytes" * 4


@pytest.fixture
def outreach(org, salesforce):
    """Outreach, read back from the org's Salesforce call Tasks (the crm_task family);
    the same Salesforce is the org's CRM, so an announced call gets CRM deliveries."""
    return Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.QUEUED,
                                     config={"crm_field": "Call_Recording__c", "activated": True,
                                             "imported_through": (NOW - timedelta(hours=1)).isoformat()})


def one_call(sf_server, media_server, *, body: bytes = FAKE_MP3, content_type: str = "audio/mpeg",
             path: str = "/r/1.mp3") -> FakeMedia:
    media = FakeMedia(media_server)
    FakeSalesforce(sf_server, [task(1, at=NOW - timedelta(minutes=30), url=media.add(path, body, content_type))])
    return media


def test_a_call_without_a_transcript_is_transcribed_offline_from_its_recording(org, reps, sf_server, media_server,
                                                                               outreach, crm_push_ready_calls):
    trackers_seed_defaults(org=org)
    clip = SAMPLES / "wonka-followup.ogg"
    one_call(sf_server, media_server, body=clip.read_bytes(), content_type="audio/ogg", path="/r/1.ogg")

    result = import_run.dialer_import_run(connection=outreach, now=NOW)
    assert (result["imported"], result["media_stored"]) == (1, 1)
    e = Engagement.objects.get(kind="dialer_call")
    assert crm_push_ready_calls == [] and not TranscriptSegment.objects.exists()  # processing has not run yet

    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}
    row = EngagementProcessing.objects.get(engagement=e)
    assert (row.status, row.transcript_source, row.last_error, row.attempts) == ("ready", "pocketsphinx", "", 1)
    segments = list(TranscriptSegment.objects.filter(engagement=e).order_by("position"))
    assert len(segments) >= 5 and all(s.speaker == "" and s.end_seconds > s.start_seconds for s in segments)
    starts = [s.start_seconds for s in segments]
    assert starts == sorted(set(starts))  # strictly increasing
    assert all(a.end_seconds <= b.start_seconds for a, b in zip(segments, segments[1:], strict=False))
    # The clip's speech starts at 0.5 s and it lasts 28.9 s (its WebVTT twin says so).
    assert 0.0 <= segments[0].start_seconds <= 1.0 and 27.0 <= segments[-1].end_seconds <= 29.0
    reference = (SAMPLES / "wonka-followup.txt").read_text()
    e.refresh_from_db()
    assert e.transcript == "\n".join(s.text for s in segments)
    assert word_error_rate(reference, e.transcript) < 0.8  # words, not noise (an empty or random text is ~1.0)
    # The rep's promise, as the offline engine heard it, is a next step and a Next Steps moment.
    assert [s["text"] for s in e.next_steps if "contract" in s["text"]] == [
        "I will send over the contract today and let's set up a meeting with procurement on monday."]
    assert "Next Steps" in set(Moment.objects.filter(engagement=e).values_list("tracker__name", flat=True))
    assert crm_push_ready_calls == [e.pk]  # announced once, when processed
    assert Delivery.objects.filter(engagement=e).exists()
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0} and crm_push_ready_calls == [e.pk]


def deliveries(e) -> list[tuple[str, str]]:
    return sorted(Delivery.objects.filter(engagement=e).values_list("kind", "idempotency_key"))


def test_a_worker_killed_mid_processing_leaves_the_call_to_the_next_run_after_its_lease(
        org, reps, sf_server, media_server, outreach, crm_push_ready_calls, transcriber):
    one_call(sf_server, media_server)
    import_run.dialer_import_run(connection=outreach, now=NOW)
    e = Engagement.objects.get(kind="dialer_call")

    transcriber.fail_with = SystemExit("worker killed")  # killed mid-transcription: nothing catches it
    with pytest.raises(SystemExit):
        process_queued()
    row = EngagementProcessing.objects.get(engagement=e)
    assert (row.status, row.attempts, row.announced_at) == ("transcribing", 1, None)
    assert row.claimed_until > timezone.now() + timedelta(minutes=50)  # the dead worker's lease (an hour)
    assert not TranscriptSegment.objects.exists() and crm_push_ready_calls == []

    transcriber.fail_with = None
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}  # the lease is respected
    EngagementProcessing.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}

    row.refresh_from_db()
    assert (row.status, row.attempts, row.transcript_source) == ("ready", 2, "fake-stt")
    assert list(TranscriptSegment.objects.filter(engagement=e).values_list("position", "start_seconds", "text")) == [
        (0, 1.0, "Hi, this is Ada from Acme."), (1, 5.0, "I will send you the pricing tomorrow.")]
    assert crm_push_ready_calls == [e.pk]
    sent = deliveries(e)
    # One CRM delivery: a dialer call gets no task (the dialer logged it), its Engagement object does go.
    assert sent == [("custom_object", f"crm:salesforce:custom_object:{e.pk}")]
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}
    assert crm_push_ready_calls == [e.pk] and deliveries(e) == sent and TranscriptSegment.objects.count() == 2


def test_a_worker_whose_lease_ran_out_cannot_write_over_the_one_that_took_over(
        org, reps, sf_server, media_server, outreach, crm_push_ready_calls, transcriber):
    one_call(sf_server, media_server)
    import_run.dialer_import_run(connection=outreach, now=NOW)
    e = Engagement.objects.get(kind="dialer_call")
    pk, stale_token = processing._claim_next(timezone.now())  # a slow worker claims the call…
    EngagementProcessing.objects.filter(pk=pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}  # …another takes it over when its lease ends
    sent = deliveries(e)

    assert processing.processing_run(pk=pk, token=stale_token) == "retrying"  # the slow one wakes up: stops
    assert crm_push_ready_calls == [e.pk] and deliveries(e) == sent
    assert TranscriptSegment.objects.filter(engagement=e).count() == 2  # the first worker's, kept
    assert len(transcriber.heard) == 1  # the slow one found the transcript made and did not make it again
    assert EngagementProcessing.objects.get(pk=pk).status == "ready"


def test_a_worker_killed_after_the_downloads_and_before_queueing_loses_no_call(
        org, reps, sf_server, media_server, outreach, crm_push_ready_calls, monkeypatch):
    """The recordings are stored and the ledger says so, then the worker dies before it
    hands the calls to processing: the next run must still get them processed and
    announced (else the call never reaches the CRM)."""
    one_call(sf_server, media_server)
    real_queue = import_run.processing_queue

    def killed(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(import_run, "processing_queue", killed)
    with pytest.raises(SystemExit):
        import_run.dialer_import_run(connection=outreach, now=NOW)
    monkeypatch.setattr(import_run, "processing_queue", real_queue)
    Connection.objects.filter(pk=outreach.pk).update(updated_at=NOW - timedelta(hours=3))  # stale claim
    import_run.dialer_import_run(connection=outreach, now=NOW + timedelta(hours=1))
    process_queued()
    e = Engagement.objects.get(kind="dialer_call")
    assert crm_push_ready_calls == [e.pk]
    assert EngagementProcessing.objects.get(engagement=e).announced_at is not None
