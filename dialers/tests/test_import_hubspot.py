"""RingCentral for HubSpot / HubSpot Dialer: calls from HubSpot's call engagements
through hubspot-api-client (the CRM app's session) against a local HTTPS server."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement
from dialers import import_run
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from testutils.dialer_fakes import FakeMedia

pytestmark = pytest.mark.django_db


@pytest.fixture
def hubspot(org, sf_server, settings):
    settings.HUBSPOT_API_URL = sf_server.url_for("").rstrip("/")
    return Connection.objects.create(org=org, provider="hubspot", status=ConnectionStatus.OK,
                                     secrets={"access_token": "hs-token", "refresh_token": "hs-refresh",
                                              "expires_at": (timezone.now() + timedelta(hours=1)).isoformat()})


@pytest.mark.parametrize("dialer,field,recording_property", [
    ("ringcentral_hubspot", "Call_Recording__c", "Call_Recording__c"),
    ("hubspot_dialer", "", "hs_call_recording_url"),  # Call Disposition left blank: HubSpot's own property
])
def test_calls_from_hubspot_search_with_paging(org, reps, sf_server, media_server, hubspot, dialer, field,
                                               recording_property):
    media = FakeMedia(media_server)
    since, until = NOW - timedelta(hours=1), NOW
    searches = []

    def search(request):
        body = json.loads(request.data)
        searches.append(body)
        assert request.headers["Authorization"] == "Bearer hs-token"
        filters = body["filterGroups"][0]["filters"]
        assert filters[0] == {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                              "value": str(int(since.timestamp() * 1000))}
        assert filters[1]["operator"] == "LT" and filters[1]["value"] == str(int(until.timestamp() * 1000))
        assert filters[2] == {"propertyName": recording_property, "operator": "HAS_PROPERTY"}
        assert recording_property in body["properties"] and body["limit"] == 100
        n = 1 if not body.get("after") else 2
        result = {"results": [{"id": str(n), "properties": {
            "hs_call_title": f"Call {n}", "hs_timestamp": (since + timedelta(minutes=n)).isoformat(),
            "hs_call_duration": "65000", "hubspot_owner_id": "77", recording_property: media.add(f"/r/hs{n}.mp3")},
            "createdAt": since.isoformat(), "updatedAt": since.isoformat(), "archived": False}]}
        if n == 1:
            result["paging"] = {"next": {"after": "1"}}
        from werkzeug import Response
        return Response(json.dumps(result), content_type="application/json")

    sf_server.expect_request("/crm/v3/objects/calls/search", method="POST").respond_with_handler(search)
    sf_server.expect_request("/crm/v3/owners/").respond_with_json(
        {"results": [{"id": "77", "email": "ada@acme.example", "createdAt": since.isoformat(),
                      "updatedAt": since.isoformat(), "archived": False}]})
    connection = Connection.objects.create(org=org, provider=dialer, config={"crm_field": field, "activated": True})

    result = import_run.dialer_calls_import(connection=connection, since=since, until=until)

    assert len(searches) == 2 and searches[1]["after"] == "1"
    assert result.imported == 2 and result.media_stored == 2
    e = Engagement.objects.get(source=dialer, external_id="2")
    assert e.owner == reps["ada"] and e.duration_seconds == 65 and e.title == "Call 2"
