"""The Zoom webhook with really signed requests, and recording.completed →
a meeting Engagement against a local download server."""

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from django.core import mail
from werkzeug import Response

from chorus.models import Engagement
from integrations.conferencing.models import ZoomEvent
from integrations.conferencing.tests.conftest import SECRET, load
from integrations.models import Connection
from integrations.processing.models import EngagementProcessing
from integrations.storage.models import RecordingFile
from testutils.factories import UserFactory
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64  # a small "MP4"


def serve_recording(httpserver, body=VIDEO, content_type="video/mp4", path="/rec/download/video-file"):
    httpserver.expect_request(path, method="GET").respond_with_data(body, content_type=content_type)


def completed(httpserver, **changes):
    payload = load("recording_completed", base=httpserver.url_for("").rstrip("/"))
    payload["payload"]["object"].update(changes)
    return payload


# --- Signature, timestamp, url_validation -------------------------------------------------------------


def test_url_validation_answers_the_challenge(post_event):
    response = post_event(
        {"event": "endpoint.url_validation", "event_ts": 1, "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}
    )
    assert response.status_code == 200
    assert response.json() == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest(),
    }


def test_url_validation_with_a_forged_signature_is_refused(post_event):
    response = post_event({"event": "endpoint.url_validation", "payload": {"plainToken": "x"}}, secret="not-the-secret")
    assert response.status_code == 401
    assert "encryptedToken" not in response.content.decode()


def test_forged_signature_is_refused_and_nothing_is_queued(
    post_event, zoom_connection, httpserver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_event(completed(httpserver), secret="attacker-secret")
    assert response.status_code == 401
    assert not ZoomEvent.objects.exists() and not callbacks


def test_tampered_body_is_refused(client, zoom_connection, httpserver):
    from integrations.conferencing.tests.conftest import signed_headers

    body = json.dumps(completed(httpserver)).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"Wonka", b"Evil!")
    response = client.post("/integrations/zoom/webhook", data=tampered, content_type="application/json", **headers)
    assert response.status_code == 401 and not ZoomEvent.objects.exists()


@pytest.mark.parametrize("offset", [-302, 302, -3600])  # 300 s is the limit
def test_stale_or_future_timestamp_is_refused(post_event, zoom_connection, httpserver, offset):
    response = post_event(completed(httpserver), timestamp=str(int(time.time()) + offset))
    assert response.status_code == 401 and not ZoomEvent.objects.exists()


def test_timestamp_in_milliseconds_is_understood(post_event, zoom_connection, httpserver):
    response = post_event(completed(httpserver), timestamp=str(int(time.time() * 1000)))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_ZM_REQUEST_TIMESTAMP": "123"},
        {"HTTP_X_ZM_SIGNATURE": "v0=abc"},
        {"HTTP_X_ZM_REQUEST_TIMESTAMP": "soon", "HTTP_X_ZM_SIGNATURE": "v0=abc"},
    ],
)
def test_missing_or_malformed_headers_are_refused(post_event, headers):
    assert post_event({"event": "recording.completed"}, headers=headers).status_code == 401


def test_no_secret_configured_refuses_everything(post_event, settings):
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = ""
    assert (
        post_event({"event": "endpoint.url_validation", "payload": {"plainToken": "x"}}, secret="x").status_code == 401
    )


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"payload": {}}', b'{"event": "endpoint.url_validation", "payload": {}}']
)
def test_signed_but_malformed_events_are_400(post_event, body):
    assert post_event(None, body=body).status_code == 400


def test_get_is_not_allowed(client):
    assert client.get("/integrations/zoom/webhook").status_code == 405


def test_unknown_account_is_404_and_writes_nothing(post_event, zoom_connection, httpserver):
    payload = completed(httpserver)
    payload["payload"]["account_id"] = "ACCT-SOMEONE-ELSE"
    assert post_event(payload).status_code == 404
    assert not ZoomEvent.objects.exists()


# --- Queueing and replays ----------------------------------------------------------------------------------


