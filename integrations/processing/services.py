"""The processing stage between "imported" and "ready".

Sources call :func:`processing_queue` where they used to announce engagements
ready. Engagements with something to listen to (recordings, dialer calls) get an
:class:`EngagementProcessing` row and go through two stages, each saved whole:

1. **transcribing** — the source's own transcript when it gave one (Zoom's WebVTT
   file), else speech-to-text of the stored recording through the configured
   :class:`~integrations.processing.speech.Transcriber`;
2. **analysing** — tracker hits (Moments), next steps, the recording-notification
   verdict and, for Enterprise meetings of 10 minutes or more, the post-meeting brief
   through the configured :class:`~integrations.processing.briefs.BriefWriter`.

The engagement is then announced to ``engagements_ready`` (CRM push and whatever
follows) in the transaction that marks it ready. A step that fails is tried again
with backoff (a service's ``Retry-After`` honoured); after the last try, or at once
for a failure no retry can mend, the engagement is marked failed and announced with
what is known, so the CRM task is never lost. Engagements with nothing to listen
to (unrecorded meetings, emails) are announced at once.

Workers claim one row at a time with a lease; a worker that dies leaves the lease
to expire and the row is run again from its last saved stage.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from chorus.models import Engagement, Moment, Organization, Tracker, User
from chorus.services import audit_record
from integrations.processing.analysis import Hit, TrackerMatcher, next_steps_find, notification_verdict
from integrations.processing.briefs import Brief, brief_eligible, brief_writer_from_settings
from integrations.processing.errors import ProcessingError
from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
from integrations.processing.transcript import Segment, segments_from_vtt, segments_to_text
from integrations.ready import engagements_ready
from integrations.storage.models import RecordingFile
from integrations.storage.services import recording_open

log = logging.getLogger(__name__)

S = ProcessingStatus
RUN_DUE_TASK = "integrations.processing.tasks.processing_run_due_task"
# Kinds with something to listen to; the others are announced as they come.
LISTENED = (Engagement.Kind.RECORDING, Engagement.Kind.DIALER_CALL)
ACTIVE = (S.QUEUED, S.TRANSCRIBING, S.ANALYSING)
MAX_BACKOFF = timedelta(hours=6)


# --- Recording-notification rules (registered by the app that owns them) ------------

NotificationRules = Callable[[Organization], tuple[list[str], int] | None]
_notification_rules: list[NotificationRules] = []


def register_notification_rules(func: NotificationRules) -> None:
    """``func(org)`` → (phrases, window in seconds) that count as a recording
    notification for ``org``, or None. Roles and Permissions > Compliance owns them."""
    if func not in _notification_rules:
        _notification_rules.append(func)


def _rules_for(org: Organization) -> tuple[list[str], int] | None:
    for func in _notification_rules:
        rules = func(org)
        if rules and rules[0]:
            return rules
    return None


# --- Queueing ---------------------------------------------------------------------------


def processing_queue(*, org: Organization, engagements: Iterable[Engagement],
                     provider_transcripts: dict[int, str] | None = None) -> None:
    """Hand new engagements to processing, in the caller's transaction.

    ``provider_transcripts`` maps engagement ids to the transcript their source gave
    (WebVTT). Engagements that have nothing to listen to are announced ready now; the
    others are queued, and workers are woken once the caller's transaction commits."""
    engagements = list(engagements)
    if any(e.org_id != org.id for e in engagements):
        raise ValueError("every engagement must belong to the organisation queued")
    listened = [e for e in engagements if e.kind in LISTENED and not e.recording_disabled]
    listened_ids = {id(e) for e in listened}  # by object: a page of thousands, compared once each
    engagements_ready(org=org, engagements=[e for e in engagements if id(e) not in listened_ids])
    if not listened:
        return
    transcripts = provider_transcripts or {}
    EngagementProcessing.objects.bulk_create(
        [EngagementProcessing(org=org, engagement=e, provider_transcript=transcripts.get(e.pk, "")) for e in listened],
        ignore_conflicts=True,
    )
    transaction.on_commit(_wake)


def _wake() -> None:
    """The processing tick: one task per org (a few for a big import) with due rows."""
    from django_q.tasks import async_task

    async_task(RUN_DUE_TASK, group="processing")


