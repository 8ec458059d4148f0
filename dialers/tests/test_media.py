"""Recording downloads against a media server that misbehaves the usual ways: a
sign-in page served as audio, redirects into Chorus' network, redirect loops, busy
servers with Retry-After, deleted recordings and expired signed links. Every
outcome lands on the call with its true reason, and on the dialer's page."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from werkzeug import Response

from dialers import import_run, media, services
from dialers.importers import base
from dialers.importers.containers import media_kind
from dialers.importers.crm_task import CrmTaskImporter
from dialers.models import DialerCall, MediaStatus
from dialers.tests.conftest import NOW
from integrations.http import http_session, public_url_check
from integrations.models import Connection, ConnectionStatus
from integrations.storage.models import RecordingFile
from testutils.dialer_fakes import S3_EXPIRED, FakeMedia, audio, busy, dialer_call

pytestmark = pytest.mark.django_db
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 64
SIGN_IN = (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=/login method=post>"
           b"<input name=user><input name=password type=password><button>Sign in</button></form></body></html>")
SIGN_IN = SIGN_IN + b" " * (256 - len(SIGN_IN))


@pytest.fixture
def outreach(org):
    return Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c", "activated": True})


@pytest.fixture
def fake(media_server):
    return FakeMedia(media_server)


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(media, "_sleep", slept.append)
    return slept


def fetch(connection, url: str, *, auth=None) -> DialerCall:
    """One call's recording fetched the way a run fetches it."""
    call = dialer_call(connection, 1, source=url)
    importer = CrmTaskImporter(source=None, field="", http=http_session(), auth=auth)
    media.dialer_recordings_fetch([call], importer)
    call.refresh_from_db()
    return call


@pytest.mark.parametrize("head,kind", [
    (b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "MP3"),
    (b"\xff\xfb\x90\x64" + b"\x00" * 12, "MP3"),  # an MPEG frame without a tag
    (b"\xff\xf1\x50\x80" + b"\x00" * 12, "AAC"),  # ADTS
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "WAV"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "M4A"),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "MP4"),
    (b"OggS\x00\x02" + b"\x00" * 10, "OGG"),
    (b"fLaC\x00\x00\x00\x22" + b"\x00" * 8, "FLAC"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81" + b"\x00" * 8, "WEBM"),
    (b"#!AMR\n" + b"\x00" * 10, "AMR"),
    (b"FORM\x00\x00\x00\x00AIFFCOMM", "AIFF"),
    (b"<!DOCTYPE html><html>", None),
    (b'{"error": "expired"}', None),
    (b"%PDF-1.7\n" + b"\x00" * 7, None),
    (b"\x00" * 16, None),
])
def test_container_magic_numbers(head, kind):
    assert media_kind(head) == kind


def test_a_sign_in_page_served_as_audio_is_refused_for_good(org, outreach, fake):
    call = fetch(outreach, fake.add("/r/1.mp3", SIGN_IN, "audio/mpeg"))
    assert len(SIGN_IN) == 256
    assert call.media_status == MediaStatus.REJECTED and call.media_attempts == 1
    assert call.media_error == ("The recording link returned an HTML or XML page instead of a recording, though "
                                "served as audio/mpeg (a sign-in page or an expired link?).")
    assert call.media_name == "" and not RecordingFile.objects.exists()
    assert not default_storage.exists(f"dialers/{org.pk}/outreach")


def test_a_stored_recording_has_its_sha256_and_type(outreach, fake):
    call = fetch(outreach, fake.add("/r/1", MP3, "application/octet-stream"))
    assert call.media_status == MediaStatus.STORED and call.media_name.endswith(".mp3")
    rf = RecordingFile.objects.get(engagement=call.engagement)
    assert rf.sha256 == hashlib.sha256(MP3).hexdigest() and rf.file_type == "MP3" and rf.size == len(MP3)
    assert default_storage.open(call.media_name).read() == MP3


# --- Redirects -------------------------------------------------------------------------------------------


