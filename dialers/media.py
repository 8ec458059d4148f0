"""Recordings of imported dialer calls: fetched a few at a time after the page's
transaction commits (by a pool that goes on while the import reads and writes the
next page: :class:`MediaDownloads`), streamed through a spooled temp file into the org's Custom
Media Bucket (or Chorus' storage), their outcome kept on the ledger row. Into
local storage (``FileSystemStorage``) a recording is streamed to a named temp file
on the same filesystem instead, which the storage then renames into place (Django's
own path for uploads on disk): its bytes are written once.

Its own module because downloading is network- and storage-bound work with its
own failure rules: a busy server (429/5xx, a timeout) is tried again within the run,
after its ``Retry-After`` when it says one (bounded: ``TRIES_PER_RUN`` tries, waits
of at most ``MAX_WAIT`` seconds, ``WAIT_BUDGET`` seconds of waiting per batch); other
temporary failures wait for the next hourly run, up to ``MEDIA_MAX_ATTEMPTS`` runs;
permanent refusals (not audio, too large, 410 Gone, an expired signed link, a
redirect loop) are settled at once with their reason.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import connections, router, transaction
from django.db.models import Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from dialers.importers import Importer, MediaError
from dialers.importers.base import Stored, max_media_bytes
from dialers.importers.containers import EXTENSIONS as CONTAINER_EXTENSIONS
from dialers.models import DialerCall, MediaStatus
from integrations.models import Connection
from integrations.storage.models import RecordingFile
from integrations.storage.services import bucket_active, storage_for

MEDIA_MAX_ATTEMPTS = 5  # hourly runs
TRIES_PER_RUN = 3
MAX_WAIT = 60.0  # the longest Retry-After honoured within a run; a longer one moves the try to a later run
WAIT_BUDGET = 120.0  # seconds of waiting per batch of downloads, across its threads
SPOOL_BYTES = 8 * 1024 * 1024
PART_PREFIX, PART_SUFFIX = "dialer-", ".part"  # a download's temp file in the upload temp directory
LEFTOVER_SECONDS = 6 * 3600  # a temp file older than this belonged to a killed worker
_leftovers_checked = float("-inf")  # when this process last looked (a throttle, not state that matters)
EXTENSIONS = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
              "audio/wave": ".wav", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/ogg": ".ogg",
              "audio/webm": ".webm", "video/mp4": ".mp4", "video/webm": ".webm"}


def _sleep(seconds: float) -> None:  # patched in tests
    time.sleep(seconds)


class WaitBudget:
    """Seconds a batch may spend waiting for busy servers, shared by its threads, so
    a dialer whose media host is down costs a run minutes, not hours."""

    def __init__(self, seconds: float):
        self.left = seconds
        self._lock = threading.Lock()

    def take(self, seconds: float) -> bool:
        with self._lock:
            if seconds > self.left:
                return False
            self.left -= seconds
            return True


def _media_name(call: DialerCall, stored: Stored) -> str:
    digest = hashlib.sha256(f"{call.dialer}:{call.external_id}".encode()).hexdigest()[:32]
    ext = CONTAINER_EXTENSIONS.get(stored.file_type) or EXTENSIONS.get(stored.content_type, ".bin")
    return f"dialers/{call.org_id}/{call.dialer}/{digest}{ext}"


def _fetch(call: DialerCall, importer: Importer, tmp, max_bytes: int, budget: WaitBudget) -> Stored:
    """The importer's download, tried again within the run while the server is only busy."""
    for attempt in range(1, TRIES_PER_RUN + 1):
        try:
            return importer.fetch_media(call.media_source, tmp, max_bytes=max_bytes)
        except MediaError as exc:
            wait = exc.retry_after if exc.retry_after is not None else float(2 ** (attempt - 1))
            if not exc.retry_soon or attempt == TRIES_PER_RUN or wait > MAX_WAIT or not budget.take(wait):
                raise
            _sleep(wait)
            tmp.seek(0)
            tmp.truncate()
    raise AssertionError("unreachable")


def _settle_failure(call: DialerCall, exc: MediaError) -> None:
    call.media_name, call.media_retry_at = "", None
    if exc.permanent:
        call.media_status, call.media_error = MediaStatus.REJECTED, str(exc)[:500]
    elif call.media_attempts >= MEDIA_MAX_ATTEMPTS:
        call.media_status = MediaStatus.REJECTED
        call.media_error = f"Gave up after {call.media_attempts} hourly runs. Last problem: {exc}"[:500]
    else:
        call.media_status, call.media_error = MediaStatus.FAILED, str(exc)[:500]
        if exc.retry_after and exc.retry_after > MAX_WAIT:
            call.media_retry_at = timezone.now() + timedelta(seconds=exc.retry_after)


