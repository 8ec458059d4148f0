"""HubSpot through hubspot-api-client (urllib3, ``host`` and ``ssl_ca_cert`` from
settings) against a local HTTPS server: OAuth code exchange, refresh, search
paging, associations, 401 and 429/503 with Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import urllib3.util.retry
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import CrmAccount, CrmContact, CrmField, CrmOpportunity
from crm.tests.conftest import query_of, requests_to
from integrations.models import Connection

FIXTURES = Path(__file__).parent / "fixtures" / "hubspot"
NOW = "2026-01-01T00:00:00Z"

pytestmark = pytest.mark.usefixtures("only_crm_sections")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def hs_connection(org, admin_user, crm_server):
    return Connection.objects.create(
        org=org, provider="hubspot", status="ok", connected_by=admin_user, config={"crm_org_id": "4242"},
        secrets={"access_token": "HS-ACCESS-1", "refresh_token": "HS-REFRESH-1",
                 "expires_at": (timezone.now() + timedelta(minutes=20)).isoformat()})


@pytest.fixture
def urllib3_sleeps(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", waits.append)
    return waits


def obj(id_, modified, **props):
    return {"id": id_, "properties": {"hs_lastmodifieddate": modified, "lastmodifieddate": modified, **props},
            "createdAt": NOW, "updatedAt": modified, "archived": False}


def expect_properties(server):
    for native in ("tasks", "contacts", "companies", "deals"):
        server.expect_request(f"/crm/v3/properties/{native}", query_string="").respond_with_json(
            fixture(f"properties_{native}"))


def search_body(native, properties, *, after=None, since_ms=None, modified="hs_lastmodifieddate"):
    body = {"limit": 100, "sorts": [{"propertyName": modified, "direction": "ASCENDING"}], "properties": properties,
            "filterGroups": [{"filters": [{"propertyName": modified, "operator": "GT", "value": since_ms}]}]
            if since_ms else []}
    if after:
        body["after"] = after
    return body


def expect_empty_counts(server, natives=("companies", "deals", "contacts")):
    for native in natives:
        server.expect_request(f"/crm/v3/objects/{native}/search", method="POST",
                              json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]}).respond_with_json(
            {"total": 0, "results": []})


def test_connect_exchanges_code_and_reads_the_portal(admin_client, org, admin_user, crm_server):
    response = admin_client.post(reverse("crm-enable", args=["hubspot"]))
    location, state = response["Location"], admin_client.session["crm_oauth"]["state"]
    assert location.startswith(crm_server.url_for("/oauth/authorize?"))
    assert query_of(location) == {
        "client_id": "hs-client-id", "redirect_uri": "https://chorus.test/integrations/hubspot/oauth/",
        "state": state, "scope": ("oauth crm.objects.companies.read crm.objects.deals.read crm.objects.contacts.read "
                                  "crm.schemas.companies.read crm.schemas.deals.read crm.schemas.contacts.read "
                                  "crm.objects.contacts.write crm.objects.companies.write crm.objects.deals.write "
                                  "crm.objects.custom.read crm.objects.custom.write crm.schemas.custom.read "
                                  "crm.schemas.contacts.write crm.schemas.companies.write crm.schemas.deals.write "
                                  "crm.schemas.custom.write")}
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "HS-ACCESS-1", "refresh_token": "HS-REFRESH-1", "token_type": "bearer", "expires_in": 1800})
    crm_server.expect_request("/oauth/v1/access-tokens/HS-ACCESS-1").respond_with_json(
        {"hub_id": 4242, "user_id": 7, "user": "ops@acme.example", "hub_domain": "acme.hubspot.com",
         "scopes": ["oauth"], "token_type": "access", "app_id": 1, "expires_in": 1790, "token": "HS-ACCESS-1"})

    response = admin_client.get(reverse("crm-oauth-callback", args=["hubspot"]), {"code": "HS-CODE", "state": state})

    assert response.status_code == 302
    (token,) = requests_to(crm_server, "/oauth/v1/token", "POST")
    assert dict(token.form) == {"grant_type": "authorization_code", "code": "HS-CODE",
                                "redirect_uri": "https://chorus.test/integrations/hubspot/oauth/",
                                "client_id": "hs-client-id", "client_secret": "hs-client-secret"}
    conn = Connection.objects.get(org=org, provider="hubspot")
    assert conn.config["crm_org_id"] == "4242" and conn.config["crm_org_name"] == "acme.hubspot.com"
    assert conn.secrets["access_token"] == "HS-ACCESS-1" and conn.secrets["refresh_token"] == "HS-REFRESH-1"
    assert conn.status == "queued" and conn.connected_by == admin_user


def test_denied_consent_on_hubspot(admin_client, org, crm_server):
    admin_client.post(reverse("crm-enable", args=["hubspot"]))
    state = admin_client.session["crm_oauth"]["state"]
    response = admin_client.get(reverse("crm-oauth-callback", args=["hubspot"]),
                                {"error": "access_denied", "state": state}, follow=True)
    assert "HubSpot sign-in was cancelled" in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()


def test_sync_pages_search_results_and_reads_deal_companies(org, hs_connection, crm_server, urllib3_sleeps):
    CrmField.objects.create(org=org, provider="hubspot", object_name="Account", api_name="segment", label="Segment",
                            field_type="Picklist", selected=True)
    expect_properties(crm_server)
    company_props = ["name", "domain", "website", "hs_lastmodifieddate", "segment"]
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST",
                              json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]}).respond_with_json(
        {"total": 3, "results": []})
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST",
                              json=search_body("companies", company_props)).respond_with_json(
        {"total": 3, "results": [obj("11", "2026-01-01T00:00:00Z", name="Acme", domain="acme.com", segment="smb"),
                                 obj("12", "2026-01-02T00:00:00Z", name="Globex", website="https://www.globex.de")],
         "paging": {"next": {"after": "2"}}})
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST",
                              json=search_body("companies", company_props, after="2")).respond_with_json(
        {"total": 3, "results": [obj("13", "2026-01-03T00:00:00Z", name="Initech", segment="enterprise")]})
    deal_props = ["dealname", "dealstage", "amount", "closedate", "hs_is_closed", "hs_is_closed_won",
                  "hs_lastmodifieddate"]
    crm_server.expect_request("/crm/v3/objects/deals/search", method="POST",
                              json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]}).respond_with_json(
        {"total": 1, "results": []})
    crm_server.expect_request("/crm/v3/pipelines/deals").respond_with_json({"results": [{
        "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False, "createdAt": NOW,
        "updatedAt": NOW, "stages": [{"id": "contractsent", "label": "Contract Sent", "displayOrder": 4,
                                      "archived": False, "createdAt": NOW, "updatedAt": NOW, "metadata": {}}]}]})
    crm_server.expect_request("/crm/v3/objects/deals/search", method="POST",
                              json=search_body("deals", deal_props)).respond_with_json(
        {"total": 1, "results": [obj("91", "2026-01-04T00:00:00Z", dealname="Acme expansion", dealstage="contractsent",
                                     amount="5000", closedate="2026-02-28T00:00:00Z", hs_is_closed="false",
                                     hs_is_closed_won="false")]})
    crm_server.expect_request("/crm/v4/associations/deals/companies/batch/read", method="POST",
                              json={"inputs": [{"id": "91"}]}).respond_with_json(
        {"status": "COMPLETE", "startedAt": NOW, "completedAt": NOW, "results": [
            {"from": {"id": "91"}, "to": [{"toObjectId": "11", "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": None}]}]}]})
    contact_props = ["email", "firstname", "lastname", "jobtitle", "associatedcompanyid", "lifecyclestage",
                     "lastmodifieddate"]
    crm_server.expect_request("/crm/v3/objects/contacts/search", method="POST",
                              json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]}).respond_with_json(
        {"total": 2, "results": []})
    crm_server.expect_request("/crm/v3/objects/contacts/search", method="POST",
                              json=search_body("contacts", contact_props, modified="lastmodifieddate")
                              ).respond_with_json({"total": 2, "results": [
                                  obj("501", "2026-01-05T00:00:00Z", email="Ann@Acme.com", firstname="Ann",
                                      lastname="Lee", associatedcompanyid="11", lifecyclestage="customer"),
                                  obj("502", "2026-01-05T00:00:00Z", email="lead@globex.de", firstname="Leo",
                                      lifecyclestage="lead")]})

    result = services.crm_sync(connection=hs_connection)

    assert result["ok"], result
    assert result["counts"] == {"Account": 3, "Opportunity": 1, "Contact": 2, "Lead": 0}
    searches = requests_to(crm_server, "/crm/v3/objects/companies/search")
    assert all(r.headers["Authorization"] == "Bearer HS-ACCESS-1" for r in searches)
    acme = CrmAccount.objects.get(org=org, provider="hubspot", remote_id="11")
    assert acme.custom == {"segment": "smb"} and acme.website == "acme.com"
    assert set(acme.domains.values_list("domain", flat=True)) == {"acme.com"}
    deal = CrmOpportunity.objects.get(org=org, remote_id="91")
    assert (deal.stage, str(deal.amount), str(deal.close_date), deal.account) == (
        "Contract Sent", "5000.00", "2026-02-28", acme)
    ann = CrmContact.objects.get(org=org, remote_id="501")
    assert (ann.email, ann.name, ann.account, ann.kind) == ("ann@acme.com", "Ann Lee", acme, "contact")
    assert CrmContact.objects.get(org=org, remote_id="502").kind == "lead"
    hs_connection.refresh_from_db()
    assert hs_connection.config["fields_import"]["warnings"] == []
    fields = {f.api_name: f for f in CrmField.objects.filter(org=org, provider="hubspot")}
    assert (fields["arr"].field_type, fields["lead_grade"].field_type, fields["is_strategic"].field_type) == (
        "Currency", "Multipicklist", "Boolean")
    assert fields["lead_grade"].object_name == "Lead" and not fields["renewal_at"].supported
    assert "name" not in fields  # HubSpot's own properties are not custom fields
    assert urllib3_sleeps == []


def test_expired_token_is_refreshed_before_use(org, hs_connection, crm_server, urllib3_sleeps):
    hs_connection.secrets = {**hs_connection.secrets, "expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()}
    hs_connection.save()
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "HS-ACCESS-2", "refresh_token": "HS-REFRESH-2", "token_type": "bearer", "expires_in": 1800})
    expect_properties(crm_server)
    expect_empty_counts(crm_server)

    assert services.crm_sync(connection=hs_connection)["ok"]

    (refresh,) = requests_to(crm_server, "/oauth/v1/token", "POST")
    assert dict(refresh.form) == {"grant_type": "refresh_token", "refresh_token": "HS-REFRESH-1",
                                  "client_id": "hs-client-id", "client_secret": "hs-client-secret"}
    assert all(r.headers["Authorization"] == "Bearer HS-ACCESS-2"
               for r, _ in crm_server.log if r.path.startswith("/crm/"))
    hs_connection.refresh_from_db()
    assert hs_connection.secrets["access_token"] == "HS-ACCESS-2"
    assert hs_connection.secrets["refresh_token"] == "HS-REFRESH-2"


def test_401_refreshes_then_repeats_the_call(org, hs_connection, crm_server, urllib3_sleeps):
    crm_server.expect_oneshot_request("/crm/v3/properties/tasks", headers={"Authorization": "Bearer HS-ACCESS-1"}
                                      ).respond_with_json({"status": "error", "category": "EXPIRED_AUTHENTICATION"},
                                                          status=401)
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "HS-ACCESS-2", "refresh_token": "HS-REFRESH-1", "token_type": "bearer", "expires_in": 1800})
    expect_properties(crm_server)
    expect_empty_counts(crm_server)
    assert services.crm_sync(connection=hs_connection)["ok"]
    assert [r.headers["Authorization"] for r in requests_to(crm_server, "/crm/v3/properties/tasks")] == [
        "Bearer HS-ACCESS-1", "Bearer HS-ACCESS-2"]


def test_revoked_refresh_token_asks_to_reconnect(admin_client, org, hs_connection, crm_server, urllib3_sleeps):
    crm_server.expect_request("/crm/v3/properties/tasks").respond_with_json({"status": "error"}, status=401)
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}, status=400)
    assert not services.crm_sync(connection=hs_connection)["ok"]
    hs_connection.refresh_from_db()
    assert hs_connection.status == "failed" and hs_connection.config["needs_reconnect"]
    assert hs_connection.last_error == ("HubSpot no longer accepts Chorus's sign-in (it expired or was revoked). "
                                        "Reconnect: click Enable next to HubSpot Connect and sign in again.")
    assert "Reconnect needed" in admin_client.get(reverse("settings-integrations")).content.decode()


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_are_retried_after_retry_after(org, hs_connection, crm_server, urllib3_sleeps, status):
    crm_server.expect_oneshot_request("/crm/v3/properties/tasks").respond_with_json(
        {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}, status=status,
        headers={"Retry-After": "4"})
    expect_properties(crm_server)
    expect_empty_counts(crm_server)
    assert services.crm_sync(connection=hs_connection)["ok"]
    assert 4 in urllib3_sleeps
    assert len(requests_to(crm_server, "/crm/v3/properties/tasks")) == 2


def test_search_restarts_past_the_10000_result_window(org, hs_connection, crm_server, urllib3_sleeps, monkeypatch):
    from crm.providers.hubspot import connect as hubspot

    monkeypatch.setattr(hubspot, "PAGE_SIZE", 2)
    monkeypatch.setattr(hubspot, "SEARCH_WINDOW", 3)  # stands in for HubSpot's 10,000
    props = ["name", "domain", "website", "hs_lastmodifieddate"]
    expect_properties(crm_server)
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST",
                              json={"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]}).respond_with_json(
        {"total": 3, "results": []})
    first = {**search_body("companies", props), "limit": 2}
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST", json=first).respond_with_json(
        {"total": 3, "results": [obj("1", "2026-01-01T00:00:00Z", name="A"),
                                 obj("2", "2026-01-02T00:00:00Z", name="B")],
         "paging": {"next": {"after": "2"}}})
    jan_2_ms = str(int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1000))
    restart = {**first, "filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": jan_2_ms}]}]}
    crm_server.expect_request("/crm/v3/objects/companies/search", method="POST", json=restart).respond_with_json(
        {"total": 2, "results": [obj("2", "2026-01-02T00:00:00Z", name="B"),
                                 obj("3", "2026-01-03T00:00:00Z", name="C")]})
    expect_empty_counts(crm_server, natives=("deals", "contacts"))

    result = services.crm_sync(connection=hs_connection)

    assert result["ok"], result
    assert sorted(CrmAccount.objects.filter(org=org).values_list("remote_id", flat=True)) == ["1", "2", "3"]
