"""Salesforce through simple-salesforce against a local HTTPS server (trustme):
OAuth code exchange, edition check, refresh, REST paging, Bulk API 2.0, 401 and
429/503 handling. Each test asserts the requests Salesforce would receive."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.urls import reverse

from crm import services
from crm.models import AccountDomain, CrmAccount, CrmContact, CrmField, CrmOpportunity, CrmSyncCursor
from crm.providers.salesforce import connect as sf
from crm.tests.conftest import query_of, requests_to
from integrations.models import Connection

FIXTURES = Path(__file__).parent / "fixtures" / "salesforce"
API = "/services/data/v59.0"
ORG_QUERY = "SELECT Id, Name, OrganizationType, IsSandbox FROM Organization"

pytestmark = pytest.mark.usefixtures("only_crm_sections")


def describe(name: str) -> dict:
    return json.loads((FIXTURES / f"describe_{name}.json").read_text())


def expect_org(server, edition="Enterprise Edition"):
    server.expect_request(f"{API}/query/", query_string={"q": ORG_QUERY}).respond_with_json(
        {"totalSize": 1, "done": True, "records": [
            {"attributes": {"type": "Organization"}, "Id": "00DORG000000001", "Name": "Acme Corp",
             "OrganizationType": edition, "IsSandbox": False}]})


def expect_token_exchange(server, *, access="ACCESS-1", refresh="REFRESH-1"):
    base = server.url_for("").rstrip("/")
    server.expect_request("/services/oauth2/token", method="POST").respond_with_json({
        "access_token": access, "refresh_token": refresh, "instance_url": base,
        "id": f"{base}/id/00DORG000000001/005USER00000001", "token_type": "Bearer", "issued_at": "1700000000000"})
    server.expect_request("/id/00DORG000000001/005USER00000001").respond_with_json({
        "organization_id": "00DORG000000001", "user_id": "005USER00000001", "email": "ops@acme.example",
        "display_name": "Olivia Ops"})


def start_connect(client, **post):
    response = client.post(reverse("crm-enable", args=["salesforce"]), post)
    assert response.status_code == 302
    return response["Location"], client.session["crm_oauth"]["state"]


@pytest.fixture
def sf_connection(org, admin_user, crm_server):
    base = crm_server.url_for("").rstrip("/")
    return Connection.objects.create(
        org=org, provider="salesforce", status="ok", connected_by=admin_user,
        config={"login_url": base, "instance_url": base, "crm_org_id": "00DORG000000001"},
        secrets={"access_token": "ACCESS-1", "refresh_token": "REFRESH-1"})


# --- Connect ------------------------------------------------------------------------------


def test_connect_exchanges_code_checks_edition_and_stores_encrypted_tokens(
        admin_client, org, admin_user, crm_server, django_capture_on_commit_callbacks):
    location, state = start_connect(admin_client)
    base = crm_server.url_for("").rstrip("/")
    assert location.startswith(f"{base}/services/oauth2/authorize?")
    assert query_of(location) == {
        "response_type": "code", "client_id": "sf-client-id", "state": state, "scope": "api refresh_token id",
        "redirect_uri": "https://chorus.test/integrations/salesforce/oauth/", "prompt": "login consent"}

    expect_token_exchange(crm_server)
    expect_org(crm_server)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.get(reverse("crm-oauth-callback", args=["salesforce"]),
                                    {"code": "CODE-1", "state": state})
    assert response.status_code == 302 and response["Location"].endswith("/settings/integrations/#crm-connect")

    (token_request,) = requests_to(crm_server, "/services/oauth2/token", "POST")
    assert dict(token_request.form) == {
        "grant_type": "authorization_code", "code": "CODE-1", "client_id": "sf-client-id",
        "client_secret": "sf-client-secret", "redirect_uri": "https://chorus.test/integrations/salesforce/oauth/"}
    (org_query,) = requests_to(crm_server, f"{API}/query/")
    assert org_query.headers["Authorization"] == "Bearer ACCESS-1"

    conn = Connection.objects.get(org=org, provider="salesforce")
    assert conn.status == "queued" and conn.connected_by == admin_user
    assert conn.secrets == {"access_token": "ACCESS-1", "refresh_token": "REFRESH-1"}
    assert conn.config["instance_url"] == base and conn.config["edition"] == "Enterprise Edition"
    assert conn.config["crm_org_id"] == "00DORG000000001"
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM integrations_connection WHERE id = %s", [conn.pk])
        raw = cursor.fetchone()[0]
    assert "ACCESS-1" not in raw and "REFRESH-1" not in raw
    assert len(callbacks) == 1  # the first sync is queued once the transaction commits

    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert ">Enabled<" in page and "Olivia Ops" not in page and "Install Salesforce Package" in page
    assert "ACCESS-1" not in page


def test_sandbox_and_my_domain_login_urls(admin_client, crm_server, settings):
    location, _ = start_connect(admin_client, environment="mydomain", my_domain="https://acme.my.salesforce.com/x",
                                from_options="1")
    assert location.startswith("https://acme.my.salesforce.com/services/oauth2/authorize?")
    settings.SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
    location, _ = start_connect(admin_client, environment="sandbox", from_options="1")
    assert location.startswith("https://test.salesforce.com/services/oauth2/authorize?")


@pytest.mark.parametrize("my_domain", ["http://acme.my.salesforce.com", "https://crm.acme-onprem.local",
                                       "acme.my.salesforce.com"])
def test_bad_my_domain_is_refused_with_a_sentence(admin_client, crm_server, my_domain):
    response = admin_client.post(reverse("crm-enable", args=["salesforce"]),
                                 {"environment": "mydomain", "my_domain": my_domain, "from_options": "1"})
    assert response.status_code == 400
    assert "My Domain" in response.content.decode() or "https://" in response.content.decode()
    assert "crm_oauth" not in admin_client.session


def test_denied_consent_says_so(admin_client, org, crm_server):
    _, state = start_connect(admin_client)
    response = admin_client.get(reverse("crm-oauth-callback", args=["salesforce"]),
                                {"error": "access_denied", "error_description": "end-user denied authorization",
                                 "state": state}, follow=True)
    assert response.status_code == 200
    assert "Salesforce sign-in was cancelled: access to Chorus was not allowed" in response.content.decode()
    assert not Connection.objects.filter(org=org).exists()
    assert crm_server.log == []


def test_wrong_state_is_refused(admin_client, org, crm_server):
    start_connect(admin_client)
    response = admin_client.get(reverse("crm-oauth-callback", args=["salesforce"]),
                                {"code": "CODE-1", "state": "forged"}, follow=True)
    assert "This sign-in link expired or was already used" in response.content.decode()
    assert crm_server.log == [] and not Connection.objects.filter(org=org).exists()


def test_professional_edition_is_refused(admin_client, org, crm_server):
    _, state = start_connect(admin_client)
    expect_token_exchange(crm_server)
    expect_org(crm_server, edition="Professional Edition")
    response = admin_client.get(reverse("crm-oauth-callback", args=["salesforce"]),
                                {"code": "CODE-1", "state": state}, follow=True)
    page = response.content.decode()
    assert "This Salesforce org is Professional Edition. Chorus needs Enterprise, Unlimited or Developer" in page
    assert not Connection.objects.filter(org=org).exists()


def test_rejected_code_is_a_sentence_not_a_500(admin_client, org, crm_server):
    _, state = start_connect(admin_client)
    crm_server.expect_request("/services/oauth2/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "expired authorization code"}, status=400)
    response = admin_client.get(reverse("crm-oauth-callback", args=["salesforce"]),
                                {"code": "OLD", "state": state}, follow=True)
    assert "Salesforce refused the sign-in: expired authorization code" in response.content.decode()


def test_only_one_crm_at_a_time(admin_client, org, sf_connection, crm_server):
    response = admin_client.post(reverse("crm-enable", args=["hubspot"]), follow=True)
    assert "Salesforce is connected. Chorus connects one CRM at a time" in response.content.decode()


# --- Sync ---------------------------------------------------------------------------------


def expect_describes(server):
    for name in ("Task", "Lead", "Account", "Opportunity", "Contact"):
        server.expect_request(f"{API}/sobjects/{name}/describe").respond_with_json(describe(name))


def expect_count(server, soql_from: str, total: int):
    server.expect_request(f"{API}/query/", query_string={"q": f"SELECT COUNT() FROM {soql_from}"}).respond_with_json(
        {"totalSize": total, "done": True, "records": []})


ACCOUNT_SOQL = ("SELECT Id, Name, Website, LastModifiedDate, DOZISF__ZoomInfo_Id__c, Tier__c, Health_Score__c "
                "FROM Account ORDER BY LastModifiedDate")
OPP_SOQL = ("SELECT Id, Name, StageName, Amount, CloseDate, IsClosed, IsWon, AccountId, LastModifiedDate "
            "FROM Opportunity")


def account(i, website, zoominfo, tier, modified):
    return {"attributes": {"type": "Account"}, "Id": f"001A{i}", "Name": f"Account {i}", "Website": website,
            "LastModifiedDate": modified, "DOZISF__ZoomInfo_Id__c": zoominfo, "Tier__c": tier,
            "Health_Score__c": 71.5}


def program_full_sync(server):
    expect_describes(server)
    expect_count(server, "Account", 3)
    server.expect_request(f"{API}/query/", query_string={"q": ACCOUNT_SOQL}).respond_with_json({
        "totalSize": 3, "done": False, "nextRecordsUrl": f"{API}/query/01gPAGE2-2000",
        "records": [account(1, "https://www.mail.acme.co.uk", "ZI-1", "Gold", "2026-01-01T10:00:00.000+0000"),
                    account(2, "globex.example", None, None, "2026-01-02T10:00:00.000+0000")]})
    server.expect_request(f"{API}/query/01gPAGE2-2000").respond_with_json({
        "totalSize": 3, "done": True,
        "records": [account(3, "", "ZI-3", "Silver", "2026-01-03T10:00:00.000+0000")]})
    # Opportunities: above the Bulk threshold → one Bulk API 2.0 query job, two result pages.
    expect_count(server, "Opportunity", 2500)
    server.expect_request(f"{API}/jobs/query", method="POST").respond_with_json(
        {"id": "750JOB", "operation": "query", "state": "UploadComplete"})
    server.expect_request(f"{API}/jobs/query/750JOB", method="GET").respond_with_json(
        {"id": "750JOB", "state": "JobComplete"})
    header = "Id,Name,StageName,Amount,CloseDate,IsClosed,IsWon,AccountId,LastModifiedDate\n"
    server.expect_request(f"{API}/jobs/query/750JOB/results", query_string={"maxRecords": "10000"}).respond_with_data(
        header + '006A1,"Big, deal",Negotiation,12000.5,2026-03-31,false,false,001A1,2026-01-05T00:00:00.000Z\n',
        headers={"Sforce-Locator": "LOC2", "Sforce-NumberOfRecords": "1"}, content_type="text/csv")
    server.expect_request(f"{API}/jobs/query/750JOB/results",
                          query_string={"maxRecords": "10000", "locator": "LOC2"}).respond_with_data(
        header + "006A2,Renewal,Closed Won,,2026-01-01,true,true,001A9,2026-01-04T00:00:00.000Z\n",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"}, content_type="text/csv")
    expect_count(server, "Contact", 1)
    server.expect_request(f"{API}/query/", query_string={
        "q": "SELECT Id, Email, Name, Title, AccountId, LastModifiedDate FROM Contact ORDER BY LastModifiedDate",
    }).respond_with_json({"totalSize": 1, "done": True, "records": [
        {"Id": "003C1", "Email": "Pat@Mail.Acme.co.uk", "Name": "Pat Buyer", "Title": "CFO", "AccountId": "001A1",
         "LastModifiedDate": "2026-01-06T00:00:00.000+0000"}]})
    expect_count(server, "Lead WHERE IsConverted = false", 0)


def test_full_sync_rest_paging_bulk_and_custom_fields(org, sf_connection, crm_server, sleeps, monkeypatch):
    monkeypatch.setattr(sf, "BULK_PAGE_SIZE", 10000)
    # The admin imported two Account fields; one unsupported field can't be selected.
    CrmField.objects.create(org=org, provider="salesforce", object_name="Account", api_name="Tier__c",
                            label="Customer Tier", field_type="Picklist", selected=True)
    CrmField.objects.create(org=org, provider="salesforce", object_name="Account", api_name="Health_Score__c",
                            label="Health Score", field_type="Formula", selected=True)
    program_full_sync(crm_server)

    result = services.crm_sync(connection=sf_connection)

    assert result["ok"], result
    assert result["counts"] == {"Account": 3, "Opportunity": 2, "Contact": 1, "Lead": 0}
    bulk_create = requests_to(crm_server, f"{API}/jobs/query", "POST")[0]
    assert json.loads(bulk_create.data) == {"operation": "query", "query": OPP_SOQL, "columnDelimiter": "COMMA",
                                            "lineEnding": "LF"}
    assert bulk_create.headers["Authorization"] == "Bearer ACCESS-1"
    assert len(requests_to(crm_server, f"{API}/jobs/query/750JOB/results")) == 2
    assert all(r.headers["Authorization"] == "Bearer ACCESS-1" for r, _ in crm_server.log if r.path.startswith(API))

    a1 = CrmAccount.objects.get(org=org, remote_id="001A1")
    assert a1.zoominfo_id == "ZI-1" and a1.custom == {"Tier__c": "Gold", "Health_Score__c": 71.5}
    assert CrmAccount.objects.get(org=org, remote_id="001A2").zoominfo_id == ""
    assert {(d.account.remote_id, d.domain, d.weight) for d in AccountDomain.objects.filter(org=org)} == {
        ("001A1", "acme.co.uk", 1), ("001A2", "globex.example", 1)}
    big = CrmOpportunity.objects.get(org=org, remote_id="006A1")
    assert (big.name, big.stage, big.amount, str(big.close_date), big.is_closed, big.account) == (
        "Big, deal", "Negotiation", Decimal("12000.50"), "2026-03-31", False, a1)
    renewal = CrmOpportunity.objects.get(org=org, remote_id="006A2")
    assert renewal.is_closed and renewal.is_won and renewal.amount is None and renewal.account is None
    contact = CrmContact.objects.get(org=org, remote_id="003C1")
    assert (contact.email, contact.kind, contact.account) == ("pat@mail.acme.co.uk", "contact", a1)

    cursor = CrmSyncCursor.objects.get(org=org, provider="salesforce", object_name="Account")
    assert cursor.modified_since.isoformat() == "2026-01-03T10:00:00+00:00" and cursor.records_synced == 3
    fields = {f.api_name: f for f in CrmField.objects.filter(org=org)}
    assert fields["Notes__c"].supported is False
    assert "Text Area fields can't be used" in fields["Notes__c"].unsupported_reason
    assert fields["Health_Score__c"].field_type == "Formula"
    assert fields["Forecast_Category__c"].field_type == "Multipicklist"
    assert fields["Tier__c"].picklist_values == ["Gold", "Silver"]
    assert fields["Next_Call__c"].supported is False and fields["Lead_Score__c"].field_type == "Number"
    sf_connection.refresh_from_db()
    assert sf_connection.status == "ok" and sf_connection.last_error == "" and sf_connection.last_run_at
    assert "progress" not in sf_connection.config
    assert sleeps == []


def test_incremental_sync_asks_for_changes_since_the_cursor(org, sf_connection, crm_server, sleeps):
    from datetime import UTC, datetime
    for name in ("Account", "Opportunity", "Contact", "Lead"):
        CrmSyncCursor.objects.create(org=org, provider="salesforce", object_name=name,
                                     modified_since=datetime(2026, 2, 1, 8, 30, tzinfo=UTC))
    expect_describes(crm_server)
    since = "LastModifiedDate > 2026-02-01T08:30:00Z"
    expect_count(crm_server, f"Account WHERE {since}", 0)
    expect_count(crm_server, f"Opportunity WHERE {since}", 0)
    expect_count(crm_server, f"Contact WHERE {since}", 0)
    expect_count(crm_server, f"Lead WHERE IsConverted = false AND {since}", 0)

    result = services.crm_sync(connection=sf_connection)

    assert result["ok"], result
    counts = [r for r in requests_to(crm_server, f"{API}/query/")]
    assert len(counts) == 4 and all(since in r.args["q"] for r in counts)


def test_expired_access_token_is_refreshed_once_and_saved(org, sf_connection, crm_server, sleeps):
    expect_describes(crm_server)
    crm_server.expect_oneshot_request(f"{API}/query/", headers={"Authorization": "Bearer ACCESS-1"}).respond_with_json(
        [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}], status=401)
    crm_server.expect_request("/services/oauth2/token", method="POST").respond_with_json(
        {"access_token": "ACCESS-2", "instance_url": crm_server.url_for("").rstrip("/"), "token_type": "Bearer"})
    for soql_from in ("Account", "Opportunity", "Contact", "Lead WHERE IsConverted = false"):
        expect_count(crm_server, soql_from, 0)

    result = services.crm_sync(connection=sf_connection)

    assert result["ok"], result
    (refresh,) = requests_to(crm_server, "/services/oauth2/token", "POST")
    assert dict(refresh.form) == {"grant_type": "refresh_token", "refresh_token": "REFRESH-1",
                                  "client_id": "sf-client-id", "client_secret": "sf-client-secret"}
    later = [r for r, _ in crm_server.log if r.path.startswith(API)][-4:]
    assert all(r.headers["Authorization"] == "Bearer ACCESS-2" for r in later)
    sf_connection.refresh_from_db()
    assert sf_connection.secrets == {"access_token": "ACCESS-2", "refresh_token": "REFRESH-1"}


def test_revoked_refresh_token_asks_the_admin_to_reconnect(admin_client, org, sf_connection, crm_server, sleeps):
    crm_server.expect_request(f"{API}/sobjects/Task/describe").respond_with_json(
        [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}], status=401)
    crm_server.expect_request("/services/oauth2/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "expired access/refresh token"}, status=400)

    result = services.crm_sync(connection=sf_connection)

    assert not result["ok"]
    sf_connection.refresh_from_db()
    assert sf_connection.status == "failed" and sf_connection.config["needs_reconnect"] is True
    assert sf_connection.last_error.startswith("Salesforce no longer accepts Chorus's sign-in")
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Reconnect needed" in page and "Reconnect: click Enable next to Salesforce Connect" in page
    assert services.crm_sync_due() == 0  # the schedule leaves it alone until the admin reconnects


@pytest.mark.parametrize("status,retry_after,expected", [(429, "7", 7.0), (503, "3", 3.0)])
def test_rate_limit_and_unavailable_are_retried_after_retry_after(org, sf_connection, crm_server, sleeps,
                                                                  status, retry_after, expected):
    crm_server.expect_oneshot_request(f"{API}/sobjects/Task/describe").respond_with_json(
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}], status=status,
        headers={"Retry-After": retry_after})
    expect_describes(crm_server)
    for soql_from in ("Account", "Opportunity", "Contact", "Lead WHERE IsConverted = false"):
        expect_count(crm_server, soql_from, 0)

    result = services.crm_sync(connection=sf_connection)

    assert result["ok"], result
    assert sleeps == [expected]
    assert len(requests_to(crm_server, f"{API}/sobjects/Task/describe")) == 2


def test_long_retry_after_stops_the_sync_with_a_sentence(org, sf_connection, crm_server, sleeps):
    crm_server.expect_request(f"{API}/sobjects/Task/describe").respond_with_data(
        "", status=503, headers={"Retry-After": "3600"})
    result = services.crm_sync(connection=sf_connection)
    assert not result["ok"] and sleeps == []
    sf_connection.refresh_from_db()
    assert sf_connection.last_error == ("Salesforce asked Chorus to slow down (HTTP 503); the sync continues at its "
                                        "next run.")
    assert not sf_connection.config["needs_reconnect"]


def test_vanished_selected_field_is_reported(org, sf_connection, crm_server, sleeps):
    CrmField.objects.create(org=org, provider="salesforce", object_name="Account", api_name="Region__c",
                            label="Region", field_type="Picklist", selected=True)
    expect_describes(crm_server)
    for soql_from in ("Account", "Opportunity", "Contact", "Lead WHERE IsConverted = false"):
        expect_count(crm_server, soql_from, 0)
    services.crm_sync(connection=sf_connection)
    sf_connection.refresh_from_db()
    assert sf_connection.last_error == ("These selected CRM fields no longer exist and are not synced any more: "
                                        "Account · Region. Review them under Select CRM Fields.")
    assert CrmField.objects.get(api_name="Region__c").missing_since is not None
