"""Dialers on Microsoft Dynamics: calls read from Dataverse Phone Call activities
(the recording URL in the admin's column) through the CRM app's session."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from werkzeug import Response

from chorus.models import Engagement
from crm.models import CrmContact
from dialers import import_run
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from testutils.dialer_fakes import FakeMedia

pytestmark = pytest.mark.django_db
PHONECALLS = "/api/data/v9.2/phonecalls"


@pytest.fixture
def dynamics(org, sf_server, settings):
    settings.DYNAMICS_ALLOWED_HOSTS = ["*.dynamics.com", "localhost"]
    return Connection.objects.create(
        org=org, provider="dynamics", status=ConnectionStatus.OK,
        config={"org_url": sf_server.url_for("").rstrip("/")},
        secrets={"access_token": "d365-token", "refresh_token": "d365-refresh",
                 "expires_at": (timezone.now() + timedelta(hours=1)).isoformat()})


def phonecall(n, media, since):
    return {"activityid": f"pc-{n}", "subject": f"Call {n}", "actualdurationminutes": 3, "directioncode": True,
            "createdon": (since + timedelta(minutes=n)).isoformat(), "modifiedon": since.isoformat(),
            "new_callrecording": media.add(f"/r/d{n}.mp3"),
            "owninguser": {"internalemailaddress": "ADA@acme.example"},
            "phonecall_activity_parties": [
                {"participationtypemask": 1, "_partyid_value": "user-1"},
                {"participationtypemask": 2, "_partyid_value": f"contact-{n}",
                 "_partyid_value@OData.Community.Display.V1.FormattedValue": f"Prospect {n}"}]}


def test_calls_from_dynamics_phone_calls_with_paging(org, reps, sf_server, media_server, dynamics):
    media = FakeMedia(media_server)
    since, until = NOW - timedelta(hours=1), NOW
    CrmContact.objects.create(org=org, provider="dynamics", remote_id="contact-2", email="p2@cust.example")
    seen = []

    def handler(request):
        seen.append(request)
        assert request.headers["Authorization"] == "Bearer d365-token"
        if request.args.get("page") == "2":
            return Response(f'{{"value": [{json.dumps(phonecall(2, media, since))}]}}', content_type="application/json")
        q = parse_qs(urlsplit(request.url).query)
        assert q["$filter"] == [f"new_callrecording ne null and modifiedon ge {since:%Y-%m-%dT%H:%M:%SZ} "
                                f"and modifiedon lt {until:%Y-%m-%dT%H:%M:%SZ}"]
        assert "new_callrecording" in q["$select"][0]
        assert "odata.maxpagesize=" in request.headers["Prefer"]
        body = {"value": [phonecall(1, media, since)],
                "@odata.nextLink": sf_server.url_for(PHONECALLS) + "?page=2"}
        return Response(json.dumps(body), content_type="application/json")

    sf_server.expect_request(PHONECALLS).respond_with_handler(handler)
    connection = Connection.objects.create(org=org, provider="orum",
                                           config={"crm_field": "new_CallRecording", "activated": True})

    result = import_run.dialer_calls_import(connection=connection, since=since, until=until)

    assert len(seen) == 2 and result.imported == 2 and result.media_stored == 2
    e = Engagement.objects.get(source="orum", external_id="pc-2")
    assert e.owner == reps["ada"] and e.duration_seconds == 180 and e.title == "Call 2"
    assert {p.email for p in e.participants.all()} == {"ada@acme.example", "p2@cust.example"}


def test_a_missing_column_is_a_sentence(org, reps, sf_server, dynamics):
    sf_server.expect_request(PHONECALLS).respond_with_json(
        {"error": {"code": "0x0", "message": "Could not find a property named 'new_gone' on type 'phonecall'."}},
        status=400)
    connection = Connection.objects.create(org=org, provider="orum", config={"crm_field": "new_gone",
                                                                              "activated": True})
    import_run.dialer_import_run(connection=connection, now=NOW)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.FAILED
    assert "Dynamics has no Phone Call column “new_gone”" in connection.last_error