def processing_retry(*, engagement: Engagement, actor: User | None) -> EngagementProcessing:
    """An admin's Retry: run processing again from the start, with fresh tries.
    Results are replaced; an engagement already announced is not announced again
    (its CRM objects exist; Push again on the page sends what changed)."""
    row = EngagementProcessing.objects.for_org(engagement.org).filter(engagement=engagement).first()
    with transaction.atomic():
        if row is None:
            row = EngagementProcessing.objects.create(org=engagement.org, engagement=engagement)
        else:
            EngagementProcessing.objects.filter(pk=row.pk).update(
                status=S.QUEUED, attempts=0, next_attempt_at=timezone.now(), claimed_until=None, claim_token="",
                last_error="", transcript_source="", updated_at=timezone.now())
            TranscriptSegment.objects.filter(engagement=engagement).delete()
            row.refresh_from_db()
        audit_record(org=engagement.org, actor=actor, action="processing.retried",
                     target=f"Engagement {engagement.pk}")
        transaction.on_commit(_wake)
    return row


# --- Running ----------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=int(settings.PROCESSING_LEASE_SECONDS))


def _due(now: datetime) -> Q:
    return (Q(status__in=ACTIVE, next_attempt_at__lte=now)
            & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)))


def _claim_next(now: datetime, org_id: int | None = None) -> tuple[int, str] | None:
    """Claim the next due row (a conditional update, so two workers never take one)."""
    scope = {"org_id": org_id} if org_id is not None else {}
    for pk in EngagementProcessing.objects.filter(_due(now), **scope).order_by("next_attempt_at", "pk") \
            .values_list("pk", flat=True)[:20]:
        token = uuid.uuid4().hex
        # A claim counts as a try: a row whose worker is killed every time (a call
        # too long for the task timeout) runs out of tries instead of looping.
        if EngagementProcessing.objects.filter(_due(now), pk=pk).update(
                claimed_until=now + _lease(), claim_token=token, attempts=F("attempts") + 1):
            return pk, token
    return None


def processing_run_due(*, limit: int = 100, budget_seconds: float | None = 540.0,
                       org_id: int | None = None) -> dict[str, int]:
    """Claim and run due rows (of one org when given) one at a time until none is due,
    ``limit`` rows are done or ``budget_seconds`` have passed (``more``: the rest is
    handed to the next run)."""
    started = timezone.now()
    counts = {"ready": 0, "failed": 0, "retrying": 0}
    for _ in range(limit):
        if budget_seconds is not None and (timezone.now() - started).total_seconds() > budget_seconds:
            counts["more"] = 1
            break
        claimed = _claim_next(timezone.now(), org_id)
        if claimed is None:
            break
        try:
            counts[processing_run(pk=claimed[0], token=claimed[1])] += 1
        except Exception:  # noqa: BLE001 (one engagement never stops the others; its lease expires, it runs again)
            log.exception("Processing of row %s could not be settled", claimed[0])
            counts["retrying"] += 1
    else:
        counts["more"] = 1
    return counts


# --- The scheduled job: per organisation, a few workers each -----------------------------------

PROCESSING_JOB = "processing"
ROWS_PER_RUN = 10  # then the org's unit goes behind the other orgs' (fairness)


def processing_due_units(now: datetime):
    """Up to PROCESSING_WORKERS_PER_ORG units per org with due rows: a big import
    uses several workers, and never all of them while another org waits."""
    from integrations.scheduler import Unit

    per_org = int(settings.PROCESSING_WORKERS_PER_ORG)
    due = (EngagementProcessing.objects.filter(_due(now)).values("org_id").annotate(n=Count("pk"))
           .values_list("org_id", "n").order_by())
    return [Unit(key=f"org:{org_id}:{slot}", org_id=org_id, provider="processing")
            for org_id, n in due for slot in range(min(n, per_org))]


def processing_unit_run(unit) -> dict[str, int]:
    return processing_run_due(org_id=unit.org_id, limit=ROWS_PER_RUN)


@dataclass
class _Run:
    row: EngagementProcessing
    token: str

    @property
    def engagement(self) -> Engagement:
        return self.row.engagement

    def save(self, **fields: Any) -> None:
        """Save fields of the row while this worker still holds it; a worker whose
        lease ran out and was taken over stops here instead of writing over the other."""
        fields["updated_at"] = timezone.now()
        if not EngagementProcessing.objects.filter(pk=self.row.pk, claim_token=self.token).update(**fields):
            raise LeaseLost()
        for name, value in fields.items():
            setattr(self.row, name, value)


class LeaseLost(Exception):
    pass