class _OnDisk(File):
    """A download in a named temp file: ``FileSystemStorage`` moves it into place
    (a rename) instead of copying it, as it does Django's ``TemporaryUploadedFile``."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _device(path: str) -> int | None:
    """The filesystem of ``path``, or of its nearest existing parent (the storage's
    root may not exist before its first file)."""
    path = os.path.abspath(path)
    while True:
        try:
            return os.stat(path).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
        except OSError:
            return None


def _upload_temp_dir() -> str:
    """Where downloads are streamed before the storage takes them (Django's own
    ``FILE_UPLOAD_TEMP_DIR``, else the system's temp directory)."""
    return settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()


def _rename_dir(storage) -> str | None:
    """Where downloads into ``storage`` are written so that saving them is a rename:
    the upload temp directory (``FILE_UPLOAD_TEMP_DIR``, else the system's) when
    ``storage`` is a ``FileSystemStorage`` on the same filesystem. None otherwise
    (a bucket, or another filesystem): a spooled temp file, copied by the storage."""
    if not isinstance(storage, FileSystemStorage):
        return None
    directory = _upload_temp_dir()
    device = _device(directory)
    return directory if device is not None and device == _device(storage.location) else None


@contextmanager
def _spool(rename_dir: str | None) -> Iterator:
    """The temp file a download is streamed into (at most ``SPOOL_BYTES`` in memory
    when spooled; a named file in ``rename_dir`` otherwise, removed unless moved)."""
    if rename_dir is None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as tmp:
            yield tmp
        return
    tmp = tempfile.NamedTemporaryFile(dir=rename_dir, prefix=PART_PREFIX, suffix=PART_SUFFIX, delete=False)  # noqa: SIM115
    try:
        yield tmp
    finally:
        tmp.close()
        with suppress(FileNotFoundError):  # moved into storage
            os.unlink(tmp.name)


def _download(call: DialerCall, importer: Importer, max_bytes: int, storage, budget: WaitBudget,
              rename_dir: str | None = None) -> Stored | None:
    """Fetch one recording into media storage and record the outcome on ``call``
    (saved by the caller in bulk); the stored file's description, or None. Streamed
    through a temp file (spooled: at most ``SPOOL_BYTES`` in memory; or, given
    ``rename_dir``, a named one there that the storage moves into place), never more
    than ``max_bytes`` on disk."""
    call.media_attempts += 1
    try:
        with _spool(rename_dir) as tmp:
            stored = _fetch(call, importer, tmp, max_bytes, budget)
            tmp.seek(0)
            name = _media_name(call, stored)
            if storage.exists(name):
                storage.delete(name)
            call.media_name = storage.save(name, (_OnDisk if rename_dir else File)(tmp, name=name))
    except MediaError as exc:
        _settle_failure(call, exc)
        return None
    call.media_size, call.media_content_type = stored.size, stored.content_type
    call.media_status, call.media_error, call.media_retry_at = MediaStatus.STORED, "", None
    return stored


def media_leftovers_remove() -> int:
    """Temp files of downloads whose worker was killed (SIGKILL, a lost host) before it
    could move or remove them: removed once older than any download can last. Looks
    at most once an hour per process (it lists the upload temp directory); the number
    removed."""
    global _leftovers_checked  # noqa: PLW0603
    if time.monotonic() - _leftovers_checked < 3600:
        return 0
    _leftovers_checked = time.monotonic()
    directory = _upload_temp_dir()
    cutoff, removed = time.time() - LEFTOVER_SECONDS, 0
    with suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if not (entry.name.startswith(PART_PREFIX) and entry.name.endswith(PART_SUFFIX)):
                continue
            with suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
    return removed


MEDIA_FIELDS = ["media_name", "media_size", "media_content_type", "media_status", "media_error", "media_attempts",
                "media_retry_at"]


def _case(field, groups: dict[object, list[int]], db) -> RawSQL:
    """``CASE WHEN id IN (…) THEN value … END`` for ``field``, one ``WHEN`` per value,
    written out directly: the ORM's ``Case(When(pk__in=…))`` builds and resolves a
    lookup per ``WHEN``, and the ledger's recording names differ on every row (a
    third of a second per 1,000 calls, holding the GIL the downloads want). Cast to
    the column's type where the database needs it, as ``bulk_update`` does."""
    pk = db.ops.quote_name(DialerCall._meta.pk.column)
    whens, params = [], []
    for value, pks in groups.items():
        whens.append(f"WHEN {pk} IN ({', '.join(['%s'] * len(pks))}) THEN %s")
        params += [*pks, field.get_db_prep_save(value, connection=db)]
    sql = f"CASE {' '.join(whens)} END"
    if db.features.requires_casted_case_in_updates:
        sql = f"CAST({sql} AS {field.cast_db_type(db)})"
    return RawSQL(sql, params, output_field=field)  # noqa: S611 (every value is a bound parameter)


def _outcomes_save(calls: list[DialerCall]) -> None:
    """Save ``MEDIA_FIELDS`` of ``calls`` in one ``UPDATE`` per batch, each field's
    rows grouped by value: most fields hold one value across a batch (stored, no
    error, one attempt), set as such; the others get one ``WHEN id IN (…)`` per value
    (:func:`_case`) instead of ``bulk_update``'s one ``WHEN id = …`` per row and field.
    Batches as large as the database's bound-variable limit allows (each row costs at
    most two variables per field and one for the ``WHERE``; no limit on PostgreSQL)."""
    if not calls:
        return
    fields = [DialerCall._meta.get_field(name) for name in MEDIA_FIELDS]
    db = connections[router.db_for_write(DialerCall)]
    limit = db.features.max_query_params
    size = max(1, limit // (2 * len(fields) + 1)) if limit else len(calls)
    for start in range(0, len(calls), size):
        batch = calls[start:start + size]
        updates = {}
        for field in fields:
            groups: dict[object, list[int]] = defaultdict(list)
            for call in batch:
                groups[getattr(call, field.attname)].append(call.pk)
            updates[field.attname] = (Value(next(iter(groups)), output_field=field) if len(groups) == 1
                                      else _case(field, groups, db))
        DialerCall.objects.filter(pk__in=[c.pk for c in batch]).update(**updates)


@dataclass
class _Batch:
    """One batch of recordings being fetched: its calls, where they are stored, and
    each call's outcome (a future when the pool fetches it, else fetched at ``finish``)."""

    calls: list[DialerCall]
    bucket: Connection | None
    storage: object
    rename_dir: str | None
    budget: WaitBudget
    max_bytes: int
    futures: list[Future] | None = None


class MediaDownloads:
    """The download pool of a run's pages: a batch is started as soon as its page's
    transaction commits and finished (waited for, its outcomes saved) later, so that
    the next page is read and written while this one's recordings download; the
    pool never idles between pages. The threads touch no database, only the
    importer and media storage; every database statement is the caller's, in
    ``start`` and ``finish``. Families whose client is not safe to share say so with
    ``concurrent_media = False``: their batches are fetched one call at a time, in
    ``finish``."""

    def __init__(self, importer: Importer):
        self.importer = importer
        workers = int(settings.DIALER_MEDIA_CONCURRENCY)
        concurrent = workers > 1 and getattr(importer, "concurrent_media", True)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dialer-media") if concurrent else None

    def __enter__(self) -> MediaDownloads:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)  # a started download ends; a queued one is not begun

    def start(self, calls: list[DialerCall]) -> _Batch:
        """Begin fetching the recordings of ``calls`` (their rows committed)."""
        # The org's Custom Media Bucket when it has one (seed: recordings are stored
        # there from then on), else Chorus' storage; resolved once per batch, here.
        bucket = bucket_active(org=calls[0].org) if calls else None
        storage = storage_for(bucket=bucket)
        batch = _Batch(calls=calls, bucket=bucket, storage=storage, rename_dir=_rename_dir(storage),
                       budget=WaitBudget(WAIT_BUDGET), max_bytes=max_media_bytes())
        if self.pool is not None and len(calls) > 1:
            batch.futures = [self.pool.submit(self._fetch_one, batch, call) for call in calls]
        return batch

    def _fetch_one(self, batch: _Batch, call: DialerCall) -> Stored | None:
        return _download(call, self.importer, batch.max_bytes, batch.storage, batch.budget, batch.rename_dir)

    def finish(self, batch: _Batch, *, then: Callable[[list[DialerCall]], None] | None = None) -> None:
        """Wait for the batch's recordings and save each outcome on its ledger row (and
        a RecordingFile row, with its SHA-256, for each one stored), in bulk."""
        calls = batch.calls
        if not calls:
            return
        if batch.futures is not None:
            outcomes = [future.result() for future in batch.futures]
        else:
            outcomes = [self._fetch_one(batch, call) for call in calls]
        # The outcomes and what follows from them (``then``: the import hands settled calls
        # to processing) are saved together: a worker killed in between leaves the calls
        # "pending", downloaded again by the next run, never settled and forgotten.
        with transaction.atomic():
            _outcomes_save(calls)
            RecordingFile.objects.bulk_create([
                RecordingFile(org_id=c.org_id, engagement_id=c.engagement_id, bucket=batch.bucket, name=c.media_name,
                              content_type=c.media_content_type, size=c.media_size or 0, sha256=stored.sha256,
                              file_type=stored.file_type)
                for c, stored in zip(calls, outcomes, strict=True) if stored is not None and c.engagement_id
            ])
            if then is not None:
                then(calls)


def dialer_recordings_fetch(calls: list[DialerCall], importer: Importer, *,
                            then: Callable[[list[DialerCall]], None] | None = None) -> None:
    """Fetch the recordings of ``calls`` and save each outcome on its ledger row
    (and a RecordingFile row, with its SHA-256, for each one stored): one batch of
    :class:`MediaDownloads`, started and finished at once."""
    if not calls:
        return
    with MediaDownloads(importer) as downloads:
        downloads.finish(downloads.start(calls), then=then)