def test_event_is_queued_after_commit_and_answered_at_once(
    post_event, zoom_connection, httpserver, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: queued.append((func, a, kw)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_event(completed(httpserver))
    assert response.status_code == 200 and response.json() == {"status": "queued"}
    event = ZoomEvent.objects.get()
    assert event.org == zoom_connection.org and event.status == "queued" and event.event == "recording.completed"
    assert len(callbacks) == 1
    assert queued == [
        ("integrations.conferencing.tasks.zoom_event_process_task", (event.pk,), {"group": "zoom-events"})
    ]
    assert not httpserver.log  # nothing downloaded inside the request
    # The download token is encrypted at rest.
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT payload FROM conferencing_zoomevent WHERE id = %s", [event.pk])
        assert "DOWNLOAD-TOKEN" not in cursor.fetchone()[0]


def test_replayed_request_queues_nothing_twice(
    post_event, zoom_connection, httpserver, django_capture_on_commit_callbacks
):
    body = json.dumps(completed(httpserver)).encode()
    from integrations.conferencing.tests.conftest import signed_headers

    headers = signed_headers(body)
    with django_capture_on_commit_callbacks() as callbacks:
        first = post_event(None, body=body, headers=headers)
        again = post_event(None, body=body, headers=headers)  # the same request replayed
        retry = post_event(None, body=body)  # Zoom's retry: new timestamp, same event
    assert first.json() == {"status": "queued"}
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert retry.json() == {"status": "duplicate"}
    assert ZoomEvent.objects.count() == 1 and len(callbacks) == 1


# --- recording.completed → Engagement ----------------------------------------------------------------------


def test_recording_completed_downloads_stores_and_notifies(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks, settings
):
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(completed(httpserver))
    assert response.status_code == 200

    (download,) = [r for r, _ in httpserver.log if r.path == "/rec/download/video-file"]
    assert download.headers["Authorization"] == "Bearer DOWNLOAD-TOKEN-abc123"
    assert not [r for r, _ in httpserver.log if r.path.startswith("/rec/") and r.path != "/rec/download/video-file"]

    event = ZoomEvent.objects.get()
    assert event.status == "done", event.detail
    e = Engagement.objects.get()
    assert event.engagement == e
    assert (e.org, e.kind, e.source, e.external_id) == (host.org, "recording", "zoom", "4444AAAiAAAAAiAiAiiAii==")
    assert e.title == "Acme <> Wonka discovery call" and e.owner == host
    assert e.started_at.isoformat() == "2026-11-27T15:00:00+00:00" and e.duration_seconds == 1830
    assert e.recording_url == f"https://chorus.test/recordings/{e.pk}/"
    assert [(p.email, p.is_internal) for p in e.participants.all()] == [("ada@acme.example", True)]

    f = RecordingFile.objects.get()
    assert f.engagement == e and f.bucket is None and f.file_type == "MP4" and f.content_type == "video/mp4"
    assert f.size == len(VIDEO) and f.sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert (Path(settings.MEDIA_ROOT) / f.name).read_bytes() == VIDEO

    # "Ready" means processed: no email at import. The served "MP4" is not audio, so
    # processing fails for good (no Zoom transcript to read) and the recording is
    # ready all the same, with the reason on its processing row.
    assert not mail.outbox and EngagementProcessing.objects.get(engagement=e).status == "queued"
    with django_capture_on_commit_callbacks(execute=True):
        assert process_queued() == {"ready": 0, "failed": 1, "retrying": 0}
    assert EngagementProcessing.objects.get(engagement=e).last_error.startswith(
        "Transcribing: The recording could not be decoded as audio: ")
    (message,) = mail.outbox
    assert message.to == ["ada@acme.example"]
    assert message.subject == "Your recording is ready: Acme <> Wonka discovery call"
    assert e.recording_url in message.body


def test_host_found_by_zoom_user_id(
    post_event, zoom_connection, enterprise_org, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    user = UserFactory(
        org=enterprise_org, email="ada.lovelace@acme.example", external_ids={"zoom": "z8yCxjabcdEFGHfp8uQ"}
    )
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver, host_email="ada@personal.example"))
    assert Engagement.objects.get().owner == user


def test_duplicate_deliveries_create_nothing_twice(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks, crm_push_ready_calls
):
    serve_recording(httpserver)
    first = completed(httpserver)
    second = completed(httpserver)
    second["event_ts"] += 60_000  # a second delivery of the same meeting (another event_ts)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(first)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(second).json() == {"status": "queued"}
    assert crm_push_ready_calls == [] and not mail.outbox  # nothing is ready before processing
    with django_capture_on_commit_callbacks(execute=True):
        process_queued()  # the fake "MP4" fails to decode: failed, announced all the same
    with django_capture_on_commit_callbacks(execute=True):
        assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}
    assert Engagement.objects.count() == 1 and RecordingFile.objects.count() == 1 and len(mail.outbox) == 1
    assert EngagementProcessing.objects.count() == 1
    statuses = sorted(ZoomEvent.objects.values_list("status", flat=True))
    assert statuses == ["done", "ignored"]
    dup = ZoomEvent.objects.get(status="ignored")
    assert "duplicate" in dup.detail and dup.engagement == Engagement.objects.get()
    assert len([r for r, _ in httpserver.log if r.path == "/rec/download/video-file"]) == 1
    assert crm_push_ready_calls == [Engagement.objects.get().id]  # announced ready once


