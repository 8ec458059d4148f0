"""The import run: one connection's backfill (the last seven days, a day at a time)
or hourly window, page by page, then the recording retries.

Idempotency rests on two unique constraints: ``DialerCall(org, dialer,
external_id)`` and ``Engagement(org, source, external_id)``. A page of calls is
written in one transaction (engagements, participants, ledger rows); recordings are
downloaded after it commits (while the next page is read and written) and their
state lives on the ledger row; a call whose
recording is settled goes to processing (``integrations.processing``), which
announces it ready (account matching, CRM Objects Creation) once transcribed and
analysed, so a killed worker, a 404 or a timeout leaves a
``pending``/``failed`` row that the next run retries, never a second engagement.
The import cursor moves one window (one day of the backfill, or the hour) at a
time, only once the window is done.

Its own module because it is the worker side: connections are set up and queued
in :mod:`dialers.services`, a django-q2 task lands here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chorus.models import Engagement, LicenseType, Organization, Participant, User
from dialers.catalogue import CATALOGUE, Dialer, dialer_get
from dialers.importers import CallRecord, Importer, importer_for
from dialers.media import MEDIA_MAX_ATTEMPTS, MediaDownloads, dialer_recordings_fetch, media_leftovers_remove
from dialers.models import DialerCall, MediaStatus
from integrations.models import Connection, ConnectionStatus
from integrations.processing.services import processing_queue
from integrations.registry import IntegrationError
from integrations.selectors import connection_in_category

log = logging.getLogger(__name__)
S = ConnectionStatus
BACKFILL_DAYS = 7
# The hourly run re-reads the end of the previous window: a task whose recording
# URL was filled in a little late is still found (idempotency makes this free).
HOURLY_OVERLAP = timedelta(minutes=15)
STALE_AFTER = timedelta(hours=2)  # a claim older than this belonged to a dead worker
CRM_CATEGORY = "crm"  # the registry category CRM Connect registers its providers under
UNEXPECTED = "The import stopped on an unexpected error. Chorus tries again at the next hourly run."


def crm_connection_for(*, org: Organization) -> Connection | None:
    """The org's connected CRM (the CRM app owns that row; one CRM per org at a time)."""
    return connection_in_category(org=org, category=CRM_CATEGORY)


def _claim(connection: Connection) -> bool:
    """One worker per connection on any number of hosts: the conditional UPDATE is the claim."""
    now = timezone.now()
    claimed = (Connection.objects.filter(pk=connection.pk).exclude(status=S.DISCONNECTED)
               .filter(~Q(status=S.SYNCING) | Q(updated_at__lt=now - STALE_AFTER))
               .update(status=S.SYNCING, updated_at=now))
    if claimed:
        connection.refresh_from_db()
    return bool(claimed)


def import_windows(*, connection: Connection, now: datetime) -> list[tuple[datetime, datetime]]:
    """The first run backfills the last seven days one day at a time (the cursor
    moves after each day, so progress shows and a killed worker resumes at the day
    it was on); later runs read from the cursor (minus an overlap) to now."""
    through = connection.config.get("imported_through")
    if not through:
        start = now - timedelta(days=BACKFILL_DAYS)
    else:
        start = max(datetime.fromisoformat(through) - HOURLY_OVERLAP, now - timedelta(days=BACKFILL_DAYS))
    windows = []
    while start < now:
        end = min(start + timedelta(days=1), now)
        windows.append((start, end))
        start = end
    return windows


