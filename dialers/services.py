"""Dialer connections, the import (7-day backfill, then hourly) and compliance
deletion: the writes. Views, django-q2 tasks, the admin and the bench call these.

Idempotency rests on two unique constraints: ``DialerCall(org, dialer,
external_id)`` and ``Engagement(org, source, external_id)``. A page of calls is
written in one transaction (engagements, participants, ledger rows); recordings are
downloaded after it commits and their state lives on the ledger row, so a killed
worker, a 404 or a timeout leaves a ``pending``/``failed`` row that the next run
retries, never a second engagement. The import cursor moves one window (one day
of the backfill, or the hour) at a time, only once the window is done.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from chorus.models import Engagement, LicenseType, Organization, Participant, User
from chorus.services import audit_record
from dialers.catalogue import (
    BLANK_FIELD,
    CATALOGUE,
    HUBSPOT_FIELD,
    ZOOM_PHONE,
    ZOOM_PHONE_SALESFORCE_ONLY,
    Dialer,
    dialer_get,
)
from dialers.importers import CallRecord, DialerImportError, Importer, MediaError, importer_for
from dialers.importers.base import max_media_bytes
from dialers.models import ComplianceSettings, DialerCall, MediaStatus
from integrations.models import Connection, ConnectionStatus
from integrations.storage.models import RecordingFile
from integrations.storage.services import bucket_active, recording_delete_stored, storage_for

log = logging.getLogger(__name__)
S = ConnectionStatus
BACKFILL_DAYS = 7
# The hourly run re-reads the end of the previous window: a task whose recording
# URL was filled in a little late is still found (idempotency makes this free).
HOURLY_OVERLAP = timedelta(minutes=15)
STALE_AFTER = timedelta(hours=2)  # a claim older than this belonged to a dead worker
MEDIA_MAX_ATTEMPTS = 5
SPOOL_BYTES = 8 * 1024 * 1024
UNEXPECTED = "The import stopped on an unexpected error. Chorus tries again at the next hourly run."
NEEDS_CRM = ("Connect your CRM first: {label} calls are read from your CRM, so Salesforce, HubSpot or Microsoft "
             "Dynamics must be connected under CRM Connect. Only ZoomInfo Engage, HubSpot Dialer, Zoom Phone and "
             "Shoretel Sky/Mitel work without a CRM.")
EXTENSIONS = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
              "audio/wave": ".wav", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/ogg": ".ogg",
              "audio/webm": ".webm", "video/mp4": ".mp4", "video/webm": ".webm"}


# --- Reads -------------------------------------------------------------------------------------------


def crm_connection_for(*, org: Organization) -> Connection | None:
    """The org's connected CRM (the CRM app owns that row)."""
    from crm.services import crm_connection_get

    return crm_connection_get(org=org)


def dialer_connections(*, org: Organization):
    return (Connection.objects.for_org(org).filter(provider__in=list(CATALOGUE))
            .exclude(status=S.DISCONNECTED).select_related("connected_by"))


def dialer_connection_for(*, org: Organization, key: str) -> Connection | None:
    return dialer_connections(org=org).filter(provider=key).order_by("-updated_at").first()


def dialer_connect_refusal(*, org: Organization, dialer: Dialer, crm: Connection | None = None) -> str:
    """Why this dialer cannot be connected now (a sentence for the page), or ``""``."""
    crm = crm if crm is not None else crm_connection_for(org=org)
    if dialer.family == ZOOM_PHONE and crm is not None and crm.provider != "salesforce":
        return ZOOM_PHONE_SALESFORCE_ONLY
    if dialer.requires_crm and crm is None:
        return NEEDS_CRM.format(label=dialer.label)
    if dialer.crm_field == HUBSPOT_FIELD and crm is not None and crm.provider != "hubspot":
        return f"{dialer.label} reads calls from HubSpot, but your connected CRM is not HubSpot."
    return ""


# --- Connect, edit, disconnect --------------------------------------------------------------------------