def processing_run(*, pk: int, token: str) -> str:
    """Run one claimed row from its saved stage; "ready", "failed" or "retrying"."""
    row = EngagementProcessing.objects.select_related("org", "engagement", "engagement__owner").get(pk=pk)
    run = _Run(row=row, token=token)
    stage = S.TRANSCRIBING if not row.transcript_source else S.ANALYSING
    if row.attempts > int(settings.PROCESSING_MAX_ATTEMPTS):
        return _settle_failure(run, stage, ProcessingError(
            f"Processing stopped mid-way {row.attempts - 1} times (the worker was stopped or ran out of time).",
            permanent=True))
    try:
        segments = _transcribed(run)
        stage = S.ANALYSING
        _analyse(run, segments)
        return "ready"
    except LeaseLost:
        log.warning("Processing of engagement %s was taken over by another worker", row.engagement_id)
        return "retrying"
    except ProcessingError as exc:
        failure = exc
    except Exception:
        log.exception("Processing of engagement %s failed unexpectedly", row.engagement_id)
        failure = ProcessingError("An unexpected error stopped processing (logged for support).")
    try:
        return _settle_failure(run, stage, failure)
    except LeaseLost:
        return "retrying"


def _settle_failure(run: _Run, stage: str, exc: ProcessingError) -> str:
    attempts = run.row.attempts
    reason = f"{S(stage).label}: {exc}"[:1000]
    if exc.permanent or attempts >= int(settings.PROCESSING_MAX_ATTEMPTS):
        if not exc.permanent:
            reason = f"{reason} (gave up after {attempts} tries)"
        with transaction.atomic():
            run.save(status=S.FAILED, last_error=reason, claimed_until=None)
            _announce(run)
        return "failed"
    wait = float(settings.PROCESSING_BACKOFF_BASE_SECONDS) * 2 ** (attempts - 1)
    wait = min(max(wait, exc.retry_after or 0.0), MAX_BACKOFF.total_seconds())
    run.save(status=S.QUEUED, last_error=reason, claimed_until=None,
             next_attempt_at=timezone.now() + timedelta(seconds=wait))
    return "retrying"


def _announce(run: _Run) -> None:
    """Hand the engagement to ``engagements_ready`` once (in the caller's transaction).
    Read from the database: an announcement rolled back (a listener or gate failed)
    leaves ``announced_at`` set on the in-memory row only."""
    if EngagementProcessing.objects.filter(pk=run.row.pk, announced_at__isnull=False).exists():
        return
    run.save(announced_at=timezone.now())
    engagement = Engagement.objects.get(pk=run.engagement.pk)
    engagements_ready(org=run.row.org, engagements=[engagement])


# --- Stage 1: the transcript -----------------------------------------------------------


def _stored_segments(engagement: Engagement) -> list[Segment]:
    return [Segment(s.speaker, s.start_seconds, s.end_seconds, s.text)
            for s in TranscriptSegment.objects.filter(engagement=engagement).order_by("position")]


def _transcribed(run: _Run) -> list[Segment]:
    """The transcript, made now or by an earlier try (kept, not made twice)."""
    if run.row.transcript_source:
        return _stored_segments(run.engagement)
    run.save(status=S.TRANSCRIBING)
    source, segments = _provider_transcript(run.row)
    if segments is None:
        source, segments = _speech_to_text(run.engagement)
    with transaction.atomic():
        run.save(status=S.ANALYSING, transcript_source=source)
        TranscriptSegment.objects.filter(engagement=run.engagement).delete()
        TranscriptSegment.objects.bulk_create([
            TranscriptSegment(org_id=run.row.org_id, engagement=run.engagement, position=i, speaker=s.speaker[:200],
                              start_seconds=s.start, end_seconds=s.end, text=s.text)
            for i, s in enumerate(segments)
        ], batch_size=500)
        Engagement.objects.filter(pk=run.engagement.pk).update(transcript=segments_to_text(segments))
    return segments


def _provider_transcript(row: EngagementProcessing) -> tuple[str, list[Segment] | None]:
    if not row.provider_transcript.strip():
        return "", None
    try:
        return row.engagement.source, segments_from_vtt(row.provider_transcript)
    except ValueError:
        log.warning("The transcript of engagement %s from %s is not WebVTT; transcribing the recording instead",
                    row.engagement_id, row.engagement.source)
        return "", None


