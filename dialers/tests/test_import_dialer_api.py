"""The dialer_api family: the dialer's own API with the admin's credentials, window
boundaries, rate limits — Aircall's call list, and Zendesk Talk's incremental export
with users and the ticket's voice comment."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from chorus.models import Engagement
from dialers import import_run
from dialers.importers import dialer_api
from dialers.models import DialerCall
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from integrations.processing.models import EngagementProcessing
from testutils.dialer_fakes import FakeMedia
from testutils.processing import process_queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def zendesk(org, media_server, settings):
    settings.DIALER_API_URLS = {"zendesk_talk": media_server.url_for("/zd/{domain}/api/v2")}
    return Connection.objects.create(org=org, provider="zendesk_talk", status=ConnectionStatus.QUEUED,
                                     config={"username": "admin@acme.example", "domain": "acme", "activated": True},
                                     secrets={"password": "zd-password"})


@pytest.fixture
def aircall(org, media_server, settings):
    settings.DIALER_API_URLS = {"aircall_hubspot": media_server.url_for("/aircall/v1")}
    return Connection.objects.create(org=org, provider="aircall_hubspot", status=ConnectionStatus.QUEUED,
                                     config={"activated": True},
                                     secrets={"api_key": "ac-id", "auth_secret_key": "ac-secret"})


def test_aircall_calls_paged_with_basic_auth_and_window(org, reps, media_server, aircall, monkeypatch):
    media = FakeMedia(media_server)
    waits = []
    monkeypatch.setattr(dialer_api, "_sleep", waits.append)
    since, until = NOW - timedelta(hours=1), NOW
    expected_auth = "Basic " + base64.b64encode(b"ac-id:ac-secret").decode()
    calls = [{"id": n, "started_at": int((since + timedelta(minutes=10 * n)).timestamp()), "duration": 60,
              "user": {"email": "ADA@acme.example"},
              "contact": {"name": f"Prospect {n}", "email": f"p{n}@cust.example"},
              "recording": media.add(f"/r/{n}.mp3")} for n in range(0, 6)]
    calls.append({"id": 99, "started_at": int(until.timestamp()), "user_email": "ada@acme.example",
                  "recording": media.add("/r/99.mp3")})  # at `until`: the next window's
    hits = {"n": 0}

    def api(request):
        assert request.headers["Authorization"] == expected_auth
        hits["n"] += 1
        if hits["n"] == 1:
            return Response("slow down", status=429, headers={"Retry-After": "2"})
        page = int(request.args.get("page", 1))
        if page == 1:
            assert request.args["from"] == str(int(since.timestamp()))
            assert request.args["to"] == str(int(until.timestamp()))
            assert request.args["per_page"] == "50"
        body = {"calls": calls[(page - 1) * 4: page * 4], "meta": {}}
        if page * 4 < len(calls):
            next_url = media_server.url_for("/aircall/v1/calls") + f"?page={page + 1}"
            body["meta"]["next_page_link"] = next_url
        return Response(json.dumps(body), content_type="application/json")

    media_server.expect_request("/aircall/v1/calls").respond_with_handler(api)
    result = import_run.dialer_calls_import(connection=aircall, since=since, until=until)

    assert waits == [2.0]
    assert result.imported == 6 and result.media_stored == 6
    e = Engagement.objects.get(source="aircall_hubspot", external_id="3")
    assert e.owner == reps["ada"] and e.title == "Aircall - Hubspot call with Prospect 3"
    assert {p.email for p in e.participants.all()} == {"ada@acme.example", "p3@cust.example"}
    assert not DialerCall.objects.filter(external_id="99").exists()



def test_each_page_goes_to_processing_and_each_call_is_announced_once_processed(org, reps, media_server, aircall,
                                                                               monkeypatch, transcriber):
    from integrations import ready

    media = FakeMedia(media_server)
    calls = [{"id": n, "started_at": int((NOW - timedelta(minutes=90 - 20 * n)).timestamp()),
              "user_email": "ada@acme.example", "recording": media.add(f"/r/{n}.mp3")} for n in range(1, 5)]
    media_server.expect_request("/aircall/v1/calls").respond_with_json({"calls": calls, "meta": {}})
    seen = []

    def listener(*, org, engagements):
        seen.append(sorted(e.external_id for e in engagements))
        assert DialerCall.objects.filter(engagement__in=engagements).count() == len(engagements)  # written first
        assert all(e.processing.status == "ready" and e.transcript for e in engagements)  # processed first

    monkeypatch.setattr(ready, "LISTENERS", {})
    ready.register_ready_listener("test", listener)
    result = import_run.dialer_calls_import(connection=aircall, since=NOW - timedelta(hours=2),
                                            until=NOW - timedelta(minutes=45))
    assert result.imported == 2 and seen == []  # imported and queued, announced to no one yet
    assert sorted(EngagementProcessing.objects.values_list("engagement__external_id", "status")) == [
        ("1", "queued"), ("2", "queued")]
    assert process_queued() == {"ready": 2, "failed": 0, "retrying": 0}
    assert seen == [["1"], ["2"]] and len(transcriber.heard) == 2  # each call announced once, when processed

    # A listener that fails takes the announcement with it: nothing is half-announced,
    # processing tries again later and announces once the listener works.
    def broken(*, org, engagements):
        raise RuntimeError("listener down")

    ready.register_ready_listener("test", broken)
    result = import_run.dialer_calls_import(connection=aircall, since=NOW - timedelta(minutes=45), until=NOW)
    assert result.imported == 2  # the import does not depend on the listeners any more
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 2}
    for row in EngagementProcessing.objects.filter(engagement__external_id__in=["3", "4"]):
        assert (row.status, row.announced_at, row.attempts) == ("queued", None, 1)
        assert row.last_error == "Analysing: An unexpected error stopped processing (logged for support)."
    ready.register_ready_listener("test", listener)
    EngagementProcessing.objects.update(next_attempt_at=timezone.now())  # the backoff has passed
    assert process_queued() == {"ready": 2, "failed": 0, "retrying": 0}
    assert seen == [["1"], ["2"], ["3"], ["4"]]
    assert process_queued() == {"ready": 0, "failed": 0, "retrying": 0}


def test_a_listener_failing_on_the_last_try_still_gets_the_call_announced_once(org, reps, media_server, aircall,
                                                                               monkeypatch, transcriber, settings):
    """The last try: the transcript and analysis are done, the announcement fails (a
    listener or gate down). The call must still be announced once the listener is
    back, never left failed and unannounced (its CRM task lost)."""
    from integrations import ready

    settings.PROCESSING_MAX_ATTEMPTS = 1
    media = FakeMedia(media_server)
    media_server.expect_request("/aircall/v1/calls").respond_with_json({"calls": [
        {"id": 1, "started_at": int((NOW - timedelta(minutes=30)).timestamp()), "user_email": "ada@acme.example",
         "recording": media.add("/r/1.mp3")}], "meta": {}})
    seen = []

    def broken(*, org, engagements):
        raise RuntimeError("listener down")

    monkeypatch.setattr(ready, "LISTENERS", {})
    ready.register_ready_listener("test", broken)
    import_run.dialer_calls_import(connection=aircall, since=NOW - timedelta(hours=1), until=NOW)
    with contextlib.suppress(RuntimeError):  # whether the worker sees the error or logs it
        process_queued()
    ready.register_ready_listener("test", lambda *, org, engagements: seen.extend(e.external_id for e in engagements))
    EngagementProcessing.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))  # a dead worker's lease
    process_queued()
    process_queued()
    row = EngagementProcessing.objects.get()
    assert seen == ["1"] and row.announced_at is not None and row.status in ("ready", "failed")


def test_zendesk_talk_from_the_incremental_export_users_and_voice_comments(org, reps, media_server, zendesk):
    """Zendesk Talk's own shape: calls since ``start_time`` (created within the window
    only), the agent's and customer's addresses in one ``users/show_many``, the
    recording from the voice comment of the call's ticket (with the admin's
    credentials: the link is on the Zendesk host)."""
    since, until = NOW - timedelta(hours=1), NOW
    auth = "Basic " + base64.b64encode(b"admin@acme.example:zd-password").decode()
    base = "/zd/acme/api/v2"
    iso = (lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%SZ"))  # noqa: E731

    def call(n, created, **kw):
        return {"id": 9000 + n, "created_at": iso(created), "updated_at": iso(created), "agent_id": 11,
                "customer_id": 20 + n, "duration": 120, "direction": "outbound", "ticket_id": 500 + n, **kw}

    page1 = [call(1, since + timedelta(minutes=5)), call(2, since - timedelta(minutes=5)),  # updated, not new
             call(3, since + timedelta(minutes=20), agent_id=None)]  # abandoned: no agent, no recording
    page2 = [call(4, since + timedelta(minutes=40), agent_id=12)]
    export = media_server.url_for(f"{base}/channels/voice/stats/incremental/calls")
    media_server.expect_oneshot_request(f"{base}/channels/voice/stats/incremental/calls",
                                        query_string={"start_time": str(int(since.timestamp()))},
                                        headers={"Authorization": auth}).respond_with_json(
        {"calls": page1 + [call(5, since + timedelta(minutes=1))] * 997, "count": 1000,
         "end_time": int((since + timedelta(minutes=30)).timestamp()), "next_page": f"{export}?start_time=2"})
    media_server.expect_oneshot_request(f"{base}/users/show_many", query_string={"ids": "11,21,23,25"}) \
        .respond_with_json({"users": [{"id": 11, "email": "Ada@acme.example", "name": "Ada"},
                                      {"id": 21, "email": "jo@cust.example", "name": "Jo", "phone": "+15550101"},
                                      {"id": 25, "email": "kim@cust.example", "name": "Kim"}]})
    for n in (1, 5):
        media_server.expect_request(f"{base}/tickets/{500 + n}/comments").respond_with_json({"comments": [
            {"type": "Comment", "body": "hello"},
            {"type": "VoiceComment", "data": {"call_id": 9000 + n, "recording_url": media_server.url_for(
                f"{base}/calls/{9000 + n}/recording"), "call_duration": 120}}]})
    media_server.expect_request(f"{base}/calls/9001/recording", headers={"Authorization": auth}) \
        .respond_with_data(b"ID3" + b"\x00" * 64, content_type="audio/mpeg")
    media_server.expect_request(f"{base}/calls/9005/recording").respond_with_data(b"ID3" + b"\x01" * 64,
                                                                                content_type="audio/mpeg")
    media_server.expect_oneshot_request(f"{base}/channels/voice/stats/incremental/calls",
                                        query_string={"start_time": "2"}).respond_with_json(
        {"calls": page2, "count": 1, "end_time": int(until.timestamp()), "next_page": f"{export}?start_time=3"})
    media_server.expect_oneshot_request(f"{base}/users/show_many", query_string={"ids": "12,24"}) \
        .respond_with_json({"users": [{"id": 12, "email": "bob@acme.example"}]})
    media_server.expect_request(f"{base}/tickets/504/comments").respond_with_json({"comments": []})
    comments = lambda: [r.path for r, _ in media_server.log if r.path.endswith("/comments")]  # noqa: E731

    result = import_run.dialer_calls_import(connection=zendesk, since=since, until=until)

    assert (result.imported, result.media_stored, result.skipped_no_recording, result.skipped_unknown_owner) == \
        (2, 2, 1, 1)
    e = Engagement.objects.get(source="zendesk_talk", external_id="9001")
    assert e.owner == reps["ada"] and e.duration_seconds == 120 and e.started_at == since + timedelta(minutes=5)
    assert {p.email for p in e.participants.all()} == {"ada@acme.example", "jo@cust.example"}
    assert not DialerCall.objects.filter(external_id__in=["9002", "9003", "9004"]).exists()
    assert sorted(comments()) == [f"{base}/tickets/{t}/comments" for t in (501, 504, 505)]  # once a call


def test_refused_credentials_fail_the_run_with_a_sentence(org, reps, media_server, zendesk):
    media_server.expect_request("/zd/acme/api/v2/channels/voice/stats/incremental/calls").respond_with_data(
        "no", status=401)
    import_run.dialer_import_run(connection=zendesk, now=NOW)
    zendesk.refresh_from_db()
    assert zendesk.status == ConnectionStatus.FAILED
    assert zendesk.last_error == "Zendesk Talk refused the credentials (HTTP 401). Click Edit and enter them again."
    assert "imported_through" not in zendesk.config  # the backfill is retried from its start
