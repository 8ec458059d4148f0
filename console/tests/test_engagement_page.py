"""The engagement page after processing: the status and Retry, the player, the
transcript, Moments and next steps that seek it, the brief, the notification verdict."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import AuditEvent, Engagement, Organization, Tracker
from chorus.trackers import trackers_seed_defaults
from integrations.processing.models import EngagementProcessing, TranscriptSegment
from integrations.processing.services import processing_queue
from integrations.storage.models import RecordingFile
from integrations.storage.services import recording_store
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, TrackerFactory
from testutils.processing import process_queued

CALLS = Path(__file__).resolve().parents[1] / "samples" / "calls"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def processed_call(org, *, name="wonka-discovery", minutes=None, title="Wonka discovery") -> Engagement:
    """An engagement made as an import makes one: a stored recording (a real clip), Zoom's
    WebVTT transcript, then processing run as a worker runs it."""
    trackers_seed_defaults(org=org)
    engagement = EngagementFactory(org=org, title=title, source="zoom",
                                   duration_seconds=(minutes or 1) * 60)
    with (CALLS / f"{name}.ogg").open("rb") as fh:
        bucket, stored = recording_store(org=org, name=f"recordings/test/{name}.ogg", fileobj=fh)
    RecordingFile.objects.create(org=org, engagement=engagement, bucket=bucket, name=stored, file_type="OGG",
                                 content_type="audio/ogg", size=(CALLS / f"{name}.ogg").stat().st_size)
    processing_queue(org=org, engagements=[engagement],
                     provider_transcripts={engagement.pk: (CALLS / f"{name}.vtt").read_text()})
    assert process_queued()["ready"] == 1
    engagement.refresh_from_db()
    return engagement


def page(client, engagement) -> str:
    response = client.get(reverse("recording", args=[engagement.pk]))
    assert response.status_code == 200
    return response.content.decode()


def processing_row(engagement, **fields) -> EngagementProcessing:
    return EngagementProcessing.objects.create(org=engagement.org, engagement=engagement, **fields)


def section(body: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', body, re.S)
    assert match, f"no #{section_id} on the page"
    return match.group(0)


# --- A processed call, end to end ------------------------------------------------------------


def test_a_processed_enterprise_call_shows_everything(admin_client, org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    e = processed_call(org, minutes=12)
    body = page(admin_client, e)
    media = reverse("recording-media", args=[e.pk])

    status = section(body, "processing")
    assert 'data-status="ready"' in status and ">Ready<" in status
    assert "Zoom transcript" in status and "Written by Chorus extractive summary (offline)" in status
    # The verdict and the phrase heard, with when (a time that seeks the player).
    assert "Heard" in status and "“this call is being recorded”" in status
    assert re.search(r'data-seek="\d+\.\d\d"[^>]*>0:0\d</a>', status)
    assert "Retry" in status

    assert f'<audio class="player" src="{media}"' in body

    transcript = section(body, "transcript")
    segments = list(TranscriptSegment.objects.filter(engagement=e).order_by("position"))
    assert transcript.count('<li class="seg') == len(segments) == 7
    first = segments[0]
    assert f'data-seek="{first.start_seconds:.2f}"' in transcript and ">0:00</a>" in transcript
    assert "Jim Halpert" in transcript and "Our biggest challenge is paper for the factory." in transcript

    moments = section(body, "moments")
    budget = e.moments.filter(tracker__name="Budget").order_by("at_seconds").first()
    assert f'href="{media}#t={budget.at_seconds}" data-seek="{budget.at_seconds}"' in moments
    assert "What budget have you set aside for this year?" in moments
    assert "Next steps" in moments and "send you the proposal by Friday" in moments

    brief = section(body, "brief")
    assert "Meeting summary" in brief and "Action items" in brief
    assert "<strong>Willy Wonka:</strong>" in brief or "<strong>Jim Halpert:</strong>" in brief
    assert "send you the proposal by Friday" in brief and "— Jim Halpert" in brief
    assert "Written by Chorus extractive summary (offline)" in brief
    assert 'src="/static/console/engagement.js"' in body


def test_the_media_url_on_the_page_plays_the_stored_clip(admin_client, org):
    e = processed_call(org)
    src = re.search(r'<audio class="player" src="([^"]+)"', page(admin_client, e)).group(1)
    response = admin_client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "audio/ogg"
    assert b"".join(response.streaming_content) == (CALLS / "wonka-discovery.ogg").read_bytes()


def test_no_brief_under_ten_minutes_says_the_seeds_sentence(admin_client, org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    body = page(admin_client, processed_call(org, minutes=1))
    brief = section(body, "brief")
    assert "We cannot generate Meeting Summary or Action Items for meetings less than 10 minutes." in brief
    assert "Meeting summary" not in brief


def test_no_brief_on_the_standard_package(admin_client, org):
    brief = section(page(admin_client, processed_call(org, minutes=12)), "brief")
    assert "part of the Enterprise package" in brief


def test_notification_not_heard_names_the_window(admin_client, org):
    e = processed_call(org, name="sabre-pricing", title="Sabre pricing")
    assert e.recording_notification_detected is False
    status = section(page(admin_client, e), "processing")
    assert "Not heard" in status and re.search(r"in the first \d+ seconds", status)


def test_a_video_recording_gets_a_video_player(admin_client, org):
    e = EngagementFactory(org=org)
    RecordingFile.objects.create(org=org, engagement=e, name="recordings/x.mp4", file_type="MP4",
                                 content_type="application/octet-stream")
    body = page(admin_client, e)
    assert f'<video class="player" src="{reverse("recording-media", args=[e.pk])}"' in body
    assert "<audio" not in body


# --- Each status --------------------------------------------------------------------------------


@pytest.mark.parametrize("status, label, words", [
    ("queued", "Queued", "Waiting for a worker"),
    ("transcribing", "Transcribing", "Chorus is transcribing the conversation"),
    ("analysing", "Analysing", "Chorus is analysing the conversation"),
    ("ready", "Ready", "Speech-to-text (pocketsphinx, offline)"),
])
def test_each_status_is_shown_with_its_label(admin_client, org, status, label, words):
    e = EngagementFactory(org=org)
    processing_row(e, status=status, transcript_source="pocketsphinx" if status == "ready" else "",
                   claimed_until=timezone.now() + timedelta(minutes=5) if status in ("transcribing", "analysing")
                   else None)
    card = section(page(admin_client, e), "processing")
    assert f'data-status="{status}">{label}</span>' in card and words in card
    # Retry is for results to redo, not for work under way or not yet started.
    assert ("Retry</button>" in card) is (status == "ready")


def test_failed_shows_the_reason_and_retry_for_admins_only(client, admin_user, rep_user, org):
    e = EngagementFactory(org=org)
    processing_row(e, status="failed", attempts=5,
                   last_error="Transcribing: The speech-to-text service did not answer (gave up after 5 tries)")
    for user, retry in ((admin_user, True), (rep_user, False)):
        client.force_login(user)
        card = section(page(client, e), "processing")
        assert ">Failed</span>" in card and 'class="error processing-reason"' in card
        assert "did not answer (gave up after 5 tries)" in card
        assert ("Retry</button>" in card) is retry
    assert "processing failed" in section(page(client, e), "brief")


def test_queued_after_a_failure_shows_the_reason_and_the_next_try(admin_client, org, settings):
    settings.TIME_ZONE = "UTC"
    e = EngagementFactory(org=org)
    at = timezone.now().replace(microsecond=0) + timedelta(minutes=4)
    processing_row(e, status="queued", attempts=2, next_attempt_at=at,
                   last_error="Transcribing: The speech-to-text service asked Chorus to wait (HTTP 429).")
    card = section(page(admin_client, e), "processing")
    assert "Queued — retrying" in card and "badge-amber" in card
    assert "asked Chorus to wait (HTTP 429)." in card
    assert f"Next try at {at:%b} {at.day}, {at:%H:%M}." in card
    assert "Retry</button>" in card


def test_engagements_without_processing(admin_client, org):
    older = EngagementFactory(org=org, summary="Ann: We agreed on a pilot.", action_items=["Send the deck"])
    body = page(admin_client, older)
    assert 'id="processing"' in body and "Not processed." in body
    assert "<strong>Ann:</strong> We agreed on a pilot." in section(body, "brief")
    assert "Send the deck" in body and "processing-retry" not in body
    email = EngagementFactory(org=org, kind=Engagement.Kind.EMAIL)
    assert 'id="processing"' not in page(admin_client, email)


# --- Retry ----------------------------------------------------------------------------------------


def test_admin_retry_requeues_and_is_audited(admin_client, admin_user, org):
    e = processed_call(org)
    row = e.processing
    row_before_moments = e.moments.count()
    EngagementProcessing.objects.filter(pk=row.pk).update(status="failed", last_error="Analysing: boom", attempts=5)
    url = reverse("processing-retry", args=[e.pk])
    response = admin_client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("recording", args=[e.pk]), 302)]
    assert "Chorus processes this conversation again now" in response.content.decode()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error, row.transcript_source) == ("queued", 0, "", "")
    assert not TranscriptSegment.objects.filter(engagement=e).exists()
    event = AuditEvent.objects.for_org(org).get(action="processing.retried")
    assert event.actor == admin_user and event.target == f"Engagement {e.pk}"
    # And a worker makes it ready again from the provider's transcript.
    assert process_queued()["ready"] == 1
    row.refresh_from_db()
    assert row.status == "ready" and e.moments.count() == row_before_moments
    assert TranscriptSegment.objects.filter(engagement=e).count() == 7


def test_retry_is_refused_while_a_worker_is_at_it(admin_client, org):
    e = EngagementFactory(org=org)
    row = processing_row(e, status="transcribing", attempts=1, claimed_until=timezone.now() + timedelta(minutes=30))
    response = admin_client.post(reverse("processing-retry", args=[e.pk]), follow=True)
    assert "Chorus is processing this conversation right now" in response.content.decode()
    row.refresh_from_db()
    assert row.status == "transcribing" and row.attempts == 1
    assert not AuditEvent.objects.filter(action="processing.retried").exists()


def test_a_stage_whose_worker_died_can_be_retried(admin_client, org):
    e = EngagementFactory(org=org)
    row = processing_row(e, status="analysing", attempts=1, claimed_until=timezone.now() - timedelta(minutes=1))
    assert "Retry</button>" in section(page(admin_client, e), "processing")
    admin_client.post(reverse("processing-retry", args=[e.pk]))
    row.refresh_from_db()
    assert row.status == "queued" and row.attempts == 0


def test_retry_without_processing_makes_no_row(admin_client, org):
    e = EngagementFactory(org=org)
    response = admin_client.post(reverse("processing-retry", args=[e.pk]), follow=True)
    assert "was never processed" in response.content.decode()
    assert not EngagementProcessing.objects.filter(engagement=e).exists()


def test_retry_is_for_admins(rep_client, org):
    e = EngagementFactory(org=org)
    row = processing_row(e, status="failed", last_error="x")
    assert rep_client.post(reverse("processing-retry", args=[e.pk])).status_code == 403
    row.refresh_from_db()
    assert row.status == "failed"


def test_retry_answers_only_post(admin_client, org):
    e = EngagementFactory(org=org)
    processing_row(e, status="failed", last_error="x")
    assert admin_client.get(reverse("processing-retry", args=[e.pk])).status_code == 405


def test_another_orgs_engagement_is_404_for_the_page_and_retry(admin_client, other_org):
    theirs = EngagementFactory(org=other_org)
    row = processing_row(theirs, status="failed", last_error="x")
    assert admin_client.get(reverse("recording", args=[theirs.pk])).status_code == 404
    assert admin_client.post(reverse("processing-retry", args=[theirs.pk])).status_code == 404
    row.refresh_from_db()
    assert row.status == "failed"


# --- Queries ----------------------------------------------------------------------------------------


def busy_engagement(org, *, turns: int, moments: int) -> Engagement:
    e = EngagementFactory(org=org, next_steps=[{"text": f"Step {i}", "speaker": "Ann", "at_seconds": i}
                                               for i in range(5)],
                          summary="Ann: One.\nBob: Two.", action_items=[{"text": "Do it", "speaker": "Bob"}])
    ParticipantFactory(engagement=e)
    RecordingFile.objects.create(org=org, engagement=e, name="recordings/b.ogg", content_type="audio/ogg")
    processing_row(e, status="ready", transcript_source="zoom", brief_engine="extractive",
                   notification_phrase="this call is being recorded", notification_at_seconds=2.0)
    Engagement.objects.filter(pk=e.pk).update(recording_notification_detected=True)
    TranscriptSegment.objects.bulk_create([
        TranscriptSegment(org=org, engagement=e, position=i, speaker=f"Speaker {i % 3}", start_seconds=i * 5.0,
                          end_seconds=i * 5.0 + 4, text=f"Sentence number {i}.") for i in range(turns)])
    trackers = [TrackerFactory(org=org) for _ in range(min(moments, 10))]
    for i in range(moments):
        MomentFactory(engagement=e, tracker=trackers[i % len(trackers)], at_seconds=i * 7, speaker="Ann")
    return e


def test_page_queries_do_not_grow_with_the_transcript(admin_client, org, django_assert_max_num_queries,
                                                      django_assert_num_queries):
    small = busy_engagement(org, turns=3, moments=2)
    with django_assert_max_num_queries(14) as few:
        page(admin_client, small)
    big = busy_engagement(org, turns=400, moments=60)
    with django_assert_num_queries(len(few.captured_queries)):
        body = page(admin_client, big)
    assert body.count('<li class="seg') == 400 and "Sentence number 399." in body
    assert Tracker.objects.for_org(org).count() >= 10