def _changed_names(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def dialer_save(*, org: Organization, dialer: Dialer, values: dict[str, Any], actor: User | None,
                connection: Connection | None = None) -> Connection:
    """"Sync Dialer" (new) or Save (edit). Secret fields left blank on an edit keep
    their stored value: secrets are never sent back to the browser."""
    refusal = dialer_connect_refusal(org=org, dialer=dialer)
    if refusal:
        raise ValidationError(refusal)
    connection = connection or dialer_connection_for(org=org, key=dialer.key)
    old_secrets = dict(connection.secrets) if connection else {}
    old_config = dict(connection.config) if connection else {}
    config = {k: v for k, v in old_config.items()}
    secrets = dict(old_secrets)
    errors: dict[str, str] = {}
    for f in dialer.credentials:
        value = str(values.get(f.name) or "").strip()
        if f.secret:
            if value:
                secrets[f.name] = value
            elif not secrets.get(f.name):
                errors[f.name] = f"Enter your {f.label}."
        else:
            if not value:
                errors[f.name] = f"Enter your {f.label}."
            config[f.name] = value
    crm_field = str(values.get("crm_field") or "").strip()
    if dialer.crm_field == BLANK_FIELD:
        crm_field = ""
    if crm_field and not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,79}$", crm_field):
        errors["crm_field"] = "Enter the field's API name (letters, digits and underscores, e.g. Call_Recording__c)."
    elif dialer.crm_field_required and not crm_field:
        errors["crm_field"] = "Select the CRM field that holds the call recording URL (e.g. Call_Recording__c)."
    if errors:
        raise ValidationError(errors)
    if dialer.asks_crm_field:
        config["crm_field"] = crm_field
    created = connection is None
    with transaction.atomic():
        if created:
            connection = Connection(org=org, provider=dialer.key, connected_by=actor)
        connection.config = config
        connection.secrets = secrets
        if created or connection.status == S.FAILED:
            connection.last_error = ""
        if created:
            connection.status = S.QUEUED
            connection.config.setdefault("activated", dialer.family != ZOOM_PHONE)
        connection.save()
        audit_record(org=org, actor=actor, action="dialer.connected" if created else "dialer.updated",
                     target=dialer.label,
                     changes={"fields": _changed_names(old_config, config) + _changed_names(old_secrets, secrets)})
    if created and connection.config.get("activated"):
        dialer_import_queue(connection=connection)
    return connection


def dialer_zoom_phone_activate(*, connection: Connection, actor: User | None) -> Connection:
    """Zoom Phone Integration > Activate (after Complete): the import starts."""
    connection.config = {**connection.config, "activated": True}
    connection.status = S.QUEUED
    connection.save(update_fields=["config", "status", "updated_at"])
    audit_record(org=connection.org, actor=actor, action="dialer.activated",
                 target=CATALOGUE[connection.provider].label)
    dialer_import_queue(connection=connection)
    return connection


def dialer_disconnect(*, connection: Connection, actor: User | None) -> Connection:
    """Forget the credentials and stop importing; imported calls stay."""
    connection.status = S.DISCONNECTED
    connection.secrets = {}
    connection.config = {k: v for k, v in connection.config.items() if k not in ("progress",)}
    connection.save()
    audit_record(org=connection.org, actor=actor, action="dialer.disconnected",
                 target=CATALOGUE[connection.provider].label)
    return connection


# --- Scheduling ---------------------------------------------------------------------------------------------


def dialer_import_queue(*, connection: Connection) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("dialers.tasks.dialer_import_task", connection.pk,
                                             group="dialer-import"))


def dialer_import_request(*, connection: Connection) -> None:
    """"Import now" on the page: visible at once as queued."""
    if connection.status == S.SYNCING:
        return
    Connection.objects.filter(pk=connection.pk).update(status=S.QUEUED, updated_at=timezone.now())
    connection.status = S.QUEUED
    dialer_import_queue(connection=connection)


def dialer_imports_due() -> int:
    """The hourly schedule: queue every active dialer connection (a running one is
    left alone; a dead worker's claim is taken over after ``STALE_AFTER``)."""
    queued = 0
    for connection in Connection.objects.filter(provider__in=list(CATALOGUE)).exclude(status=S.DISCONNECTED):
        if not connection.config.get("activated", True):
            continue
        if connection.status == S.SYNCING and connection.updated_at > timezone.now() - STALE_AFTER:
            continue
        dialer_import_queue(connection=connection)
        queued += 1
    return queued


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


