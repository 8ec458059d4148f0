"""The processing stage: from a queued engagement to one announced as ready, with
the transcript, Moments, next steps, verdict and brief it produced; retries,
failures that still announce, killed workers, and running twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from chorus.models import AuditEvent, Engagement, Moment, Organization, Tracker
from integrations.processing import services
from integrations.processing.errors import ProcessingError
from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
from integrations.processing.transcript import Segment
from integrations.ready import LISTENERS, ReadyListener
from integrations.storage.models import RecordingFile
from testutils.factories import EngagementFactory, UserFactory
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
S = ProcessingStatus
VTT = (Path(__file__).parent / "fixtures" / "zoom" / "discovery_call.vtt").read_text()
SHORT_VTT = """WEBVTT

1
00:00:01.000 --> 00:00:04.000
Jim Halpert: Hi Willy, just so you know this call is being recorded.

2
00:00:05.000 --> 00:00:12.000
Willy Wonka: Our budget is tight and the price matters a lot to us.

3
00:00:13.000 --> 00:00:18.000
Jim Halpert: I'll send you the proposal by Friday.
"""


@pytest.fixture
def announced(monkeypatch) -> list[int]:
    """Engagement ids handed to ``engagements_ready``'s listeners, in order."""
    seen: list[int] = []
    monkeypatch.setitem(LISTENERS, "test.spy", ReadyListener(
        "test.spy", lambda *, org, engagements: seen.extend(e.pk for e in engagements), 999))
    return seen


@pytest.fixture
def trackers(org):
    Tracker.objects.filter(org=org).delete()
    return {name: Tracker.objects.create(org=org, name=name, keywords=phrases) for name, phrases in (
        ("Pricing", ["price", "pricing"]), ("Budget", ["budget"]), ("Pain", ["pain point", "takes too long"]),
        ("Competitors", ["competitor"]))}


def engagement(org, **kwargs) -> Engagement:
    kwargs.setdefault("duration_seconds", 120)
    return EngagementFactory(org=org, owner=UserFactory(org=org), **kwargs)


def queue(org, e, vtt: str = SHORT_VTT) -> None:
    services.processing_queue(org=org, engagements=[e], provider_transcripts={e.pk: vtt} if vtt else None)


def rows(e) -> dict:
    """Everything processing wrote for ``e``, to compare two runs."""
    e.refresh_from_db()
    return {
        "segments": list(TranscriptSegment.objects.filter(engagement=e).values_list(
            "position", "speaker", "start_seconds", "end_seconds", "text")),
        "moments": sorted(Moment.objects.filter(engagement=e).values_list("tracker__name", "at_seconds", "speaker",
                                                                          "text")),
        "transcript": e.transcript, "next_steps": e.next_steps, "summary": e.summary,
        "action_items": e.action_items, "verdict": e.recording_notification_detected,
    }


def test_a_provider_transcript_becomes_segments_moments_next_steps_and_a_verdict(org, trackers, announced):
    e = engagement(org)
    queue(org, e)
    assert announced == []  # nothing is ready before it is processed
    assert EngagementProcessing.objects.get(engagement=e).status == S.QUEUED

    assert process_queued() == {"ready": 1, "failed": 0, "retrying": 0}

    row = EngagementProcessing.objects.get(engagement=e)
    assert (row.status, row.transcript_source, row.attempts, row.last_error) == (S.READY, "test", 1, "")
    assert announced == [e.pk] and row.announced_at is not None
    assert list(TranscriptSegment.objects.filter(engagement=e).values_list("speaker", "start_seconds", "text")) == [
        ("Jim Halpert", 1.0, "Hi Willy, just so you know this call is being recorded."),
        ("Willy Wonka", 5.0, "Our budget is tight and the price matters a lot to us."),
        ("Jim Halpert", 13.0, "I'll send you the proposal by Friday."),
    ]
    e.refresh_from_db()
    assert e.transcript.splitlines()[1] == "Willy Wonka: Our budget is tight and the price matters a lot to us."
    assert sorted(Moment.objects.filter(engagement=e).values_list("tracker__name", "speaker", "at_seconds")) == [
        ("Budget", "Willy Wonka", 5), ("Pricing", "Willy Wonka", 8)]
    assert e.next_steps == [{"text": "I'll send you the proposal by Friday.", "speaker": "Jim Halpert",
                             "at_seconds": 13.0}]
    # The demo org's default compliance phrases include "this call is being recorded".
    assert e.recording_notification_detected is True
    assert row.notification_phrase == "this call is being recorded" and row.notification_at_seconds < 4
    assert (e.summary, e.action_items, row.brief_engine) == ("", [], "")  # Standard package, 2 minutes