@pytest.fixture
def checked(monkeypatch, settings):
    """Every URL the download checks, with the real check for anything but the local
    media server (the only private host the tests may reach, as 127.0.0.1 or localhost)."""
    settings.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS = False
    seen: list[str] = []

    def check(url, **kwargs):
        seen.append(url)
        if url.startswith(("http://127.0.0.1:", "http://localhost:")):
            return url
        return public_url_check(url, **kwargs)
    monkeypatch.setattr(base, "public_url_check", check)
    return seen


def test_every_redirect_hop_is_checked_and_credentials_stay_on_the_first_host(outreach, fake, checked,
                                                                           media_server):
    final = fake.add("/r/final.mp3", MP3)
    hop2 = fake.redirect("/r/hop2", final.replace("127.0.0.1", "localhost"), status=307)
    hop1 = fake.redirect("/r/hop1", "/r/hop2")  # relative Location
    call = fetch(outreach, hop1, auth=("dialer-user", "dialer-pass"))
    assert call.media_status == MediaStatus.STORED
    assert checked == [hop1, hop2, final.replace("127.0.0.1", "localhost")]
    [first], [second], [last] = fake.hits("/r/hop1"), fake.hits("/r/hop2"), fake.hits("/r/final.mp3")
    assert first.headers.get("Authorization", "").startswith("Basic ")
    assert second.headers.get("Authorization", "").startswith("Basic ")  # same host
    assert "Authorization" not in last.headers  # another host: no credentials


def test_a_redirect_into_a_private_network_is_refused(outreach, fake, checked):
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    call = fetch(outreach, fake.redirect("/r/1.mp3", metadata))
    assert checked[-1] == metadata
    assert call.media_status == MediaStatus.REJECTED
    assert call.media_error == "The recording link points inside a private network; Chorus does not fetch it."


def test_a_redirect_loop_is_settled_at_once(outreach, fake, waits):
    fake.redirect("/r/a", "/r/b")
    call = fetch(outreach, fake.redirect("/r/b", "/r/a"))
    assert call.media_status == MediaStatus.REJECTED and call.media_attempts == 1 and waits == []
    assert call.media_error == "The recording link redirects in a loop; Chorus cannot download it."


def test_redirects_are_capped(outreach, fake):
    for n in range(6):
        fake.redirect(f"/r/{n}", f"/r/{n + 1}")
    fake.add("/r/6", MP3)
    call = fetch(outreach, fake.url("/r/0"))
    assert call.media_status == MediaStatus.REJECTED and fake.hits("/r/6") == []
    assert call.media_error == "The recording link redirected more than 5 times; Chorus stopped following it."


# --- Retries ---------------------------------------------------------------------------------------------


def test_busy_answers_are_retried_within_the_run_after_retry_after(outreach, fake, waits):
    call = fetch(outreach, fake.answers("/r/1.mp3", [busy(503, "2"), busy(429, "3"), audio(MP3)]))
    assert call.media_status == MediaStatus.STORED and call.media_attempts == 1
    assert waits == [2.0, 3.0] and len(fake.hits("/r/1.mp3")) == 3


def test_without_retry_after_the_run_backs_off_then_leaves_it_to_the_next_run(outreach, fake, waits):
    call = fetch(outreach, fake.answers("/r/1.mp3", [busy(502)]))
    assert waits == [1.0, 2.0] and len(fake.hits("/r/1.mp3")) == 3
    assert call.media_status == MediaStatus.FAILED and call.media_retry_at is None
    assert call.media_error == "The recording link answered HTTP 502 (BAD GATEWAY)."


def test_a_long_retry_after_moves_the_try_to_a_later_run(org, outreach, fake, waits):
    url = fake.answers("/r/1.mp3", [busy(503, "7200"), audio(MP3)])
    call = fetch(outreach, url)
    assert waits == [] and len(fake.hits("/r/1.mp3")) == 1
    assert call.media_status == MediaStatus.FAILED and "it asked Chorus to wait 120 min" in call.media_error
    assert abs((call.media_retry_at - timezone.now()) - timedelta(hours=2)) < timedelta(minutes=1)
    DialerCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(hours=1))
    importer = CrmTaskImporter(source=None, field="", http=http_session())

    import_run.dialer_media_retry(connection=outreach, importer=importer, result=import_run.ImportResult(),
                                  before=timezone.now())
    assert len(fake.hits("/r/1.mp3")) == 1  # not due yet
    DialerCall.objects.filter(pk=call.pk).update(media_retry_at=timezone.now() - timedelta(seconds=1))
    import_run.dialer_media_retry(connection=outreach, importer=importer, result=import_run.ImportResult(),
                                  before=timezone.now())
    call.refresh_from_db()
    assert call.media_status == MediaStatus.STORED and call.media_attempts == 2


