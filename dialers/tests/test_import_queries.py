"""What the hourly import costs the database: a page of calls is a handful of
statements whatever its size (bulk statements sized by the database's own limit:
``chorus.db.sqlite3`` on SQLite, none on PostgreSQL), and importing it again costs
no more and writes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import IO

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler
from django.test.utils import CaptureQueriesContext

from chorus.db.sqlite3.base import (
    FALLBACK_MAX_QUERY_PARAMS,
    MAX_QUERY_PARAMS,
    DatabaseFeatures,
    DatabaseWrapper,
    variable_limit,
)
from chorus.models import Engagement, Participant
from dialers import import_run
from dialers.importers.base import CallRecord, MediaError, Stored, copy_capped
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from integrations.processing.models import EngagementProcessing
from integrations.storage.models import RecordingFile

pytestmark = pytest.mark.django_db
AUDIO = b"ID3\x03\x00fake-mp3-bytes" * 4
QUERIES_PER_1000 = 50  # issue 18's budget
PAGE = 1000


@pytest.fixture(autouse=True)
def _limit_sized_backend(monkeypatch):
    """The test database through ``chorus.db.sqlite3`` (settings select it for SQLite
    URLs; a run with Django's own backend gets its features here)."""
    if connection.vendor != "sqlite" or isinstance(connection, DatabaseWrapper):
        return
    connection.ensure_connection()
    monkeypatch.setattr(connection, "sqlite_max_variables", variable_limit(connection.connection), raising=False)
    monkeypatch.setattr(connection, "features", DatabaseFeatures(connection))


class MemoryImporter:
    """``calls`` calls of one hour on pages of ``PAGE``; recordings served from memory,
    every ``fail_every``-th one not uploaded yet (404: tried again at a later run)."""

    def __init__(self, calls: int, *, prefix: str, owners: list[str], fail_every: int = 7):
        self.calls, self.prefix, self.owners, self.fail_every = calls, prefix, owners, fail_every

    def pages(self, *, since, until) -> Iterator[list[CallRecord]]:
        step = (until - since) / self.calls
        records = [CallRecord(external_id=f"{self.prefix}{i}", started_at=since + step * i,
                              owner_email=self.owners[i % len(self.owners)], duration_seconds=60 + i,
                              prospect_name=f"Prospect {i}", prospect_phone=f"+1555{i:07d}",
                              media_source=f"mem://{i}") for i in range(self.calls)]
        for start in range(0, len(records), PAGE):
            yield records[start:start + PAGE]

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        i = int(record_source.removeprefix("mem://"))
        if i % self.fail_every == 0:
            raise MediaError("The recording link answered 404 Not Found (not uploaded yet, or deleted).")
        return copy_capped([AUDIO + b"x" * (i % 50)], dest, content_type="audio/mpeg", length=None,
                           max_bytes=max_bytes)


def _connection(org, provider: str) -> Connection:
    through = NOW - timedelta(hours=1) + import_run.HOURLY_OVERLAP  # the run reads exactly the last hour
    return Connection.objects.create(org=org, provider=provider, status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c", "activated": True,
                                             "imported_through": through.isoformat()})


def _run(conn: Connection, importer: MemoryImporter) -> tuple[dict, int]:
    conn.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        result = import_run.dialer_import_run(connection=conn, now=NOW, importer=importer)
    return result, len(queries.captured_queries)