def test_an_event_is_processed_once_even_if_queued_twice(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    from integrations.conferencing import services

    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert services.zoom_event_process(event_id=event.pk) is None  # the claim is gone
    assert Engagement.objects.count() == 1


def test_audio_only_meeting_takes_the_m4a(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    payload = completed(httpserver)
    payload["payload"]["object"]["recording_files"] = [
        f for f in payload["payload"]["object"]["recording_files"] if f["file_type"] != "MP4"
    ]
    serve_recording(httpserver, body=b"m4a-bytes", content_type="audio/mp4", path="/rec/download/audio-file")
    with django_capture_on_commit_callbacks(execute=True):
        post_event(payload)
    assert RecordingFile.objects.get().file_type == "M4A"


def test_html_instead_of_a_recording_fails_cleanly(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks, settings
):
    serve_recording(httpserver, body=b"<html>Sign in to Zoom</html>", content_type="text/html")
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert event.status == "failed" and "text/html instead of a recording" in event.detail
    assert not Engagement.objects.exists() and not RecordingFile.objects.exists() and not mail.outbox
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.mp4"))


def test_recordings_over_the_size_cap_are_refused_while_streaming(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks, settings
):
    settings.ZOOM_RECORDING_MAX_BYTES = 1024  # the payload says 282825 bytes: refused before downloading
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert event.status == "failed" and "larger than" in event.detail
    assert not httpserver.log and not Engagement.objects.exists()


def test_size_cap_also_holds_when_the_payload_understates_the_size(zoom_connection, httpserver, tmp_path, settings):
    from integrations.conferencing import zoom
    from integrations.conferencing.zoom import ZoomError

    def chunked(request):  # no Content-Length: only counting while streaming catches it
        return Response((VIDEO[i : i + 1000] for i in range(0, len(VIDEO), 1000)), content_type="video/mp4")

    httpserver.expect_request("/rec/big").respond_with_handler(chunked)
    with open(tmp_path / "out", "wb") as dest, pytest.raises(ZoomError, match="larger than"):
        zoom.download(url=httpserver.url_for("/rec/big"), token="t", dest=dest, max_bytes=4096)


def test_download_resumes_with_a_range_request(zoom_connection, httpserver, tmp_path, monkeypatch):
    from integrations.conferencing import zoom

    monkeypatch.setattr(zoom, "DOWNLOAD_CHUNK", 1024)

    half = len(VIDEO) // 2
    calls = []

    def flaky(request):
        calls.append(request.headers.get("Range"))
        if len(calls) == 1:  # the connection drops half-way
            resp = Response(VIDEO[:half], content_type="video/mp4", headers={"Connection": "close"})
            resp.headers["Content-Length"] = str(len(VIDEO))  # promises more than it sends
            return resp
        start = int(request.headers["Range"].split("=")[1].rstrip("-"))
        return Response(
            VIDEO[start:],
            status=206,
            content_type="video/mp4",
            headers={"Content-Range": f"bytes {start}-{len(VIDEO) - 1}/{len(VIDEO)}"},
        )

    httpserver.expect_request("/rec/flaky").respond_with_handler(flaky)
    with open(tmp_path / "out", "wb+") as dest:
        got = zoom.download(url=httpserver.url_for("/rec/flaky"), token="t", dest=dest, max_bytes=10**9)
    assert calls[0] is None and len(calls) == 2
    resumed_at = int(calls[1].split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= half
    assert (tmp_path / "out").read_bytes() == VIDEO
    assert got.size == len(VIDEO) and got.sha256 == hashlib.sha256(VIDEO).hexdigest()


def test_download_urls_outside_zoom_are_not_fetched(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    payload = completed(httpserver)
    for f in payload["payload"]["object"]["recording_files"]:
        f["download_url"] = "http://169.254.169.254/latest/meta-data/"
    with django_capture_on_commit_callbacks(execute=True):
        post_event(payload)
    event = ZoomEvent.objects.get()
    assert event.status == "failed" and "not a Zoom address" in event.detail
    assert not Engagement.objects.exists()


def test_expired_download_token_is_explained(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/rec/download/video-file").respond_with_json(
        {"code": 124, "message": "Invalid access token."}, status=401
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    assert "download token may have expired" in ZoomEvent.objects.get().detail


def test_recording_ignored_when_post_call_download_is_not_the_method(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    zoom_connection.config = {**zoom_connection.config, "recording_method": "streaming"}
    zoom_connection.save()
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert event.status == "ignored" and "not the recording method" in event.detail
    assert not httpserver.log and not Engagement.objects.exists()


def test_host_who_is_not_a_chorus_user_is_ignored(
    post_event, zoom_connection, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver, host_email="stranger@elsewhere.example", host_id="nobody"))
    assert ZoomEvent.objects.get().status == "ignored" and not Engagement.objects.exists()


# --- Tenant isolation ----------------------------------------------------------------------------------------


def test_account_of_org_a_never_creates_engagements_in_org_b(
    post_event, zoom_connection, other_org, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    """Org B has a user with the host's email and its own Zoom account; an event of
    org A's account must not land in org B."""
    UserFactory(org=other_org, email="ada@acme.example")
    Connection.objects.create(
        org=other_org,
        provider="zoom",
        status="ok",
        config={"account_id": "ACCT-GLOBEX-9", "post_call_download": True, "recording_method": "post_call_download"},
    )
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert event.org == zoom_connection.org and event.status == "ignored"  # no such host in org A
    assert not Engagement.objects.filter(org=other_org).exists()


def test_account_moved_after_queueing_does_not_write_into_the_new_org(
    post_event, zoom_connection, host, other_org, httpserver, django_capture_on_commit_callbacks, monkeypatch
):
    from integrations.conferencing import services

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: None)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    Connection.objects.filter(pk=zoom_connection.pk).update(org=other_org)
    UserFactory(org=other_org, email="ada@acme.example")
    event = services.zoom_event_process(event_id=ZoomEvent.objects.get().pk)
    assert event.status == "ignored" and not Engagement.objects.exists()


# --- Deauthorisation -----------------------------------------------------------------------------------------


def test_app_deauthorized_disconnects_and_forgets_tokens(
    post_event, zoom_connection, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(load("app_deauthorized")).status_code == 200
    zoom_connection.refresh_from_db()
    assert zoom_connection.status == "disconnected" and zoom_connection.secrets == {}
    assert "removed from Zoom" in zoom_connection.last_error
    assert zoom_connection.config["post_call_download"] is True  # settings kept for a reinstall
    # Afterwards the account is unknown: recordings are refused, a second deauthorisation is a no-op.
    assert post_event(completed(httpserver)).status_code == 404
    again = load("app_deauthorized")
    again["event_ts"] += 1
    assert post_event(again).json() == {"status": "ignored"}


# --- With a Custom Media Bucket --------------------------------------------------------------------------------


def test_recording_lands_in_the_orgs_s3_bucket(
    post_event,
    zoom_connection,
    host,
    httpserver,
    run_tasks,
    django_capture_on_commit_callbacks,
    s3,
    s3_bucket,
    admin_user,
):
    from integrations.storage import services as storage
    from integrations.storage.tests.conftest import S3_KEYS

    bucket = storage.bucket_save(
        org=zoom_connection.org,
        actor=admin_user,
        kind="s3",
        data={"bucket": s3_bucket, "region": "us-east-1", "prefix": "chorus", **S3_KEYS},
    )
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    f = RecordingFile.objects.get()
    assert f.bucket == bucket
    assert s3.get_object(Bucket=s3_bucket, Key=f"chorus/{f.name}")["Body"].read() == VIDEO
    with storage.recording_open(recording_file=f) as fh:
        assert fh.read() == VIDEO


def test_attendees_come_from_zooms_participant_report(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    serve_recording(httpserver)
    httpserver.expect_request("/v2/past_meetings/4444AAAiAAAAAiAiAiiAii==/participants").respond_with_json(
        {
            "participants": [
                {"name": "Ada Host", "user_email": "ada@acme.example"},
                {"name": "Willy Wonka", "user_email": "Willy@Wonka.example"},
                {"name": "Willy Wonka", "user_email": "willy@wonka.example"},  # rejoined
                {"name": "Bob", "user_email": "bob@acme.example"},
                {"name": "Dial-in caller", "user_email": ""},
            ]
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    e = Engagement.objects.get()
    assert [(p.name, p.email, p.is_internal) for p in e.participants.all()] == [
        ("Ada Host", "ada@acme.example", True),
        ("Willy Wonka", "willy@wonka.example", False),
        ("Bob", "bob@acme.example", True),
        ("Dial-in caller", "", False),
    ]
    report = next(r for r, _ in httpserver.log if "past_meetings" in r.path)
    assert report.headers["Authorization"] == "Bearer ZOOM-ACCESS-1"


def test_a_meeting_with_someone_on_the_block_list_is_not_imported(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    host.org.blocked_participants = ["wonka.example"]
    host.org.save()
    serve_recording(httpserver)
    httpserver.expect_request("/v2/past_meetings/4444AAAiAAAAAiAiAiiAii==/participants").respond_with_json(
        {"participants": [{"name": "Willy Wonka", "user_email": "willy@wonka.example"}]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert (event.status, event.detail) == ("ignored", "Not imported: willy@wonka.example is on the organization's "
                                                       "block list.")
    assert not Engagement.objects.exists() and not any("download" in r.path for r, _ in httpserver.log)


def test_zoom_busy_is_retried_on_schedule_and_the_token_kept_until_settled(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.conferencing.services import zoom_event_process, zoom_events_retry_due

    httpserver.expect_request("/rec/download/video-file").respond_with_data("oops", status=500)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    assert (event.status, event.attempts) == ("retrying", 1)
    assert event.payload["download_token"] == "DOWNLOAD-TOKEN-abc123"
    assert event.detail.startswith("Zoom answered 500 to the recording download. Chorus tries again at ")
    assert timedelta(minutes=4) < event.next_attempt_at - timezone.now() <= timedelta(minutes=5)
    assert zoom_events_retry_due() == 0  # not yet

    httpserver.clear()
    serve_recording(httpserver)
    with django_capture_on_commit_callbacks(execute=True):
        assert zoom_events_retry_due(now=timezone.now() + timedelta(minutes=6)) == 1
    event.refresh_from_db()
    assert event.status == "done" and "download_token" not in event.payload and event.next_attempt_at is None
    assert Engagement.objects.count() == 1
    assert zoom_event_process(event_id=event.pk) is None


def test_retries_stop_after_five_attempts_and_permanent_failures_are_not_retried(
    post_event, zoom_connection, host, httpserver, run_tasks, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.conferencing.services import zoom_events_retry_due

    httpserver.expect_request("/rec/download/video-file").respond_with_data("busy", status=503)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(completed(httpserver))
    event = ZoomEvent.objects.get()
    waits = []
    now = timezone.now()
    while event.status == "retrying":
        waits.append(round((event.next_attempt_at - event.processed_at).total_seconds() / 60))
        now += timedelta(hours=2)
        with django_capture_on_commit_callbacks(execute=True):
            zoom_events_retry_due(now=now)
        event.refresh_from_db()
    assert waits == [5, 10, 20, 40] and (event.status, event.attempts) == ("failed", 5)
    assert event.payload["download_token"]  # support can still requeue it within the day

    httpserver.clear()
    httpserver.expect_request("/rec/download/video-file").respond_with_data("", status=404)
    ZoomEvent.objects.update(status="queued", attempts=0)
    from integrations.conferencing.services import zoom_event_process

    event = zoom_event_process(event_id=event.pk)
    assert (event.status, event.attempts, event.detail) == ("failed", 0, "Zoom no longer has this recording file.")


def test_an_event_whose_worker_died_is_queued_again_after_its_lease(
    zoom_connection, host, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.conferencing.services import zoom_events_retry_due

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, pk, **kw: queued.append(pk))
    event = ZoomEvent.objects.create(org=host.org, event="recording.completed", account_id="ACCT-ACME-1",
                                     dedupe_key="k", status="processing",
                                     next_attempt_at=timezone.now() + timedelta(hours=1))
    assert zoom_events_retry_due() == 0  # its worker may still be at it
    with django_capture_on_commit_callbacks(execute=True):
        assert zoom_events_retry_due(now=timezone.now() + timedelta(hours=2)) == 1
    event.refresh_from_db()
    assert event.status == "queued" and queued == [event.pk]