# --- The import ---------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    found: int = 0
    imported: int = 0
    already_imported: int = 0
    skipped_unlicensed: int = 0
    skipped_unknown_owner: int = 0
    skipped_no_recording: int = 0
    media_stored: int = 0
    media_failed: int = 0
    media_errors: list[str] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        for name in ("found", "imported", "already_imported", "skipped_unlicensed", "skipped_unknown_owner",
                     "skipped_no_recording", "media_stored", "media_failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.media_errors = (self.media_errors + other.media_errors)[:5]

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


def _write_page(*, connection: Connection, dialer: Dialer, rows: list[tuple[CallRecord, User]]) -> list[DialerCall]:
    """Engagements, participants and ledger rows of one page, in one transaction.
    A concurrent writer (an overlapping run that lost its claim) makes the bulk
    insert fail as a whole; then rows are written one by one and conflicts skipped."""
    org = connection.org
    try:
        with transaction.atomic():
            engagements = Engagement.objects.bulk_create([
                Engagement(org=org, kind=Engagement.Kind.DIALER_CALL, title=_title(dialer, r), started_at=r.started_at,
                           duration_seconds=max(0, r.duration_seconds), owner=u, source=dialer.key,
                           external_id=r.external_id) for r, u in rows])
            Participant.objects.bulk_create([p for e, (r, u) in zip(engagements, rows, strict=True)
                                             for p in _participants(org, e, u, r)])
            return DialerCall.objects.bulk_create([
                DialerCall(org=org, connection=connection, dialer=dialer.key, external_id=r.external_id,
                           engagement=e, started_at=r.started_at, media_source=r.media_source)
                for e, (r, u) in zip(engagements, rows, strict=True)])
    except IntegrityError:
        calls = []
        for r, u in rows:
            try:
                with transaction.atomic():
                    e = Engagement.objects.create(
                        org=org, kind=Engagement.Kind.DIALER_CALL, title=_title(dialer, r), started_at=r.started_at,
                        duration_seconds=max(0, r.duration_seconds), owner=u, source=dialer.key,
                        external_id=r.external_id)
                    Participant.objects.bulk_create(_participants(org, e, u, r))
                    calls.append(DialerCall.objects.create(
                        org=org, connection=connection, dialer=dialer.key, external_id=r.external_id, engagement=e,
                        started_at=r.started_at, media_source=r.media_source))
            except IntegrityError:
                continue  # imported meanwhile by someone else: nothing to do
        return calls


def _match_accounts(org: Organization, calls: list[DialerCall]) -> None:
    """Account matching (the CRM app's) fills account/opportunity on the new calls.
    A matching failure never loses an import: the CRM sync re-matches later.

    CRM Objects Creation is deliberately not run at import: a dialer call has no
    trackers yet and may still be deleted for a missing recording notification
    (Compliance), so its Engagement/Moments go to the CRM when it has been
    processed (``crm.push.services.engagements_push_prepare``), and never as a
    second task — the dialer logged the call in the CRM already (``push_plan``)."""
    try:
        from crm.matching import engagements_match_batch

        engagements_match_batch(org=org, engagements=[c.engagement for c in calls if c.engagement_id])
    except Exception:  # noqa: BLE001 (see docstring)
        log.exception("Account matching failed for %s dialer calls of org %s", len(calls), org.pk)


def _media_name(call: DialerCall, content_type: str) -> str:
    digest = hashlib.sha256(f"{call.dialer}:{call.external_id}".encode()).hexdigest()[:32]
    return f"dialers/{call.org_id}/{call.dialer}/{digest}{EXTENSIONS.get(content_type, '.bin')}"


def _download(call: DialerCall, importer: Importer, max_bytes: int, storage) -> None:
    """Fetch one recording into media storage and record the outcome on ``call``
    (saved by the caller in bulk). Streamed through a spooled temp file: at most
    ``SPOOL_BYTES`` in memory, never more than ``max_bytes`` on disk."""
    call.media_attempts += 1
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as tmp:
            stored = importer.fetch_media(call.media_source, tmp, max_bytes=max_bytes)
            tmp.seek(0)
            name = _media_name(call, stored.content_type)
            if storage.exists(name):
                storage.delete(name)
            call.media_name = storage.save(name, File(tmp, name=name))
        call.media_size, call.media_content_type = stored.size, stored.content_type
        call.media_status, call.media_error = MediaStatus.STORED, ""
    except MediaError as exc:
        permanent = exc.permanent or call.media_attempts >= MEDIA_MAX_ATTEMPTS
        call.media_status = MediaStatus.REJECTED if permanent else MediaStatus.FAILED
        call.media_error = str(exc)[:500]


MEDIA_FIELDS = ["media_name", "media_size", "media_content_type", "media_status", "media_error", "media_attempts"]


def _download_all(calls: list[DialerCall], importer: Importer, result: ImportResult) -> None:
    """Recordings are fetched a few at a time (network-bound; the threads touch no
    database, only the importer and media storage), then their outcomes are saved
    in bulk. Families whose client is not safe to share say so with
    ``concurrent_media = False``."""
    max_bytes = max_media_bytes()
    # The org's Custom Media Bucket when it has one (seed: recordings are stored
    # there from then on), else Chorus' storage; resolved once, here.
    bucket = bucket_active(org=calls[0].org) if calls else None
    storage = storage_for(bucket=bucket)
    workers = int(getattr(settings, "DIALER_MEDIA_CONCURRENCY", 8))
    if workers > 1 and len(calls) > 1 and getattr(importer, "concurrent_media", True):
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dialer-media") as pool:
            list(pool.map(lambda c: _download(c, importer, max_bytes, storage), calls))
    else:
        for call in calls:
            _download(call, importer, max_bytes, storage)
    for call in calls:
        if call.media_status == MediaStatus.STORED:
            result.media_stored += 1
        else:
            result.media_failed += 1
            if len(result.media_errors) < 5:
                result.media_errors.append(f"call {call.external_id}: {call.media_error}")
    DialerCall.objects.bulk_update(calls, MEDIA_FIELDS, batch_size=100)
    RecordingFile.objects.bulk_create([
        RecordingFile(org_id=c.org_id, engagement_id=c.engagement_id, bucket=bucket, name=c.media_name,
                      content_type=c.media_content_type, size=c.media_size or 0)
        for c in calls if c.media_status == MediaStatus.STORED and c.engagement_id
    ])


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
    for page in importer.pages(since=since, until=until):
        page_result = ImportResult(found=len(page))
        unique = {r.external_id: r for r in page if r.external_id}
        existing = set(DialerCall.objects.for_org(org).filter(dialer=dialer.key, external_id__in=list(unique))
                       .values_list("external_id", flat=True)) if unique else set()
        page_result.already_imported = len(existing)
        rows: list[tuple[CallRecord, User]] = []
        for record in unique.values():
            if record.external_id in existing:
                continue
            owner = users.get(record.owner_email.lower()) if record.owner_email else None
            if owner is None:
                page_result.skipped_unknown_owner += 1
            elif owner.license_type != LicenseType.RECORDER:
                page_result.skipped_unlicensed += 1
            elif not record.media_source:
                page_result.skipped_no_recording += 1
            else:
                rows.append((record, owner))
        calls = _write_page(connection=connection, dialer=dialer, rows=rows) if rows else []
        page_result.imported = len(calls)
        if calls:
            _match_accounts(org, calls)
            _download_all(calls, importer, page_result)
        result.add(page_result)
        if on_page:
            on_page(result)
    return result


def dialer_media_retry(*, connection: Connection, importer: Importer, result: ImportResult,
                       before: datetime) -> None:
    """Recordings that failed in an earlier run (404 not uploaded yet, timeout…) or
    whose worker died before the download are tried again, up to ``MEDIA_MAX_ATTEMPTS``."""
    due = list(DialerCall.objects.filter(connection=connection, engagement__isnull=False, created_at__lt=before,
                                         media_status__in=[MediaStatus.PENDING, MediaStatus.FAILED],
                                         media_attempts__lt=MEDIA_MAX_ATTEMPTS)[:1000])
    if due:
        _download_all(due, importer, result)


def _save(connection: Connection, **fields: Any) -> None:
    fields.setdefault("updated_at", timezone.now())
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for k, v in fields.items():
        setattr(connection, k, v)


def _media_error_sentence(result: ImportResult) -> str:
    if not result.media_failed:
        return ""
    n = result.media_failed
    first = result.media_errors[0] if result.media_errors else ""
    return (f"{n} recording{'s' if n != 1 else ''} could not be downloaded; the calls are imported and Chorus "
            f"tries again at the next hourly run. First problem: {first}")


def dialer_import_run(*, connection: Connection, now: datetime | None = None,
                      importer: Importer | None = None) -> dict[str, Any]:
    """One run of a connection: the backfill or the hourly window(s), then the
    recording retries and the compliance sweep. The outcome ends on the row as a
    status, a last-import time, counts and a sentence."""
    dialer = dialer_get(connection.provider)
    if dialer is None or not _claim(connection):
        return {"skipped": "already importing, disconnected or unknown"}
    now = now or timezone.now()
    started = timezone.now()
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
    except DialerImportError as exc:
        status, error = S.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 (the admin sees a sentence; the trace goes to the log)
        from crm.providers.base import CrmError

        if isinstance(exc, CrmError):
            status, error = S.FAILED, str(exc)
        else:
            log.exception("Dialer import failed for connection %s", connection.pk)
            status, error = S.FAILED, UNEXPECTED
    try:
        dialer_calls_compliance_sweep(org=connection.org)
    except Exception:  # noqa: BLE001
        log.exception("Compliance sweep failed for org %s", connection.org_id)
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


# --- Page context --------------------------------------------------------------------------------------------


def dialer_status(connection: Connection) -> dict[str, Any]:
    """What one connection's row shows: status, progress, last import, counts, error."""
    config = connection.config
    progress = config.get("progress") or {}
    percent = None
    if progress.get("windows"):
        percent = min(100, int(100 * progress.get("window", 0) / progress["windows"]))
    dialer = CATALOGUE[connection.provider]
    return {
        "connection": connection, "dialer": dialer, "progress": progress, "percent": percent,
        "importing": connection.status in (S.QUEUED, S.SYNCING) and config.get("activated", True),
        "awaiting_activation": not config.get("activated", True),
        "last_result": config.get("last_result") or {},
        # While a run is going, its calls so far count too (the total is saved at its end).
        "calls_imported": config.get("calls_imported", 0) + (progress.get("imported", 0) if progress else 0),
        "crm_field": config.get("crm_field", ""),
    }


def media_summary(*, connection: Connection) -> dict[str, int]:
    rows = (DialerCall.objects.filter(connection=connection, engagement__isnull=False)
            .values("media_status").annotate(n=Count("id")))
    return {r["media_status"]: r["n"] for r in rows}


# --- Compliance: Delete Calls Without Recording Notification ----------------------------------------------

TIMESTAMP = re.compile(r"^\s*[\[(]?(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:\.\d+)?[\])]?\s*")
WORDS_PER_SECOND = 2.5  # ~150 words a minute, for transcripts without timestamps


def notification_heard(*, transcript: str, phrases: list[str], window_seconds: int) -> bool:
    """Is any phrase said within the first ``window_seconds``? Lines may start with a
    timestamp (``[00:12]``, ``0:12``, ``00:00:12``); without one, time is estimated
    from the words before it."""
    words_before = 0
    for line in transcript.splitlines():
        m = TIMESTAMP.match(line)
        if m:
            at = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
            text = line[m.end():]
        else:
            at, text = words_before / WORDS_PER_SECOND, line
        if at > window_seconds:
            return False
        low = " ".join(text.lower().split())
        for phrase in phrases:
            pos = low.find(phrase)
            if pos >= 0 and (m or (words_before + len(low[:pos].split())) / WORDS_PER_SECOND <= window_seconds):
                return True
        words_before += len(text.split())
    return False


def compliance_settings(*, org: Organization) -> ComplianceSettings:
    found = ComplianceSettings.objects.filter(org=org).first()
    return found or ComplianceSettings(org=org)


MAX_PHRASES, MAX_PHRASE_LENGTH, MIN_WINDOW, MAX_WINDOW = 50, 200, 5, 600


def compliance_settings_update(*, org: Organization, actor: User | None, phrases: list[str],
                               window_seconds: int) -> ComplianceSettings:
    """Roles and Permissions > Compliance: what counts as a recording notification
    (any phrase, case-insensitive) and how early in the call it must be heard."""
    phrases = [" ".join(p.split()) for p in phrases if p.strip()]
    errors = {}
    if len(phrases) > MAX_PHRASES:
        errors["phrases"] = f"At most {MAX_PHRASES} phrases."
    elif any(len(p) > MAX_PHRASE_LENGTH for p in phrases):
        errors["phrases"] = f"Each phrase may be at most {MAX_PHRASE_LENGTH} characters."
    if not MIN_WINDOW <= window_seconds <= MAX_WINDOW:
        errors["window_seconds"] = f"Choose between {MIN_WINDOW} and {MAX_WINDOW} seconds."
    if errors:
        raise ValidationError(errors)
    current = compliance_settings(org=org)
    changes = {k: [old, new] for k, old, new in (("phrases", current.phrases, phrases),
                                                  ("window_seconds", current.window_seconds, window_seconds))
               if old != new}
    with transaction.atomic():
        current.phrases, current.window_seconds = phrases, window_seconds
        current.save()
        if changes:
            audit_record(org=org, actor=actor, action="compliance.notification_detection_changed",
                         target="Delete Calls Without Recording Notification", changes=changes)
    return current


def dialer_call_delete_noncompliant(*, call: DialerCall, reason: str) -> None:
    """Delete the engagement (transcript, participants, moments) and its media;
    keep the ledger row as a tombstone (so the call is never imported again) and an
    audit event that says who, when and why, without any of the content."""
    engagement = call.engagement
    owner = engagement.owner
    files = list(engagement.recording_files.select_related("bucket"))
    for rf in files:
        recording_delete_stored(bucket=rf.bucket, name=rf.name)
    if call.media_name and not files:  # stored before recordings were tracked per file
        default_storage.delete(call.media_name)
    media_deleted = bool(files or call.media_name)
    with transaction.atomic():
        audit_record(org=call.org, actor=None, action="dialer_call.deleted_noncompliant",
                     target=f"{CATALOGUE.get(call.dialer).label if call.dialer in CATALOGUE else call.dialer} "
                            f"call {call.external_id}",
                     changes={"reason": reason, "owner": owner.email if owner else "",
                              "role": owner.role.name if owner and owner.role_id else "",
                              "started_at": call.started_at.isoformat(),
                              "duration_seconds": engagement.duration_seconds, "media_deleted": media_deleted})
        engagement.delete()
        now = timezone.now()
        DialerCall.objects.filter(pk=call.pk).update(
            engagement=None, media_name="", media_source="", media_size=None, media_status=MediaStatus.NONE,
            deleted_at=now, deleted_reason=reason[:200], compliance_checked_at=now)


def dialer_calls_compliance_sweep(*, org: Organization, limit: int = 5000) -> int:
    """Decide once per call, when its transcript (or the detector's verdict) is
    there: calls owned by users whose role has "Delete calls without recording
    notification" on, with no notification in the window, are deleted. Enterprise only."""
    if not org.is_enterprise:
        return 0
    cfg = compliance_settings(org=org)
    phrases, window = cfg.effective_phrases, cfg.window_seconds
    calls = (DialerCall.objects.for_org(org).filter(engagement__isnull=False, compliance_checked_at__isnull=True)
             .filter(Q(engagement__recording_notification_detected__isnull=False) | ~Q(engagement__transcript=""))
             .select_related("engagement", "engagement__owner", "engagement__owner__role")[:limit])
    deleted, checked = 0, []
    for call in calls:
        e = call.engagement
        role = e.owner.role if e.owner_id and e.owner.role_id else None
        if role is not None and role.delete_calls_without_notification:
            heard = e.recording_notification_detected
            if heard is None:
                heard = notification_heard(transcript=e.transcript, phrases=phrases, window_seconds=window)
            if not heard:
                dialer_call_delete_noncompliant(
                    call=call, reason=f"No recording notification in the first {window} seconds "
                                      f"(role “{role.name}” deletes calls without recording notification).")
                deleted += 1
                continue
        checked.append(call.pk)
    if checked:
        DialerCall.objects.filter(pk__in=checked).update(compliance_checked_at=timezone.now())
    return deleted
