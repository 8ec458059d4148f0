"""Microsoft Dynamics: the org URL check, msal's authorization-code flow against a
local authority (``instance_discovery=False``), the Dataverse Web API through
requests: paging by ``@odata.nextLink``, refresh, 401 and 429."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import CrmAccount, CrmField, CrmOpportunity
from crm.tests.conftest import id_token_claims, query_of, requests_to, unsigned_jwt
from integrations.models import Connection

API = "/api/data/v9.2"


def expect_authority(server):
    base = server.url_for("").rstrip("/")
    server.expect_request("/organizations/v2.0/.well-known/openid-configuration").respond_with_json({
        "authorization_endpoint": f"{base}/organizations/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/organizations/oauth2/v2.0/token",
        "issuer": f"{base}/tenant-1/v2.0", "jwks_uri": f"{base}/keys"})


@pytest.fixture
def dyn_connection(org, admin_user, crm_server):
    return Connection.objects.create(
        org=org, provider="dynamics", status="ok", connected_by=admin_user,
        config={"org_url": crm_server.url_for("").rstrip("/"), "crm_org_id": "tenant-1"},
        secrets={"access_token": "DYN-ACCESS-1", "refresh_token": "DYN-REFRESH-1",
                 "expires_at": (timezone.now() + timedelta(minutes=30)).isoformat()})


@pytest.mark.parametrize("url,sentence", [
    ("", "Enter your organization's Dynamics URL"),
    ("http://acme.crm.dynamics.com", "The Dynamics URL must start with https://"),
    ("https://crm.acme-onprem.local", "isn't a Dynamics 365 online address"),
    ("https://evil.example/acme.crm.dynamics.com", "isn't a Dynamics 365 online address"),
    ("https://user:pw@acme.crm.dynamics.com", "can't contain a user name or password"),
    ("https://acme.crm.dynamics.com.evil.example", "isn't a Dynamics 365 online address"),
])
def test_bad_dynamics_url_is_a_sentence(admin_client, org, crm_server, url, sentence):
    response = admin_client.post(reverse("crm-enable", args=["dynamics"]), {"org_url": url, "from_options": "1"})
    assert response.status_code == 400
    assert sentence in html.unescape(response.content.decode())
    assert crm_server.log == [] and "crm_oauth" not in admin_client.session


def test_enable_page_asks_for_the_url(admin_client, crm_server):
    page = admin_client.get(reverse("crm-enable", args=["dynamics"])).content.decode()
    assert "Your organization&#x27;s Dynamics URL" in page and "https://EXAMPLE.crm.dynamics.com" in page
    assert ">Connect<" in page


def test_connect_with_microsoft_sign_in(admin_client, org, admin_user, crm_server):
    expect_authority(crm_server)
    org_url = crm_server.url_for("").rstrip("/")
    response = admin_client.post(reverse("crm-enable", args=["dynamics"]), {"org_url": org_url + "/main.aspx",
                                                                             "from_options": "1"})
    assert response.status_code == 302
    authorize = query_of(response["Location"])
    assert response["Location"].startswith(crm_server.url_for("/organizations/oauth2/v2.0/authorize?"))
    assert authorize["client_id"] == "ms-client-id" and authorize["response_type"] == "code"
    assert authorize["redirect_uri"] == "https://chorus.test/integrations/dynamics/oauth/"
    assert set(authorize["scope"].split()) == {f"{org_url}/user_impersonation", "offline_access", "openid", "profile"}
    assert authorize["code_challenge_method"] == "S256" and authorize["prompt"] == "select_account"
    state = admin_client.session["crm_oauth"]["state"]
    assert authorize["state"] == state

    id_token = unsigned_jwt(id_token_claims(iss=f"{org_url}/tenant-1/v2.0", aud="ms-client-id", tid="tenant-1",
                                            oid="oid-1", preferred_username="Ops@Acme.example", name="Olivia",
                                            nonce=authorize["nonce"]))
    crm_server.expect_request("/organizations/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "DYN-ACCESS-1", "refresh_token": "DYN-REFRESH-1",
         "expires_in": 3600, "id_token": id_token, "scope": f"{org_url}/user_impersonation"})
    crm_server.expect_request(f"{API}/WhoAmI").respond_with_json(
        {"UserId": "user-guid", "OrganizationId": "dyn-org-guid", "BusinessUnitId": "bu"})

    response = admin_client.get(reverse("crm-oauth-callback", args=["dynamics"]), {"code": "MS-CODE", "state": state},
                                follow=True)

    assert "Microsoft Dynamics is connected" in response.content.decode()
    (token,) = requests_to(crm_server, "/organizations/oauth2/v2.0/token", "POST")
    assert token.form["grant_type"] == "authorization_code" and token.form["code"] == "MS-CODE"
    assert token.form["client_secret"] == "ms-client-secret" and token.form["code_verifier"]
    assert token.form["redirect_uri"] == "https://chorus.test/integrations/dynamics/oauth/"
    (who,) = requests_to(crm_server, f"{API}/WhoAmI")
    assert who.headers["Authorization"] == "Bearer DYN-ACCESS-1"
    conn = Connection.objects.get(org=org, provider="dynamics")
    assert conn.config["org_url"] == org_url and conn.config["crm_org_id"] == "tenant-1"
    assert conn.config["dynamics_org_id"] == "dyn-org-guid" and conn.config["crm_username"] == "ops@acme.example"
    assert conn.secrets["access_token"] == "DYN-ACCESS-1" and conn.secrets["refresh_token"] == "DYN-REFRESH-1"


def test_denied_consent_on_microsoft(admin_client, org, crm_server):
    expect_authority(crm_server)
    admin_client.post(reverse("crm-enable", args=["dynamics"]),
                      {"org_url": crm_server.url_for("").rstrip("/"), "from_options": "1"})
    state = admin_client.session["crm_oauth"]["state"]
    response = admin_client.get(reverse("crm-oauth-callback", args=["dynamics"]), {
        "error": "access_denied", "error_description": "AADSTS65004: User declined to consent", "state": state,
    }, follow=True)
    assert "Microsoft Dynamics sign-in was cancelled" in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()


def expect_describes(server):
    for logical in ("task", "lead", "account", "opportunity"):
        value = []
        if logical == "account":
            value = [
                {"LogicalName": "new_tier", "AttributeType": "Picklist", "IsCustomAttribute": True, "SourceType": 0,
                 "AttributeTypeName": {"Value": "PicklistType"}, "AttributeOf": None,
                 "DisplayName": {"UserLocalizedLabel": {"Label": "Tier"}}},
                {"LogicalName": "new_notes", "AttributeType": "Memo", "IsCustomAttribute": True, "SourceType": 0,
                 "AttributeTypeName": {"Value": "MemoType"}, "AttributeOf": None,
                 "DisplayName": {"UserLocalizedLabel": {"Label": "Notes"}}},
                {"LogicalName": "name", "AttributeType": "String", "IsCustomAttribute": False, "SourceType": 0,
                 "AttributeTypeName": {"Value": "StringType"}, "AttributeOf": None,
                 "DisplayName": {"UserLocalizedLabel": {"Label": "Account Name"}}},
            ]
        server.expect_request(f"{API}/EntityDefinitions(LogicalName='{logical}')/Attributes").respond_with_json(
            {"value": value})
    server.expect_request(
        f"{API}/EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        query_string={"$select": "LogicalName",
                      "$expand": "OptionSet($select=Options),GlobalOptionSet($select=Options)"},
    ).respond_with_json({"value": [{"LogicalName": "new_tier", "GlobalOptionSet": None, "OptionSet": {"Options": [
        {"Value": 100000000, "Label": {"UserLocalizedLabel": {"Label": "Silver"}}},
        {"Value": 100000001, "Label": {"UserLocalizedLabel": {"Label": "Gold"}}}]}}]})


def test_sync_pages_with_next_link(org, dyn_connection, crm_server, sleeps):
    CrmField.objects.create(org=org, provider="dynamics", object_name="Account", api_name="new_tier", label="Tier",
                            field_type="Picklist", selected=True)
    expect_describes(crm_server)
    base = crm_server.url_for("").rstrip("/")
    crm_server.expect_request(f"{API}/accounts", query_string={
        "$select": "accountid,name,websiteurl,modifiedon,new_tier", "$orderby": "modifiedon asc"}).respond_with_json({
            "value": [{"accountid": "a-1", "name": "Contoso", "websiteurl": "https://contoso.com",
                       "modifiedon": "2026-01-01T00:00:00Z", "new_tier": 100000001,
                       "new_tier@OData.Community.Display.V1.FormattedValue": "Gold"}],
            "@odata.nextLink": f"{base}{API}/accounts?$skiptoken=PAGE2"})
    crm_server.expect_request(f"{API}/accounts", query_string={"$skiptoken": "PAGE2"}).respond_with_json({
        "value": [{"accountid": "a-2", "name": "Fabrikam", "websiteurl": "", "modifiedon": "2026-01-02T00:00:00Z"}]})
    crm_server.expect_request(f"{API}/opportunities").respond_with_json({"value": [
        {"opportunityid": "o-1", "name": "Contoso renewal", "salesstage": 2,
         "salesstage@OData.Community.Display.V1.FormattedValue": "Propose", "estimatedvalue": 2500.0,
         "estimatedclosedate": "2026-04-30", "statecode": 0, "_parentaccountid_value": "a-1",
         "modifiedon": "2026-01-03T00:00:00Z"}]})
    crm_server.expect_request(f"{API}/contacts").respond_with_json({"value": []})
    crm_server.expect_request(f"{API}/leads").respond_with_json({"value": []})

    result = services.crm_sync(connection=dyn_connection)

    assert result["ok"], result
    assert result["counts"] == {"Account": 2, "Opportunity": 1, "Contact": 0, "Lead": 0}
    first = requests_to(crm_server, f"{API}/accounts")[0]
    assert first.headers["Prefer"] == ('odata.include-annotations="OData.Community.Display.V1.FormattedValue",'
                                       "odata.maxpagesize=5000")
    assert first.headers["Authorization"] == "Bearer DYN-ACCESS-1"
    (leads,) = requests_to(crm_server, f"{API}/leads")
    assert leads.args["$filter"] == "statecode eq 0"
    contoso = CrmAccount.objects.get(org=org, provider="dynamics", remote_id="a-1")
    assert contoso.custom == {"new_tier": "Gold"}
    opp = CrmOpportunity.objects.get(org=org, remote_id="o-1")
    assert (opp.stage, str(opp.amount), opp.account, opp.is_closed) == ("Propose", "2500.00", contoso, False)
    fields = {f.api_name: f for f in CrmField.objects.filter(org=org, provider="dynamics")}
    assert fields["new_tier"].supported and not fields["new_notes"].supported
    assert fields["new_tier"].picklist_values == ["Silver", "Gold"]  # labels, as the sync stores and filters show
    assert fields["new_tier"].picklist_codes == {"Silver": 100000000, "Gold": 100000001}
    assert fields["new_notes"].field_type == "Multiple Lines of Text" and "name" not in fields


def test_401_refreshes_through_msal_and_429_waits(org, dyn_connection, crm_server, sleeps):
    expect_authority(crm_server)
    crm_server.expect_oneshot_request(f"{API}/EntityDefinitions(LogicalName='task')/Attributes").respond_with_json(
        {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}, status=429,
        headers={"Retry-After": "2"})
    crm_server.expect_oneshot_request(f"{API}/EntityDefinitions(LogicalName='task')/Attributes",
                                      headers={"Authorization": "Bearer DYN-ACCESS-1"}).respond_with_json(
        {"error": {"code": "0x80040220", "message": "token expired"}}, status=401)
    crm_server.expect_request("/organizations/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "DYN-ACCESS-2", "refresh_token": "DYN-REFRESH-2", "expires_in": 3600})
    expect_describes(crm_server)
    for entity_set in ("accounts", "opportunities", "contacts", "leads"):
        crm_server.expect_request(f"{API}/{entity_set}").respond_with_json({"value": []})

    result = services.crm_sync(connection=dyn_connection)

    assert result["ok"], result
    assert sleeps == [2.0]
    (refresh,) = requests_to(crm_server, "/organizations/oauth2/v2.0/token", "POST")
    assert refresh.form["grant_type"] == "refresh_token" and refresh.form["refresh_token"] == "DYN-REFRESH-1"
    assert requests_to(crm_server, f"{API}/leads")[0].headers["Authorization"] == "Bearer DYN-ACCESS-2"
    dyn_connection.refresh_from_db()
    assert dyn_connection.secrets["access_token"] == "DYN-ACCESS-2"
    assert dyn_connection.secrets["refresh_token"] == "DYN-REFRESH-2"


def test_expired_refresh_token_asks_to_reconnect(org, dyn_connection, crm_server, sleeps):
    expect_authority(crm_server)
    crm_server.expect_request(f"{API}/EntityDefinitions(LogicalName='task')/Attributes").respond_with_json(
        {"error": {"message": "expired"}}, status=401)
    crm_server.expect_request("/organizations/oauth2/v2.0/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "AADSTS700082: The refresh token has expired"}, status=400)
    assert not services.crm_sync(connection=dyn_connection)["ok"]
    dyn_connection.refresh_from_db()
    assert dyn_connection.config["needs_reconnect"] and dyn_connection.status == "failed"
    assert "Reconnect: click Enable next to Microsoft Dynamics Connect" in dyn_connection.last_error


def test_sign_in_with_microsoft_matches_the_tenant_and_email(client, org, crm_server):
    from testutils.factories import UserFactory

    expect_authority(crm_server)
    Connection.objects.create(org=org, provider="dynamics", status="ok",
                              config={"org_url": "https://acme.crm.dynamics.com", "crm_org_id": "tenant-1"})
    me = UserFactory(org=org, email="ops@acme.example")
    response = client.get(reverse("crm-login", args=["dynamics"]))
    authorize = query_of(response["Location"])
    assert "User.Read" in authorize["scope"].split() and "prompt" not in authorize
    base = crm_server.url_for("").rstrip("/")
    id_token = unsigned_jwt(id_token_claims(iss=f"{base}/tenant-1/v2.0", aud="ms-client-id", tid="tenant-1",
                                            preferred_username="OPS@acme.example", nonce=authorize["nonce"]))
    crm_server.expect_request("/organizations/oauth2/v2.0/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "access_token": "X", "expires_in": 3600, "id_token": id_token})

    response = client.get(reverse("crm-oauth-callback", args=["dynamics"]),
                          {"code": "C", "state": authorize["state"]})

    assert response.status_code == 302 and int(client.session["_auth_user_id"]) == me.pk


def test_unreachable_microsoft_sign_in_is_a_sentence(admin_client, org, crm_server):
    # No OpenID configuration served: msal can't start the flow.
    response = admin_client.post(reverse("crm-enable", args=["dynamics"]),
                                 {"org_url": "https://acme.crm.dynamics.com", "from_options": "1"})
    assert response.status_code == 400
    assert "Chorus could not reach Microsoft sign-in" in response.content.decode()
