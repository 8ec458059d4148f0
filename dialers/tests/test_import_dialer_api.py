"""The dialer_api family (Zendesk Talk here): the dialer's own paged API with the
admin's credentials, window boundaries, rate limits."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from werkzeug import Response

from chorus.models import Engagement
from dialers import services
from dialers.importers import dialer_api
from dialers.models import DialerCall
from dialers.tests.conftest import NOW
from dialers.tests.fakes import FakeMedia
from integrations.models import Connection, ConnectionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def zendesk(org, media_server, settings):
    settings.DIALER_API_URLS = {"zendesk_talk": media_server.url_for("/api/{domain}/v2/channels/voice")}
    return Connection.objects.create(org=org, provider="zendesk_talk", status=ConnectionStatus.QUEUED,
                                     config={"username": "admin@acme.example", "domain": "acme", "activated": True},
                                     secrets={"password": "zd-password"})


def test_paged_calls_with_basic_auth_and_window(org, reps, media_server, zendesk, monkeypatch):
    media = FakeMedia(media_server)
    waits = []
    monkeypatch.setattr(dialer_api, "_sleep", waits.append)
    since, until = NOW - timedelta(hours=1), NOW
    expected_auth = "Basic " + base64.b64encode(b"admin@acme.example:zd-password").decode()
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
            next_url = media_server.url_for("/api/acme/v2/channels/voice/calls") + f"?page={page + 1}"
            body["meta"]["next_page_link"] = next_url
        return Response(json.dumps(body), content_type="application/json")

    media_server.expect_request("/api/acme/v2/channels/voice/calls").respond_with_handler(api)
    result = services.dialer_calls_import(connection=zendesk, since=since, until=until)

    assert waits == [2.0]
    assert result.imported == 6 and result.media_stored == 6
    e = Engagement.objects.get(source="zendesk_talk", external_id="3")
    assert e.owner == reps["ada"] and e.title == "Zendesk Talk call with Prospect 3"
    assert {p.email for p in e.participants.all()} == {"ada@acme.example", "p3@cust.example"}
    assert not DialerCall.objects.filter(external_id="99").exists()


def test_refused_credentials_fail_the_run_with_a_sentence(org, reps, media_server, zendesk):
    media_server.expect_request("/api/acme/v2/channels/voice/calls").respond_with_data("no", status=401)
    services.dialer_import_run(connection=zendesk, now=NOW)
    zendesk.refresh_from_db()
    assert zendesk.status == ConnectionStatus.FAILED
    assert zendesk.last_error == "Zendesk Talk refused the credentials (HTTP 401). Click Edit and enter them again."
    assert "imported_through" not in zendesk.config  # the backfill is retried from its start