def test_processing_twice_makes_the_same_rows_and_announces_once(org, trackers, announced):
    e = engagement(org)
    queue(org, e, VTT)
    process_queued()
    first = rows(e)
    assert first["moments"] and first["next_steps"] and first["segments"]

    services.processing_retry(engagement=e, actor=None)
    assert EngagementProcessing.objects.get(engagement=e).status == S.QUEUED
    assert TranscriptSegment.objects.filter(engagement=e).count() == 0  # the transcript is made again
    process_queued()

    assert rows(e) == first
    assert announced == [e.pk]  # announced once: its CRM objects exist already
    assert AuditEvent.objects.filter(org=org, action="processing.retried").count() == 1


def test_enterprise_meetings_of_ten_minutes_get_a_brief_with_its_engine(org, trackers):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    long_call, short_call = engagement(org, duration_seconds=600), engagement(org, duration_seconds=599)
    services.processing_queue(org=org, engagements=[long_call, short_call],
                              provider_transcripts={long_call.pk: VTT, short_call.pk: VTT})
    process_queued()
    long_call.refresh_from_db()
    short_call.refresh_from_db()
    assert long_call.processing.brief_engine == "extractive"
    assert len(long_call.summary.splitlines()) >= 3
    assert long_call.action_items and {a["speaker"] for a in long_call.action_items} <= {"Dana Whitfield",
                                                                                        "Marcus Lee"}
    # The VTT ends after 10 minutes, but this engagement is said to last 599 s and the
    # transcript is what decides: under 10 minutes of speech and duration, no brief.
    last_end = TranscriptSegment.objects.filter(engagement=short_call).order_by("-position")[0].end_seconds
    assert (short_call.summary != "") == (last_end >= 600)


def test_engagements_with_nothing_to_listen_to_are_announced_at_once(org, announced):
    meeting = engagement(org, kind=Engagement.Kind.UNRECORDED_MEETING)
    email = engagement(org, kind=Engagement.Kind.EMAIL)
    services.processing_queue(org=org, engagements=[meeting, email])
    assert announced == [meeting.pk, email.pk]
    assert not EngagementProcessing.objects.exists()


def test_another_orgs_engagement_is_refused(org, other_org):
    with pytest.raises(ValueError):
        services.processing_queue(org=org, engagements=[engagement(other_org)])
    assert not EngagementProcessing.objects.exists()


class Flaky:
    """A brief writer that fails as told, then writes."""

    engine = "flaky"

    def __init__(self, *errors: ProcessingError):
        self.errors = list(errors)
        self.calls = 0

    def write(self, *, title, segments, next_steps):
        from integrations.processing.briefs import Brief

        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Brief(summary="Summary.", action_items=[], engine=self.engine)


@pytest.fixture
def enterprise_call(org, trackers):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    e = engagement(org, duration_seconds=900)
    queue(org, e)
    return e


def _due_now(e) -> None:
    EngagementProcessing.objects.filter(engagement=e).update(next_attempt_at=timezone.now())


def test_a_busy_engine_is_tried_again_after_its_retry_after_then_ready(enterprise_call, monkeypatch, announced):
    writer = Flaky(ProcessingError("The brief service answered 429 (busy).", retry_after=900))
    monkeypatch.setattr(services, "brief_writer_from_settings", lambda: writer)
    before = timezone.now()
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 1}

    row = EngagementProcessing.objects.get(engagement=enterprise_call)
    assert row.status == S.QUEUED and row.attempts == 1
    assert row.last_error == "Analysing: The brief service answered 429 (busy)."
    assert row.next_attempt_at >= before + timedelta(seconds=900)  # Retry-After beats the 60 s backoff
    assert row.transcript_source == "test" and announced == []
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}  # not due yet

    _due_now(enterprise_call)
    assert process_queued()["ready"] == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error, row.brief_engine) == (S.READY, 2, "", "flaky")
    assert TranscriptSegment.objects.filter(engagement=enterprise_call).count() == 3  # not transcribed twice
    assert announced == [enterprise_call.pk] and writer.calls == 2


