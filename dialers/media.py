"""Recordings of imported dialer calls: fetched a few at a time after the page's
transaction commits, streamed through a spooled temp file into the org's Custom
Media Bucket (or Chorus' storage), their outcome kept on the ledger row.

Its own module because downloading is network- and storage-bound work with its
own failure rules (retried up to ``MEDIA_MAX_ATTEMPTS``, permanent refusals never
retried), separate from writing calls and from scheduling runs.
"""

from __future__ import annotations

import hashlib
import tempfile
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.files import File

from dialers.importers import Importer, MediaError
from dialers.importers.base import max_media_bytes
from dialers.models import DialerCall, MediaStatus
from integrations.storage.models import RecordingFile
from integrations.storage.services import bucket_active, storage_for

MEDIA_MAX_ATTEMPTS = 5
SPOOL_BYTES = 8 * 1024 * 1024
EXTENSIONS = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
              "audio/wave": ".wav", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/ogg": ".ogg",
              "audio/webm": ".webm", "video/mp4": ".mp4", "video/webm": ".webm"}


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


def dialer_recordings_fetch(calls: list[DialerCall], importer: Importer) -> None:
    """Fetch the recordings of ``calls`` and save each outcome on its ledger row
    (and a RecordingFile row for each one stored). A few at a time: the work is
    network-bound and the threads touch no database, only the importer and media
    storage; outcomes are saved in bulk afterwards. Families whose client is not
    safe to share say so with ``concurrent_media = False``."""
    if not calls:
        return
    max_bytes = max_media_bytes()
    # The org's Custom Media Bucket when it has one (seed: recordings are stored
    # there from then on), else Chorus' storage; resolved once, here.
    bucket = bucket_active(org=calls[0].org)
    storage = storage_for(bucket=bucket)
    workers = int(settings.DIALER_MEDIA_CONCURRENCY)
    if workers > 1 and len(calls) > 1 and getattr(importer, "concurrent_media", True):
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dialer-media") as pool:
            list(pool.map(lambda c: _download(c, importer, max_bytes, storage), calls))
    else:
        for call in calls:
            _download(call, importer, max_bytes, storage)
    DialerCall.objects.bulk_update(calls, MEDIA_FIELDS, batch_size=100)
    RecordingFile.objects.bulk_create([
        RecordingFile(org_id=c.org_id, engagement_id=c.engagement_id, bucket=bucket, name=c.media_name,
                      content_type=c.media_content_type, size=c.media_size or 0)
        for c in calls if c.media_status == MediaStatus.STORED and c.engagement_id
    ])