def _audio_file(engagement: Engagement) -> RecordingFile:
    recording = (RecordingFile.objects.filter(engagement=engagement).select_related("bucket")
                 .exclude(file_type__iexact="TRANSCRIPT").order_by("id").first())
    if recording is None:
        raise ProcessingError("There is no recording to transcribe (the recording was not downloaded).",
                              permanent=True)
    return recording


def _speech_to_text(engagement: Engagement) -> tuple[str, list[Segment]]:
    from integrations.processing.speech import transcriber_from_settings

    recording = _audio_file(engagement)
    transcriber = transcriber_from_settings()
    with tempfile.NamedTemporaryFile(suffix=f".{(recording.file_type or 'bin').lower()}") as tmp:
        try:
            with recording_open(recording_file=recording) as stored:
                shutil.copyfileobj(stored, tmp, 1024 * 1024)
        except (OSError, ValueError) as exc:
            raise ProcessingError(f"The stored recording could not be read ({type(exc).__name__}).") from exc
        tmp.flush()
        return transcriber.engine, transcriber.transcribe(tmp.name)


# --- Stage 2: what was said --------------------------------------------------------------


@lru_cache(maxsize=256)
def _matcher(specs: tuple[tuple[int, str, tuple[str, ...]], ...]) -> TrackerMatcher:
    """One compiled matcher per distinct set of trackers, shared by every engagement
    of the org until an admin edits its trackers (which changes the key)."""
    return TrackerMatcher(specs)


def tracker_matcher(*, org: Organization) -> TrackerMatcher:
    specs = tuple((pk, name, tuple(keywords or ()))
                  for pk, name, keywords in Tracker.objects.for_org(org).order_by("pk")
                  .values_list("pk", "name", "keywords"))
    return _matcher(specs)


def _analyse(run: _Run, segments: list[Segment]) -> None:
    """Moments, next steps and the verdict are saved first (cheap, the same every
    time), so an engagement whose brief cannot be written is announced with them;
    then the brief, and ready."""
    engagement, org = run.engagement, run.row.org
    hits = _one_per_sentence(tracker_matcher(org=org).matches(segments))
    steps = next_steps_find(segments)
    rules = _rules_for(org)
    verdict = notification_verdict(segments, phrases=rules[0], window_seconds=rules[1]) if rules else None
    with transaction.atomic():
        run.save(status=S.ANALYSING, notification_phrase=verdict.phrase if verdict else "",
                 notification_at_seconds=verdict.at_seconds if verdict else None)
        Moment.objects.filter(engagement=engagement).delete()
        Moment.objects.bulk_create([
            Moment(org=org, engagement=engagement, tracker_id=h.tracker_key, at_seconds=int(h.at_seconds),
                   text=h.sentence, speaker=h.speaker[:200])
            for h in hits
        ], batch_size=500)
        Engagement.objects.filter(pk=engagement.pk).update(
            next_steps=[{"text": s.text, "speaker": s.speaker, "at_seconds": s.at_seconds} for s in steps],
            recording_notification_detected=verdict.detected if verdict else None,
        )
    brief = _brief(engagement, org, segments, steps)
    with transaction.atomic():
        Engagement.objects.filter(pk=engagement.pk).update(
            summary=brief.summary if brief else "",
            action_items=[{"text": a.text, "speaker": a.speaker} for a in brief.action_items] if brief else [],
        )
        run.save(status=S.READY, last_error="", claimed_until=None, brief_engine=brief.engine if brief else "")
        _announce(run)


def _one_per_sentence(hits: list[Hit]) -> list[Hit]:
    """One Moment per tracker and sentence: "budget … set aside" in one sentence is one
    Budget moment, at the first phrase heard."""
    seen: set[tuple] = set()
    kept = []
    for h in hits:
        key = (h.tracker_key, h.speaker, h.sentence)
        if key not in seen:
            seen.add(key)
            kept.append(h)
    return kept


def brief_expected(*, org: Organization, duration_seconds: int) -> bool:
    """The seed: briefs are Enterprise only, and none below 10 minutes."""
    return org.is_enterprise and brief_eligible(duration_seconds)


def _brief(engagement: Engagement, org: Organization, segments: list[Segment], steps) -> Brief | None:
    duration = max(engagement.duration_seconds, int(segments[-1].end) if segments else 0)
    if not segments or not brief_expected(org=org, duration_seconds=duration):
        return None
    return brief_writer_from_settings().write(title=engagement.title, segments=segments, next_steps=steps)