@dataclass
class ImportResult:
    found: int = 0
    imported: int = 0
    already_imported: int = 0
    skipped_unlicensed: int = 0
    skipped_unknown_owner: int = 0
    skipped_no_recording: int = 0
    media_stored: int = 0
    media_failed: int = 0  # not downloaded; tried again at a later run
    media_rejected: int = 0  # not downloaded, never tried again

    def add(self, other: ImportResult) -> None:
        for name in ("found", "imported", "already_imported", "skipped_unlicensed", "skipped_unknown_owner",
                     "skipped_no_recording", "media_stored", "media_failed", "media_rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count_media(self, calls: list[DialerCall]) -> None:
        """Tally the recording outcomes of ``calls`` (each call's reason stays on its ledger row)."""
        for call in calls:
            if call.media_status == MediaStatus.STORED:
                self.media_stored += 1
            elif call.media_status == MediaStatus.REJECTED:
                self.media_rejected += 1
            else:
                self.media_failed += 1

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _users_by_email(org: Organization) -> dict[str, User]:
    return {u.email.lower(): u for u in User.objects.for_org(org).filter(is_active=True)
            .only("id", "email", "license_type", "first_name", "last_name", "org_id")}


def _title(dialer: Dialer, record: CallRecord) -> str:
    who = record.prospect_name or record.prospect_phone or record.prospect_email
    return (record.title or (f"{dialer.label} call with {who}" if who else f"{dialer.label} call"))[:500]


def _participants(org: Organization, engagement: Engagement, owner: User, record: CallRecord) -> list[Participant]:
    rows = [Participant(org=org, engagement=engagement, name=owner.full_name[:200], email=owner.email,
                        is_internal=True)]
    if record.prospect_name or record.prospect_email or record.prospect_phone:
        email = record.prospect_email if "@" in record.prospect_email else ""
        rows.append(Participant(org=org, engagement=engagement,
                                name=(record.prospect_name or record.prospect_phone)[:200], email=email[:254],
                                is_internal=bool(email) and org.is_internal_email(email)))
    return rows


def _engagement(org: Organization, dialer: Dialer, record: CallRecord, owner: User) -> Engagement:
    return Engagement(org=org, kind=Engagement.Kind.DIALER_CALL, title=_title(dialer, record),
                      started_at=record.started_at, duration_seconds=max(0, record.duration_seconds), owner=owner,
                      source=dialer.key, external_id=record.external_id)


def _ledger_row(connection: Connection, dialer: Dialer, record: CallRecord, engagement: Engagement) -> DialerCall:
    return DialerCall(org=connection.org, connection=connection, dialer=dialer.key, external_id=record.external_id,
                      engagement=engagement, started_at=record.started_at, media_source=record.media_source)


def _write_page(*, connection: Connection, dialer: Dialer, rows: list[tuple[CallRecord, User]]) -> list[DialerCall]:
    """Engagements, participants and ledger rows of one page (the caller holds the
    page's transaction). A concurrent writer (an overlapping run that lost its
    claim) makes the bulk insert fail as a whole; then rows are written one by one
    and conflicts skipped."""
    org = connection.org
    try:
        with transaction.atomic():
            engagements = Engagement.objects.bulk_create([_engagement(org, dialer, r, u) for r, u in rows])
            Participant.objects.bulk_create([p for e, (r, u) in zip(engagements, rows, strict=True)
                                             for p in _participants(org, e, u, r)])
            return DialerCall.objects.bulk_create([_ledger_row(connection, dialer, r, e)
                                                   for e, (r, u) in zip(engagements, rows, strict=True)])
    except IntegrityError:
        calls = []
        for r, u in rows:
            try:
                with transaction.atomic():
                    e = _engagement(org, dialer, r, u)
                    e.save(force_insert=True)
                    Participant.objects.bulk_create(_participants(org, e, u, r))
                    call = _ledger_row(connection, dialer, r, e)
                    call.save(force_insert=True)
                    calls.append(call)
            except IntegrityError:
                continue  # imported meanwhile by someone else: nothing to do
        return calls


def _queue_settled(fetched: list[DialerCall]) -> None:
    """Hand each call whose recording is settled (stored, or refused for good) to
    processing: transcript, trackers, the notification verdict, then ready. A call
    whose download will be tried again waits for its recording. In the transaction
    that saves the outcomes."""
    settled = [c.engagement for c in fetched
               if c.engagement_id and c.media_status in (MediaStatus.STORED, MediaStatus.REJECTED)]
    if settled:
        processing_queue(org=settled[0].org, engagements=settled)


def _downloads_finish(downloads: MediaDownloads, batch, result: ImportResult) -> None:
    """Wait for a page's recordings, save their outcomes and queue the settled calls."""
    downloads.finish(batch, then=_queue_settled)
    result.count_media(batch.calls)


def _download_all(calls: list[DialerCall], importer: Importer, result: ImportResult) -> None:
    """Fetch the recordings, then hand each call whose recording is settled to processing."""
    dialer_recordings_fetch(calls, importer, then=_queue_settled)
    result.count_media(calls)


def dialer_calls_import(*, connection: Connection, since: datetime, until: datetime,
                        importer: Importer | None = None, users: dict[str, User] | None = None,
                        on_page: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """Import the calls of ``[since, until)``: each new call becomes a dialer-call
    Engagement owned by the Chorus user with the call owner's email, the prospect a
    participant, its recording downloaded into media storage. Calls already
    imported are skipped; calls of users without a Recorder licence are counted."""
    dialer = CATALOGUE[connection.provider]
    org = connection.org
    if importer is None:
        importer = importer_for(connection=connection, dialer=dialer, crm_connection=crm_connection_for(org=org))
    users = users if users is not None else _users_by_email(org)
    result = ImportResult()
    # Page N's recordings download while page N+1 is read and written: a page's
    # batch is finished (its outcomes saved) once the next page's rows are committed
    # and its batch started, so the pool is never idle between pages.
    with MediaDownloads(importer) as downloads:
        pending: list = []  # started batches, oldest first: at most two
        try:
            for page in importer.pages(since=since, until=until):
                page_result = ImportResult(found=len(page))
                calls = _page_write(connection=connection, dialer=dialer, org=org, users=users, page=page,
                                    result=page_result)
                if calls:
                    pending.append(downloads.start(calls))
                while len(pending) > 1:
                    _downloads_finish(downloads, pending.pop(0), result)
                result.add(page_result)  # its recordings are counted once finished
                if on_page:
                    on_page(result)
        except Exception:
            while pending:  # the pages read before the failure keep their recordings
                _downloads_finish(downloads, pending.pop(0), result)
            raise
        while pending:
            _downloads_finish(downloads, pending.pop(0), result)
    return result


def _page_write(*, connection: Connection, dialer: Dialer, org: Organization, users: dict[str, User],
                page: list[CallRecord], result: ImportResult) -> list[DialerCall]:
    """One page's new calls written (in one transaction) and counted on ``result``."""
    unique = {r.external_id: r for r in page if r.external_id}
    existing = set(DialerCall.objects.for_org(org).filter(dialer=dialer.key, external_id__in=list(unique))
                   .values_list("external_id", flat=True)) if unique else set()
    result.already_imported = len(existing)
    rows: list[tuple[CallRecord, User]] = []
    for record in unique.values():
        if record.external_id in existing:
            continue
        owner = users.get(record.owner_email.lower()) if record.owner_email else None
        if owner is None:
            result.skipped_unknown_owner += 1
        elif owner.license_type != LicenseType.RECORDER:
            result.skipped_unlicensed += 1
        elif not record.media_source:
            result.skipped_no_recording += 1
        else:
            rows.append((record, owner))
    calls = _write_page(connection=connection, dialer=dialer, rows=rows) if rows else []
    result.imported = len(calls)
    return calls


def dialer_media_retry(*, connection: Connection, importer: Importer, result: ImportResult,
                       before: datetime) -> None:
    """Recordings that failed in an earlier run (404 not uploaded yet, a server still
    busy after the run's own retries…) or whose worker died before the download are
    tried again, up to ``MEDIA_MAX_ATTEMPTS`` runs, not before the time a server's
    ``Retry-After`` named."""
    due = list(DialerCall.objects.filter(connection=connection, engagement__isnull=False, created_at__lt=before,
                                         media_status__in=[MediaStatus.PENDING, MediaStatus.FAILED],
                                         media_attempts__lt=MEDIA_MAX_ATTEMPTS)
               .filter(Q(media_retry_at__isnull=True) | Q(media_retry_at__lte=timezone.now()))[:1000])
    if due:
        _download_all(due, importer, result)


def _save(connection: Connection, **fields: Any) -> None:
    fields.setdefault("updated_at", timezone.now())
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for k, v in fields.items():
        setattr(connection, k, v)


def _media_error_sentence(result: ImportResult) -> str:
    """The run's recordings that could not be downloaded, by what happens next (each
    call's own reason is listed under Recordings on the dialer's row)."""
    n = result.media_failed + result.media_rejected
    if not n:
        return ""
    outcomes = []
    if result.media_failed:
        outcomes.append(f"{result.media_failed} will be tried again at a later hourly run")
    if result.media_rejected:
        outcomes.append(f"{result.media_rejected} will not be tried again")
    return (f"{n} recording{'s' if n != 1 else ''} could not be downloaded; the calls are imported. "
            f"{' and '.join(outcomes).capitalize()}: see each call's reason under Recordings.")


def dialer_import_run(*, connection: Connection, now: datetime | None = None,
                      importer: Importer | None = None) -> dict[str, Any]:
    """One run of a connection: the backfill or the hourly window(s), then the
    recording retries. The outcome ends on the row as a
    status, a last-import time, counts and a sentence."""
    dialer = dialer_get(connection.provider)
    if dialer is None or not _claim(connection):
        return {"skipped": "already importing, disconnected or unknown"}
    now = now or timezone.now()
    started = timezone.now()
    media_leftovers_remove()
    backfill = not connection.config.get("imported_through")
    windows = import_windows(connection=connection, now=now)
    total = ImportResult()
    status, error = S.OK, ""
    try:
        if importer is None:
            importer = importer_for(connection=connection, dialer=dialer,
                                    crm_connection=crm_connection_for(org=connection.org))
        users = _users_by_email(connection.org)
        for index, (since, until) in enumerate(windows):
            done_before = ImportResult()
            done_before.add(total)

            def on_page(window_result: ImportResult, index=index, base=done_before, since=since) -> None:
                progress = {"phase": "backfill" if backfill else "hourly", "window": index, "windows": len(windows),
                            "imported": base.imported + window_result.imported,
                            "found": base.found + window_result.found, "since": windows[0][0].isoformat(),
                            "day": since.date().isoformat(), "started_at": started.isoformat()}
                _save(connection, config={**connection.config, "progress": progress})

            on_page(ImportResult())
            total.add(dialer_calls_import(connection=connection, since=since, until=until, importer=importer,
                                          users=users, on_page=on_page))
            _save(connection, config={**connection.config, "imported_through": until.isoformat()})
        dialer_media_retry(connection=connection, importer=importer, result=total, before=started)
        error = _media_error_sentence(total)
    except IntegrationError as exc:  # the dialer's, the CRM's or Zoom's sentence for the admin
        status, error = S.FAILED, str(exc)
    except Exception:  # noqa: BLE001 (the admin sees a sentence; the trace goes to the log)
        log.exception("Dialer import failed for connection %s", connection.pk)
        status, error = S.FAILED, UNEXPECTED
    finished = timezone.now()
    config = {k: v for k, v in connection.config.items() if k != "progress"}
    config["last_result"] = {**total.as_dict(), "backfill": backfill, "started_at": started.isoformat(),
                             "finished_at": finished.isoformat(), "ok": status == S.OK}
    config["calls_imported"] = int(config.get("calls_imported", 0)) + total.imported
    config["skipped_unlicensed_total"] = int(config.get("skipped_unlicensed_total", 0)) + total.skipped_unlicensed
    if status == S.OK:
        config["last_success_at"] = finished.isoformat()
    _save(connection, status=status, last_error=error, last_run_at=finished, config=config, updated_at=finished)
    return config["last_result"]


