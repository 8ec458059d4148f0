"""How recordings reach media storage and how pages overlap: into local storage a
recording is written once, to a temp file on the same filesystem that the storage
renames into place (no temp file left behind, whatever the outcome); into any other
storage it goes through a spooled temp file as before. A page's recordings download
while the next page is read and written, and a failure on a later page keeps the
earlier pages' recordings."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import IO

import pytest
from django.core.files.storage import FileSystemStorage, InMemoryStorage, default_storage

from dialers import import_run, media
from dialers.importers.base import CallRecord, MediaError, Stored, copy_capped
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from integrations.processing.models import EngagementProcessing
from integrations.registry import IntegrationError
from integrations.storage.models import RecordingFile
from testutils.dialer_fakes import dialer_call

pytestmark = pytest.mark.django_db
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 4096


class Importer:
    """Recordings from memory: ``mem://ok/<n>`` (``n`` bytes of MP3), ``mem://busy``
    (busy once, then served), ``mem://big``; pages of ``page`` calls, ``fail_after``
    pages then an error an admin can act on."""

    def __init__(self, calls: int = 0, *, owners: tuple[str, ...] = (), page: int = 2, fail_after: int | None = None):
        self.calls, self.owners, self.page, self.fail_after = calls, owners, page, fail_after
        self.busy_once: set[str] = set()
        self.fetched: list[str] = []

    def pages(self, *, since, until) -> Iterator[list[CallRecord]]:
        records = [CallRecord(external_id=f"p{i}", started_at=since + timedelta(minutes=i),
                              owner_email=self.owners[i % len(self.owners)], duration_seconds=60,
                              prospect_name=f"Prospect {i}", media_source=f"mem://ok/{100 + i}")
                   for i in range(self.calls)]
        for number, start in enumerate(range(0, len(records), self.page)):
            if self.fail_after is not None and number == self.fail_after:
                raise IntegrationError("The CRM stopped answering.")
            yield records[start:start + self.page]

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        self.fetched.append(record_source)
        if record_source == "mem://busy" and record_source not in self.busy_once:
            self.busy_once.add(record_source)
            dest.write(MP3[:50])  # a partial body, then the connection drops
            raise MediaError("The recording link answered HTTP 503.", retry_soon=True, retry_after=0)
        body = MP3 if record_source in ("mem://busy", "mem://big") else MP3[:int(record_source.rsplit("/", 1)[1])]
        return copy_capped([body[:1000], body[1000:]], dest, content_type="audio/mpeg", length=None,
                           max_bytes=max_bytes)


@pytest.fixture
def outreach(org):
    return Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c", "activated": True})


@pytest.fixture
def upload_dir(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR)
    return settings.FILE_UPLOAD_TEMP_DIR


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(media, "_sleep", slept.append)
    return slept


def test_into_local_storage_a_recording_is_renamed_into_place(outreach, upload_dir, waits, settings, monkeypatch):
    ok, busy, big = (dialer_call(outreach, n, source=source)
                     for n, source in enumerate(["mem://ok/300", "mem://busy", "mem://big"]))
    assert media._rename_dir(default_storage) == upload_dir
    saved = []
    real_save = FileSystemStorage.save

    def save(storage, name, content, *args, **kwargs):
        saved.append(content.temporary_file_path())  # the temp file itself, moved
        return real_save(storage, name, content, *args, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "save", save)
    media.dialer_recordings_fetch([ok, busy], Importer())
    settings.DIALER_MEDIA_MAX_BYTES = len(MP3) - 1
    media.dialer_recordings_fetch([big], Importer())
    for call in (ok, busy, big):
        call.refresh_from_db()
    assert [os.path.dirname(path) for path in saved] == [upload_dir, upload_dir]
    assert (ok.media_status, busy.media_status, big.media_status) == (
        MediaStatus.STORED, MediaStatus.STORED, MediaStatus.REJECTED)
    assert waits == [0]  # the busy one was tried again within the run, into the emptied temp file
    assert default_storage.open(ok.media_name).read() == MP3[:300]
    assert default_storage.open(busy.media_name).read() == MP3
    assert {rf.name: rf.sha256 for rf in RecordingFile.objects.all()} == {
        ok.media_name: hashlib.sha256(MP3[:300]).hexdigest(), busy.media_name: hashlib.sha256(MP3).hexdigest()}
    mode = os.stat(default_storage.path(ok.media_name)).st_mode & 0o777
    assert mode == settings.FILE_UPLOAD_PERMISSIONS
    assert os.listdir(upload_dir) == []  # moved, or removed when refused


def test_a_recording_stored_again_replaces_the_file(outreach, upload_dir):
    call = dialer_call(outreach, 1, source="mem://ok/200")
    media.dialer_recordings_fetch([call], Importer())
    DialerCall.objects.filter(pk=call.pk).update(media_source="mem://ok/400")
    call.refresh_from_db()
    media.dialer_recordings_fetch([call], Importer())
    call.refresh_from_db()
    assert default_storage.open(call.media_name).read() == MP3[:400]
    assert os.listdir(os.path.dirname(default_storage.path(call.media_name))) == [os.path.basename(call.media_name)]


def test_other_storages_and_other_filesystems_get_a_spooled_copy(outreach, upload_dir, monkeypatch):
    memory = InMemoryStorage()
    assert media._rename_dir(memory) is None
    monkeypatch.setattr(media, "storage_for", lambda *, bucket: memory)
    calls = [dialer_call(outreach, n, source=f"mem://ok/{100 + n}") for n in range(3)]
    media.dialer_recordings_fetch(calls, Importer())
    for n, call in enumerate(calls):
        call.refresh_from_db()
        assert call.media_status == MediaStatus.STORED and memory.open(call.media_name).read() == MP3[:100 + n]
    assert os.listdir(upload_dir) == []

    devices = iter([1, 2])
    monkeypatch.setattr(media, "_device", lambda path: next(devices))
    assert media._rename_dir(default_storage) is None  # the temp directory is on another filesystem


def _connection(org) -> Connection:
    through = NOW - timedelta(hours=1) + import_run.HOURLY_OVERLAP
    return Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c", "activated": True,
                                             "imported_through": through.isoformat()})


def test_pages_overlap_and_every_page_is_finished(org, reps, upload_dir, monkeypatch):
    events: list[str] = []
    real_start, real_finish = media.MediaDownloads.start, import_run._downloads_finish

    def start(downloads, calls):
        events.append(f"start {len(calls)}")
        return real_start(downloads, calls)

    def finish(downloads, batch, result):
        events.append(f"finish {len(batch.calls)}")
        return real_finish(downloads, batch, result)

    monkeypatch.setattr(media.MediaDownloads, "start", start)
    monkeypatch.setattr(import_run, "_downloads_finish", finish)
    conn = _connection(org)
    result = import_run.dialer_import_run(connection=conn, now=NOW,
                                          importer=Importer(5, owners=(reps["ada"].email,), page=2))
    # Page 2 is written and started before page 1 is finished; the last page is finished too.
    assert events == ["start 2", "start 2", "finish 2", "start 1", "finish 2", "finish 1"]
    assert result["imported"] == 5 and result["media_stored"] == 5 and result["ok"]
    assert DialerCall.objects.filter(media_status=MediaStatus.STORED).count() == 5 == RecordingFile.objects.count()
    assert EngagementProcessing.objects.count() == 5
    assert os.listdir(upload_dir) == []


def test_a_failed_page_keeps_the_recordings_of_the_pages_before_it(org, reps, upload_dir):
    conn = _connection(org)
    result = import_run.dialer_import_run(connection=conn, now=NOW,
                                          importer=Importer(6, owners=(reps["ada"].email,), page=2, fail_after=2))
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.FAILED and conn.last_error == "The CRM stopped answering."
    assert not result["ok"]
    # The two pages read before the error: imported, their recordings stored and queued.
    assert DialerCall.objects.count() == 4 == DialerCall.objects.filter(media_status=MediaStatus.STORED).count()
    assert EngagementProcessing.objects.count() == 4 == RecordingFile.objects.count()


def test_a_killed_workers_temp_files_are_removed_once_old(org, reps, upload_dir, monkeypatch):
    old, fresh, other = (os.path.join(upload_dir, name) for name in ("dialer-abc.part", "dialer-def.part", "keep.part"))
    for path in (old, fresh, other):
        with open(path, "wb") as f:
            f.write(MP3)
    seven_hours_ago = time.time() - 7 * 3600
    for path in (old, other):
        os.utime(path, (seven_hours_ago, seven_hours_ago))
    monkeypatch.setattr(media, "_leftovers_checked", float("-inf"))
    result = import_run.dialer_import_run(connection=_connection(org), now=NOW,
                                          importer=Importer(1, owners=(reps["ada"].email,)))
    assert result["media_stored"] == 1
    # The killed download's file goes; one still being written (recent) and others' files stay.
    assert sorted(os.listdir(upload_dir)) == ["dialer-def.part", "keep.part"]
    os.unlink(fresh)
    with open(old, "wb") as f:
        f.write(MP3)
    os.utime(old, (seven_hours_ago, seven_hours_ago))
    assert media.media_leftovers_remove() == 0  # looked at most once an hour per process
