"""RingCentral for HubSpot / HubSpot Dialer: calls from HubSpot's call engagements
through hubspot-api-client against a local HTTPS server — with the CRM app's
session when HubSpot is the connected CRM, and (HubSpot Dialer) with the dialer's
own HubSpot service key when it is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement
from dialers import import_run
from dialers.tests.conftest import NOW
from integrations.models import Connection, ConnectionStatus
from testutils.dialer_fakes import FakeHubSpotCalls, FakeMedia

pytestmark = pytest.mark.django_db
SINCE = NOW - timedelta(hours=1)
KEY = "pat-na1-11111111-2222-3333-4444-555555555555"


@pytest.fixture
def hubspot_api(sf_server, settings):
    settings.HUBSPOT_API_URL = sf_server.url_for("").rstrip("/")
    return sf_server


@pytest.fixture
def hubspot(org, hubspot_api):
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
    fake = FakeHubSpotCalls(sf_server, token="hs-token", since=SINCE, recording_property=recording_property,
                            urls=[media.add("/r/hs1.mp3"), media.add("/r/hs2.mp3")])
    connection = Connection.objects.create(org=org, provider=dialer, config={"crm_field": field, "activated": True})

    result = import_run.dialer_calls_import(connection=connection, since=SINCE, until=NOW)

    assert len(fake.searches) == 2 and fake.searches[1]["after"] == "1"
    filters = fake.searches[0]["filterGroups"][0]["filters"]
    assert filters[0] == {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                          "value": str(int(SINCE.timestamp() * 1000))}
    assert filters[1]["operator"] == "LT" and filters[1]["value"] == str(int(NOW.timestamp() * 1000))
    assert filters[2] == {"propertyName": recording_property, "operator": "HAS_PROPERTY"}
    assert recording_property in fake.searches[0]["properties"] and fake.searches[0]["limit"] == 100
    assert result.imported == 2 and result.media_stored == 2
    e = Engagement.objects.get(source=dialer, external_id="2")
    assert e.owner == reps["ada"] and e.duration_seconds == 65 and e.title == "Call 2"


@pytest.fixture
def salesforce_crm(org):
    return Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                                     config={"instance_url": "https://acme.my.salesforce.com"},
                                     secrets={"access_token": "sf"})


@pytest.mark.parametrize("other_crm", [False, True], ids=["no CRM", "Salesforce connected"])
def test_hubspot_dialer_without_hubspot_crm_reads_hubspot_with_its_own_key(org, reps, hubspot_api, media_server,
                                                                          other_crm, request):
    """The seed exempts HubSpot Dialer from connecting a CRM, yet its calls are HubSpot
    call records: without HubSpot under CRM Connect, its own service key reads them
    (sent as HubSpot's Bearer token), never the Salesforce that happens to be connected."""
    if other_crm:
        request.getfixturevalue("salesforce_crm")
    media = FakeMedia(media_server)
    fake = FakeHubSpotCalls(hubspot_api, token=KEY, since=SINCE, urls=[media.add("/r/a.mp3"), media.add("/r/b.mp3")])
    connection = Connection.objects.create(org=org, provider="hubspot_dialer", status=ConnectionStatus.QUEUED,
                                           config={"crm_field": "", "activated": True,
                                                   "imported_through": SINCE.isoformat()},
                                           secrets={"access_token": KEY})

    result = import_run.dialer_import_run(connection=connection, now=NOW)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK and connection.last_error == ""
    assert result["imported"] == 2 and result["media_stored"] == 2 and len(fake.searches) == 2
    assert Engagement.objects.get(source="hubspot_dialer", external_id="1").owner == reps["ada"]
    # The key goes to HubSpot only, never to the recording's host.
    assert all("Authorization" not in req.headers for req, _ in media_server.log)


@pytest.mark.parametrize("status,sentence", [
    (401, "HubSpot refused the Hubspot Dialer's HubSpot service key (HTTP 401: deleted, rotated or mistyped). "
          "Click Edit and paste the current key."),
    (403, "HubSpot refused the Hubspot Dialer's HubSpot service key (HTTP 403): give it the scopes "
          "crm.objects.contacts.read and crm.objects.owners.read, then import again."),
])
def test_a_refused_key_says_what_to_fix(org, reps, hubspot_api, status, sentence):
    FakeHubSpotCalls(hubspot_api, token=KEY, since=SINCE, urls=[], refuse=status)
    connection = Connection.objects.create(org=org, provider="hubspot_dialer", config={"activated": True},
                                           secrets={"access_token": KEY})
    import_run.dialer_import_run(connection=connection, now=NOW)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.FAILED and connection.last_error == sentence


def test_without_a_key_or_hubspot_the_run_says_to_enter_one(org, reps):
    connection = Connection.objects.create(org=org, provider="hubspot_dialer", config={"activated": True})
    import_run.dialer_import_run(connection=connection, now=NOW)
    connection.refresh_from_db()
    assert connection.last_error == ("Hubspot Dialer needs a HubSpot service key while HubSpot is not your "
                                     "connected CRM: click Edit and paste one.")
