"""From the admin connecting the CRM to a pushed task visible in it, against the
strict fakes (which refuse what the real APIs refuse): HubSpot's connect creates the
properties and custom objects the push writes, Dynamics' task binds through the
task's own navigation properties, and every CRM gets the seed's task body."""

from __future__ import annotations

import html
import logging
import re

import pytest
from django.urls import reverse

from crm.push.body import activity_body, content_for
from crm.push.services import engagement_push_prepare
from crm.tests.conftest import id_token_claims, query_of, unsigned_jwt
from crm.tests.test_dynamics import expect_authority
from integrations.models import Connection, Delivery
from testutils import crm_fakes as testing
from testutils.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _push(push_settings, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")


def as_text(body: str) -> str:
    """HubSpot's rich-text task body read as the plain text the other CRMs get."""
    text = body.replace("</p><p>", "\n\n").replace("<br>", "\n")
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def meeting(org, provider: str, owner_id: str, **ids):
    rep = UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep",
                      external_ids={provider: owner_id})
    return testing.budget_meeting(org, rep, **ids)


def test_hubspot_from_connect_to_a_task(admin_client, org, crm_server):
    """Connecting creates the chorus_id / chorus_trackers properties and the custom
    objects HubSpot would otherwise refuse (400 PROPERTY_DOESNT_EXIST, "Unable to
    infer object type"); the first push then lands every default object once."""
    fake = testing.serve(crm_server, testing.FakeHubSpot(), r"/crm.*")
    admin_client.post(reverse("crm-enable", args=["hubspot"]))
    state = admin_client.session["crm_oauth"]["state"]
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "HS-ACCESS", "refresh_token": "HS-REFRESH", "token_type": "bearer", "expires_in": 1800})
    crm_server.expect_request("/oauth/v1/access-tokens/HS-ACCESS").respond_with_json(
        {"hub_id": 123, "user_id": 7, "user": "ops@acme.example", "hub_domain": "acme.hubspot.com",
         "scopes": ["oauth"], "token_type": "access", "app_id": 1, "expires_in": 1790, "token": "HS-ACCESS"})
    response = admin_client.get(reverse("crm-oauth-callback", args=["hubspot"]), {"code": "C", "state": state})
    assert response.status_code == 302
    connection = Connection.objects.get(org=org, provider="hubspot")
    assert connection.config["push_setup_problems"] == {}
    assert connection.config["custom_objects"]["engagement"] == fake.type_ids["chorus_engagement"]
    assert fake.properties["tasks"]["chorus_id"]["hasUniqueValue"]
    assert "chorus_trackers" in fake.properties["deals"]

    e = meeting(org, "hubspot", "77", account="5001", opportunity="9001")
    engagement_push_prepare(engagement=e)
    setup_calls = len(fake.calls)
    testing.drain()
    assert not Delivery.objects.exclude(status="sent").exists()
    [task] = fake.records["tasks"]
    expected = activity_body(content_for(e), provider="salesforce")
    assert as_text(task["properties"]["hs_task_body"]) == expected
    assert task["properties"]["hs_task_subject"] == "Chorus - Wonka and Schrute Farms Connect"
    assert len(fake.records["chorus_engagement"]) == 1 and len(fake.records["chorus_moment"]) == 1
    assert len(fake.calls) - setup_calls == 6  # contact, task, deal, engagement, moment, link: no set-up again


def test_dynamics_from_connect_to_a_task(admin_client, org, crm_server):
    fake = testing.serve(crm_server, testing.FakeDataverse(), r"/api/data/.*")
    expect_authority(crm_server)
    org_url = crm_server.url_for("").rstrip("/")
    response = admin_client.post(reverse("crm-enable", args=["dynamics"]), {"org_url": org_url, "from_options": "1"})
    authorize = query_of(response["Location"])
    id_token = unsigned_jwt(id_token_claims(iss=f"{org_url}/tenant-1/v2.0", aud="ms-client-id", tid="tenant-1",
                                            oid="oid-1", preferred_username="ops@acme.example", name="Olivia",
                                            nonce=authorize["nonce"]))
    crm_server.expect_request("/organizations/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "DYN-ACCESS", "refresh_token": "DYN-REFRESH", "expires_in": 3600,
         "id_token": id_token, "scope": f"{org_url}/user_impersonation"})
    response = admin_client.get(reverse("crm-oauth-callback", args=["dynamics"]),
                                {"code": "C", "state": admin_client.session["crm_oauth"]["state"]})
    assert response.status_code == 302 and Connection.objects.get(org=org).provider == "dynamics"

    opportunity = "6f0e0000-0000-0000-0000-0000000000a1"
    e = meeting(org, "dynamics", "6f0e0000-0000-0000-0000-000000000001",
                account="6f0e0000-0000-0000-0000-0000000000b1", opportunity=opportunity)
    engagement_push_prepare(engagement=e)
    testing.drain()
    assert not Delivery.objects.exclude(status="sent").values_list("kind", "last_error").exists()
    [task] = fake.records["tasks"]
    assert task["description"] == activity_body(content_for(e), provider="salesforce")
    assert task["regardingobjectid_opportunity_task@odata.bind"] == f"/opportunities({opportunity})"
    [engagement] = fake.records["chorus_engagements"]
    assert "chorus_type" not in engagement and engagement["chorus_name"] == "Wonka and Schrute Farms Connect"