def test_an_import_costs_a_few_statements_per_page_and_again_nothing(org, reps):
    owners = [reps["ada"].email, reps["bob"].email]
    small, large = _connection(org, "outreach"), _connection(org, "salesloft")

    one_page, q1 = _run(small, MemoryImporter(1000, prefix="o", owners=owners))
    three_pages, q3 = _run(large, MemoryImporter(3000, prefix="s", owners=owners))

    assert one_page["imported"] == 1000 and three_pages["imported"] == 3000
    assert q1 <= QUERIES_PER_1000, q1
    assert q3 <= 3 * QUERIES_PER_1000, q3
    # Each further page of 1,000 costs a constant handful: the known-ids read, three
    # inserts, the outcomes' update, recording files, processing rows, the bucket
    # read, the progress, and its two transactions' boundaries.
    assert q3 - q1 <= 2 * 15, (q1, q3)

    # Every outcome landed on its own row (one UPDATE per batch groups rows by value).
    failed = DialerCall.objects.filter(media_status=MediaStatus.FAILED)
    assert failed.count() == len(range(0, 1000, 7)) + len(range(0, 3000, 7))
    assert set(failed.values_list("media_attempts", "media_name", "media_size")) == {(1, "", None)}
    assert set(failed.values_list("media_error", flat=True)) == {
        "The recording link answered 404 Not Found (not uploaded yet, or deleted)."}
    stored = DialerCall.objects.filter(media_status=MediaStatus.STORED)
    assert stored.count() == 4000 - failed.count() == RecordingFile.objects.count()
    for call in stored.filter(external_id__in=["o1", "o999", "s13", "s2999"]):
        i = int(call.external_id[1:])
        assert (call.media_size, call.media_content_type, call.media_error, call.media_attempts) == (
            len(AUDIO) + i % 50, "audio/mpeg", "", 1)
        assert call.media_name.startswith(f"dialers/{org.pk}/{call.dialer}/") and call.media_name.endswith(".mp3")
    assert len(set(stored.values_list("media_name", flat=True))) == stored.count()
    assert EngagementProcessing.objects.count() == stored.count()

    # The same hour again: nothing new, no more statements than the first time; the
    # 404s are tried again (a second attempt) and stay failed.
    rows = (Engagement.objects.count(), Participant.objects.count(), DialerCall.objects.count(),
            RecordingFile.objects.count(), EngagementProcessing.objects.count())
    Connection.objects.filter(pk=large.pk).update(config={**large.config})  # the same window
    again, q_again = _run(large, MemoryImporter(3000, prefix="s", owners=owners))
    assert again["imported"] == 0 and again["already_imported"] == 3000
    assert q_again <= q3
    assert rows == (Engagement.objects.count(), Participant.objects.count(), DialerCall.objects.count(),
                    RecordingFile.objects.count(), EngagementProcessing.objects.count())
    assert set(DialerCall.objects.filter(connection=large, media_status=MediaStatus.FAILED)
               .values_list("media_attempts", flat=True)) == {2}


def test_the_sqlite_backend_reads_the_librarys_variable_limit(tmp_path):
    handler = ConnectionHandler({"default": {"ENGINE": "chorus.db.sqlite3", "NAME": str(tmp_path / "x.sqlite3")}})
    db = handler["default"]
    try:
        library = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        expected = min(library, MAX_QUERY_PARAMS)  # Debian's library allows 250,000
        assert db.features.max_query_params == expected > FALLBACK_MAX_QUERY_PARAMS  # connects to read it
        assert db.ops.bulk_batch_size(["a", "b", "c"], []) == expected // 3
        with db.cursor() as cursor:  # a statement of that many variables is accepted
            cursor.execute(f"SELECT count(*) WHERE 7 IN ({', '.join(['%s'] * expected)})", list(range(expected)))
            assert cursor.fetchone() == (1,)
    finally:
        db.close()
    assert variable_limit(object()) == FALLBACK_MAX_QUERY_PARAMS  # a driver that cannot tell


class _Limits:
    def __init__(self, variables: int, sql_bytes: int):
        self.limits = {sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: variables, sqlite3.SQLITE_LIMIT_SQL_LENGTH: sql_bytes}

    def getlimit(self, which: int) -> int:
        return self.limits[which]


@pytest.mark.parametrize(("variables", "sql_bytes", "expected"), [
    (250_000, 1_000_000_000, MAX_QUERY_PARAMS),  # Debian's build
    (32_766, 1_000_000, 31_250),  # SQLite's defaults: statements stay under a megabyte
    (999, 1_000_000, 999),  # an old library
    (5_000, 10_000, FALLBACK_MAX_QUERY_PARAMS),  # never below Django's own assumption…
    (500, 1_000_000, 500),  # …nor above the library's limit (lowered with setlimit)
])
def test_the_limit_is_capped_by_statement_size(variables, sql_bytes, expected):
    assert variable_limit(_Limits(variables, sql_bytes)) == expected
