"""The crm_task family end to end: Salesforce call Tasks (simple-salesforce against
a local HTTPS server) → dialer-call Engagements with media downloaded from a local
server. Window boundaries, paging, idempotency and faults."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from werkzeug import Response

from chorus.models import Engagement, Participant
from crm.models import AccountMatch
from crm.providers.salesforce.call_tasks import SalesforceCallTasks
from dialers import import_run
from dialers import media as dialer_media
from dialers.importers.base import DialerImportError
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from integrations.processing.models import EngagementProcessing
from testutils.dialer_fakes import FakeMedia, FakeSalesforce, task
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
AUDIO = b"ID3\x03\x00fake-mp3-bytes" * 4
WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.fixture
def outreach(org, salesforce):
    return Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.QUEUED,
                                     config={"crm_field": "Call_Recording__c", "activated": True})


@pytest.fixture
def media(media_server):
    return FakeMedia(media_server)


def serve_audio(media: FakeMedia, path: str, body: bytes = AUDIO, content_type: str = "audio/mpeg") -> str:
    return media.add(path, body, content_type)


def test_backfill_reads_seven_days_day_by_day_with_paging(org, reps, sf_server, media, outreach):
    tasks = [
        task(1, at=NOW - timedelta(days=7, seconds=1), url=serve_audio(media, "/r/too-old.mp3")),
        task(2, at=NOW - timedelta(days=7), url=serve_audio(media, "/r/2.mp3")),  # window start: included
        task(3, at=NOW - timedelta(days=3), url=serve_audio(media, "/r/3.mp3"), owner="bob@acme.example"),
        task(4, at=NOW - timedelta(days=3, minutes=-1), url=serve_audio(media, "/r/4.mp3")),
        task(5, at=NOW - timedelta(days=3, minutes=-2), url=serve_audio(media, "/r/5.mp3")),
        task(6, at=NOW - timedelta(seconds=1), url=serve_audio(media, "/r/6.mp3")),
        task(7, at=NOW, url=serve_audio(media, "/r/7.mp3")),  # window end: excluded (next hour's)
        task(8, at=NOW - timedelta(hours=5), url=serve_audio(media, "/r/8.mp3"), owner="lee@acme.example"),
        task(9, at=NOW - timedelta(hours=4), url=serve_audio(media, "/r/9.mp3"), owner="who@else.example"),
    ]
    fake = FakeSalesforce(sf_server, tasks, page_size=2)

    result = import_run.dialer_import_run(connection=outreach, now=NOW)

    assert len(fake.windows) == 7
    assert fake.windows[0][0] == NOW - timedelta(days=7) and fake.windows[-1][1] == NOW
    assert all(a[1] == b[0] for a, b in zip(fake.windows, fake.windows[1:], strict=False))  # contiguous
    assert len(fake.pending) == 0  # every nextRecordsUrl page was read
    assert result["imported"] == 5 and result["skipped_unlicensed"] == 1 and result["skipped_unknown_owner"] == 1
    calls = Engagement.objects.for_org(org).filter(kind="dialer_call").order_by("started_at")
    assert [e.external_id for e in calls] == [t["Id"] for t in (tasks[1], tasks[2], tasks[3], tasks[4], tasks[5])]
    e = calls.get(external_id=tasks[2]["Id"])
    assert (e.source, e.owner, e.duration_seconds, e.title) == ("outreach", reps["bob"], 123, "Call 3")
    assert list(Participant.objects.filter(engagement=e).values_list("name", "is_internal")) == [
        ("Bob Rep", True), ("Willy Wonka", False)]
    # Imported, queued for processing, announced to no one yet: account matching waits for processing.
    assert not AccountMatch.objects.filter(engagement=e).exists()
    assert sorted(EngagementProcessing.objects.values_list("status", flat=True)) == ["queued"] * 5
    # The fake media are not audio: processing fails for good at once and still announces each call.
    assert process_queued() == {"ready": 0, "failed": 5, "retrying": 0}
    for row in EngagementProcessing.objects.all():
        assert row.status == "failed" and row.announced_at is not None
        assert row.last_error.startswith("Transcribing: The recording could not be decoded as audio: ")
    assert AccountMatch.objects.filter(engagement=e).exists()  # account matching ran on the processed calls
    stored = DialerCall.objects.get(engagement=e)
    assert stored.media_status == MediaStatus.STORED and stored.media_size == len(AUDIO)
    assert stored.media_content_type == "audio/mpeg" and stored.media_name.endswith(".mp3")
    assert default_storage.open(stored.media_name).read() == AUDIO
    outreach.refresh_from_db()
    assert outreach.status == ConnectionStatus.OK and outreach.last_error == ""
    assert outreach.config["imported_through"] == NOW.isoformat() and "progress" not in outreach.config
    assert outreach.config["calls_imported"] == 5 and outreach.config["last_result"]["backfill"] is True


def test_same_hour_twice_and_overlapping_windows_import_nothing_twice(org, reps, sf_server, media, outreach,
                                                                     crm_push_ready_calls):
    tasks = [task(n, at=NOW - timedelta(minutes=10 * n), url=serve_audio(media, f"/r/{n}.mp3"))
             for n in range(1, 6)]
    FakeSalesforce(sf_server, tasks)
    since, until = NOW - timedelta(hours=1), NOW
    first = import_run.dialer_calls_import(connection=outreach, since=since, until=until)
    again = import_run.dialer_calls_import(connection=outreach, since=since, until=until)
    overlap = import_run.dialer_calls_import(connection=outreach, since=since - timedelta(minutes=30),
                                           until=until - timedelta(minutes=15))
    assert (first.imported, again.imported, overlap.imported) == (5, 0, 0)
    assert again.already_imported == 5 and overlap.already_imported == 4
    assert Engagement.objects.for_org(org).count() == 5 == DialerCall.objects.count()
    assert crm_push_ready_calls == []  # nothing is announced before processing
    assert EngagementProcessing.objects.count() == 5  # each call queued once, not again by the overlapping runs
    # Fake media (not audio): processing fails for good and still announces each call.
    assert process_queued() == {"ready": 0, "failed": 5, "retrying": 0}
    # each call announced ready (CRM push listener) once, not again by the overlapping runs
    assert sorted(crm_push_ready_calls) == sorted(Engagement.objects.for_org(org).values_list("id", flat=True))
    import_run.dialer_calls_import(connection=outreach, since=since, until=until)
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}
    assert len(crm_push_ready_calls) == 5

    # The hourly run after the backfill starts 15 minutes before the cursor.
    outreach.config["imported_through"] = (NOW - timedelta(hours=1)).isoformat()
    outreach.save()
    windows = import_run.import_windows(connection=outreach, now=NOW)
    assert windows == [(NOW - timedelta(hours=1, minutes=15), NOW)]


def test_media_faults_leave_the_call_the_error_and_the_rest_of_the_batch(org, reps, sf_server, media, outreach,
                                                                         settings, monkeypatch):
    monkeypatch.setattr(dialer_media, "_sleep", lambda seconds: None)
    settings.DIALER_MEDIA_MAX_BYTES = 1000
    # One download at a time: the local media server answers one request at a time,
    # so a parallel 404 could queue behind the deliberately slow answer and time out.
    settings.DIALER_MEDIA_CONCURRENCY = 1

    def slow(request):
        time.sleep(1.5)
        return Response(AUDIO, content_type="audio/mpeg")

    def endless(request):  # no Content-Length: the cap applies while streaming
        return Response((WAV_HEAD + b"x" * 400 for _ in range(10)), content_type="audio/wav")

    urls = {
        "ok1": media.add("/r/ok1.mp3"), "missing": media.url("/r/missing.mp3"),
        "slow": media.add("/r/slow.mp3", slow), "huge": media.add("/r/huge.mp3", b"x" * 2000),
        "endless": media.add("/r/endless.wav", endless),
        "html": media.add("/r/login.html", b"<html>Sign in</html>", "text/html"), "ok2": media.add("/r/ok2.mp3"),
    }
    tasks = [task(n, at=NOW - timedelta(minutes=50 - n), url=url) for n, url in enumerate(urls.values(), start=1)]
    FakeSalesforce(sf_server, tasks, page_size=3)
    outreach.config["imported_through"] = (NOW - timedelta(hours=1)).isoformat()
    outreach.save()

    import_run.dialer_import_run(connection=outreach, now=NOW)

    by_key = {k: DialerCall.objects.get(external_id=t["Id"]) for k, t in zip(urls, tasks, strict=True)}
    assert Engagement.objects.for_org(org).count() == 7  # nothing lost: every call is in Chorus
    assert by_key["ok1"].media_status == by_key["ok2"].media_status == MediaStatus.STORED
    assert by_key["missing"].media_status == MediaStatus.FAILED and "404" in by_key["missing"].media_error
    assert by_key["slow"].media_status == MediaStatus.FAILED and "did not answer in time" in by_key["slow"].media_error
    for key in ("huge", "endless"):
        assert by_key[key].media_status == MediaStatus.REJECTED and "larger than" in by_key[key].media_error
    assert by_key["html"].media_status == MediaStatus.REJECTED and "text/html" in by_key["html"].media_error
    stored_names = [c.media_name for c in by_key.values() if c.media_name]
    assert len(stored_names) == 2 and all(default_storage.exists(n) for n in stored_names)  # no partial files
    outreach.refresh_from_db()
    assert outreach.status == ConnectionStatus.OK
    assert outreach.last_error.startswith("5 recordings could not be downloaded; the calls are imported. 2 will be "
                                          "tried again at a later hourly run and 3 will not be tried again")

    # Settled recordings (stored, or refused for good) go to processing; those tried again wait for theirs.
    def queued():
        return set(EngagementProcessing.objects.values_list("engagement__dialer_call__external_id", flat=True))
    assert queued() == {by_key[k].external_id for k in ("ok1", "ok2", "huge", "endless", "html")}
    assert process_queued() == {"ready": 0, "failed": 5, "retrying": 0}
    rejected = EngagementProcessing.objects.get(engagement=by_key["html"].engagement)
    assert rejected.last_error == ("Transcribing: There is no recording to transcribe (the recording was not "
                                   "downloaded).") and rejected.announced_at is not None  # announced all the same

    # The next hour: the 404 is there now; failed downloads are retried, rejected ones are not.
    media.add("/r/missing.mp3")
    media.add("/r/slow.mp3")
    import_run.dialer_import_run(connection=outreach, now=NOW + timedelta(hours=1))
    for key in ("missing", "slow"):
        by_key[key].refresh_from_db()
        assert by_key[key].media_status == MediaStatus.STORED and by_key[key].media_attempts == 2
    by_key["huge"].refresh_from_db()
    assert by_key["huge"].media_attempts == 1
    assert Engagement.objects.for_org(org).count() == 7
    assert queued() == {c.external_id for c in by_key.values()}  # the retried ones are queued once settled
    assert EngagementProcessing.objects.filter(status="queued").count() == 2


def test_a_worker_killed_mid_import_resumes_without_duplicates(org, reps, sf_server, media, outreach,
                                                               monkeypatch, crm_push_ready_calls):
    tasks = [task(n, at=NOW - timedelta(days=n, hours=1), url=serve_audio(media, f"/r/{n}.mp3"))
             for n in range(1, 7)]
    FakeSalesforce(sf_server, tasks)
    real_start = dialer_media.MediaDownloads.start
    calls_seen = []

    def dies_after_third_page(downloads, calls):  # MediaDownloads.start
        calls_seen.append(len(calls))
        if len(calls_seen) == 3:
            raise SystemExit("worker killed")  # after the page's rows committed, before its downloads
        return real_start(downloads, calls)

    monkeypatch.setattr(dialer_media.MediaDownloads, "start", dies_after_third_page)
    with pytest.raises(SystemExit):
        import_run.dialer_import_run(connection=outreach, now=NOW)
    outreach.refresh_from_db()
    assert outreach.status == ConnectionStatus.SYNCING  # the claim is held by the dead worker
    assert DialerCall.objects.filter(media_status=MediaStatus.PENDING).count() == 1

    monkeypatch.setattr(dialer_media.MediaDownloads, "start", real_start)
    assert import_run.dialer_import_run(connection=outreach, now=NOW) == {
        "skipped": "already importing, disconnected or unknown"}  # a live claim is respected
    Connection.objects.filter(pk=outreach.pk).update(updated_at=NOW - timedelta(hours=3))  # stale claim
    result = import_run.dialer_import_run(connection=outreach, now=NOW)
    assert result["imported"] == 3 and result["media_stored"] == 4  # the rest, and the pending recording
    assert Engagement.objects.for_org(org).count() == 6 == DialerCall.objects.filter(media_status="stored").count()
    # Every call went to processing once (the one whose download the dead worker never made, too).
    assert EngagementProcessing.objects.count() == 6
    process_queued()
    assert sorted(crm_push_ready_calls) == sorted(Engagement.objects.for_org(org).values_list("id", flat=True))


def test_field_name_is_checked_before_it_reaches_soql(org, sf_server):
    source = SalesforceCallTasks(sf=None, org=org)
    with pytest.raises(DialerImportError, match="not a CRM API field name"):
        source.soql(field="Id FROM User --", since=NOW, until=NOW)


def test_unknown_field_and_missing_crm_end_as_sentences(org, reps, sf_server, outreach):
    sf_server.expect_request("/services/data/v59.0/query/").respond_with_json(
        [{"errorCode": "INVALID_FIELD", "message": "No such column 'Call_Recording__c' on entity 'Task'."}],
        status=400)
    import_run.dialer_import_run(connection=outreach, now=NOW)
    outreach.refresh_from_db()
    assert outreach.status == ConnectionStatus.FAILED
    assert outreach.last_error.startswith("Salesforce has no Task field “Call_Recording__c”")

    Connection.objects.filter(provider="salesforce").update(status=ConnectionStatus.DISCONNECTED)
    import_run.dialer_import_run(connection=outreach, now=NOW)
    outreach.refresh_from_db()
    assert outreach.last_error.startswith("Connect your CRM under CRM Connect first")