def test_after_the_last_try_it_fails_with_the_reason_and_is_announced_with_what_is_known(
        enterprise_call, monkeypatch, settings, announced):
    settings.PROCESSING_MAX_ATTEMPTS = 3
    writer = Flaky(*[ProcessingError("The brief service answered 503.")] * 3)
    monkeypatch.setattr(services, "brief_writer_from_settings", lambda: writer)
    for _ in range(3):
        _due_now(enterprise_call)
        process_queued()
    row = EngagementProcessing.objects.get(engagement=enterprise_call)
    assert row.status == S.FAILED
    assert row.last_error == "Analysing: The brief service answered 503. (gave up after 3 tries)"
    assert announced == [enterprise_call.pk]
    enterprise_call.refresh_from_db()
    # What was known is kept and announced: the CRM task gets its topics and next steps.
    assert enterprise_call.next_steps and Moment.objects.filter(engagement=enterprise_call).count() == 2
    assert enterprise_call.summary == ""
    _due_now(enterprise_call)
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}  # failed is final until Retry


def test_a_permanent_failure_fails_at_once_and_announces(org, announced):
    e = engagement(org)
    queue(org, e, vtt="")  # no provider transcript and no recording stored
    assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}
    row = EngagementProcessing.objects.get(engagement=e)
    assert row.status == S.FAILED and row.attempts == 1
    assert row.last_error == "Transcribing: There is no recording to transcribe (the recording was not downloaded)."
    assert announced == [e.pk]


def test_a_transcript_that_is_not_webvtt_falls_back_to_speech_to_text(org, monkeypatch, announced):
    e = engagement(org)
    name = default_storage.save("recordings/test/a.wav", ContentFile(b"RIFF....WAVEfmt "))
    RecordingFile.objects.create(org=org, engagement=e, name=name, file_type="WAV", size=16)
    heard = []

    class Fake:
        engine = "fake-stt"

        def transcribe(self, path):
            heard.append(Path(path).read_bytes())
            return [Segment("", 0.5, 2.0, "We need a budget for this.")]

    monkeypatch.setattr("integrations.processing.speech.transcriber_from_settings", lambda: Fake())
    queue(org, e, vtt="<html>Sign in</html>")
    process_queued()
    row = EngagementProcessing.objects.get(engagement=e)
    assert (row.status, row.transcript_source) == (S.READY, "fake-stt")
    assert heard == [b"RIFF....WAVEfmt "]  # the stored recording, copied to a local file
    assert TranscriptSegment.objects.get(engagement=e).text == "We need a budget for this."


def test_a_killed_worker_leaves_the_engagement_to_be_processed_once(org, trackers, announced):
    e = engagement(org)
    queue(org, e)
    claimed = services._claim_next(timezone.now())  # a worker claims it, then is killed
    assert claimed is not None
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}  # its lease still holds

    EngagementProcessing.objects.filter(pk=claimed[0]).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert process_queued()["ready"] == 1
    row = EngagementProcessing.objects.get(engagement=e)
    assert row.status == S.READY and row.attempts == 2
    assert TranscriptSegment.objects.filter(engagement=e).count() == 3
    assert announced == [e.pk]


def test_a_worker_killed_every_time_runs_out_of_tries(org, settings, announced):
    settings.PROCESSING_MAX_ATTEMPTS = 2
    e = engagement(org)
    queue(org, e)
    for _ in range(2):
        pk, _token = services._claim_next(timezone.now())
        EngagementProcessing.objects.filter(pk=pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}
    row = EngagementProcessing.objects.get(engagement=e)
    assert row.last_error == ("Transcribing: Processing stopped mid-way 2 times "
                              "(the worker was stopped or ran out of time).")
    assert announced == [e.pk]


def test_a_worker_whose_lease_was_taken_over_writes_nothing(org, trackers, announced):
    e = engagement(org)
    queue(org, e)
    pk, token = services._claim_next(timezone.now())
    EngagementProcessing.objects.filter(pk=pk).update(claim_token="another-worker")
    assert services.processing_run(pk=pk, token=token) == "retrying"
    assert not TranscriptSegment.objects.filter(engagement=e).exists() and announced == []


def test_trackers_are_compiled_once_per_set_of_trackers(org, trackers):
    first = services.tracker_matcher(org=org)
    assert services.tracker_matcher(org=org) is first
    trackers["Budget"].keywords = ["budget", "funding"]
    trackers["Budget"].save()
    assert services.tracker_matcher(org=org) is not first


def test_queries_do_not_grow_with_the_transcript(org, trackers):
    """Bulk writes: an engagement with many segments and Moments costs the same
    queries as one with three."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for vtt in (SHORT_VTT, VTT):
        e = engagement(org)
        queue(org, e, vtt)
        with CaptureQueriesContext(connection) as captured:
            assert process_queued()["ready"] == 1
        counts.append(len(captured))
    assert TranscriptSegment.objects.filter(engagement=e).count() > 10
    assert Moment.objects.filter(engagement=e).count() > 3
    assert counts[0] == counts[1] and counts[0] <= 45