def test_the_waiting_is_bounded_per_batch(outreach, fake, waits, monkeypatch):
    monkeypatch.setattr(media, "WAIT_BUDGET", 5.0)
    calls = [dialer_call(outreach, n, source=fake.answers(f"/r/{n}", [busy(503, "2")])) for n in range(4)]
    media.dialer_recordings_fetch(calls, CrmTaskImporter(source=None, field="", http=http_session()))
    assert sum(waits) <= 5.0
    assert all(c.media_status == MediaStatus.FAILED for c in DialerCall.objects.all())


@pytest.mark.parametrize("response,status,error", [
    (lambda: Response("gone", status=410), MediaStatus.REJECTED,
     "The recording link answered 410 Gone: the dialer deleted the recording."),
    (lambda: Response(S3_EXPIRED, status=403, content_type="application/xml"), MediaStatus.REJECTED,
     "The recording link has expired (HTTP 403): it was a signed link valid for a limited time, and Chorus "
     "cannot download it any more."),
    (lambda: Response('{"error": {"code": 400, "message": "ExpiredToken"}}', status=400), MediaStatus.REJECTED,
     "The recording link has expired (HTTP 400): it was a signed link valid for a limited time, and Chorus "
     "cannot download it any more."),
    (lambda: Response("<Error><Code>AccessDenied</Code></Error>", status=403), MediaStatus.FAILED,
     "The recording link refused Chorus (HTTP 403): check the dialer's credentials."),
    (lambda: Response("no", status=404), MediaStatus.FAILED,
     "The recording link answered 404 Not Found (not uploaded yet, or deleted)."),
])
def test_refusals_are_settled_with_their_true_reason(outreach, fake, waits, response, status, error):
    call = fetch(outreach, fake.answers("/r/1.mp3", [response]))
    assert (call.media_status, call.media_error) == (status, error)
    assert waits == [] and len(fake.hits("/r/1.mp3")) == 1  # none of these is worth another try in the run


def test_a_call_that_keeps_failing_is_given_up_with_its_last_reason(outreach, fake):
    call = dialer_call(outreach, 1, source=fake.url("/r/missing.mp3"), status=MediaStatus.FAILED, attempts=4)
    media.dialer_recordings_fetch([call], CrmTaskImporter(source=None, field="", http=http_session()))
    call.refresh_from_db()
    assert call.media_status == MediaStatus.REJECTED
    assert call.media_error == ("Gave up after 5 hourly runs. Last problem: The recording link answered 404 Not Found "
                                "(not uploaded yet, or deleted).")


def test_refused_calls_stay_on_the_page_after_later_runs(org, outreach, fake, settings):
    """A call refused for size in one run is still counted and listed after the next runs."""
    settings.DIALER_MEDIA_MAX_BYTES = 100
    big = dialer_call(outreach, 1, source=fake.add("/r/big.mp3", MP3))
    ok = dialer_call(outreach, 2, source=fake.add("/r/ok.mp3", MP3[:64]))
    media.dialer_recordings_fetch([big, ok], CrmTaskImporter(source=None, field="", http=http_session()))
    status = services.dialer_status(outreach)
    assert status["media"]["stored"] == 1 and status["media"]["rejected"] == 1
    [problem] = status["media_problems"]
    assert problem["reason"].startswith("The recording is larger than the")
    assert problem["next_try"] == "Not tried again"
    import_run.dialer_media_retry(connection=outreach, importer=CrmTaskImporter(source=None, field="",
                                                                               http=http_session()),
                                  result=import_run.ImportResult(), before=NOW + timedelta(days=1))
    assert services.dialer_status(outreach)["media"]["rejected"] == 1
