"""The seed's steps in a real browser: Settings > Integrations > Enable next to
Salesforce Connect, a (local, fake) Salesforce consent screen, back to Chorus
connected; then Select CRM Fields → choose → Save."""

from __future__ import annotations

import html
import json
import re

import pytest
from playwright.sync_api import expect
from pytest_httpserver import HTTPServer
from werkzeug import Response

from crm.models import AccountMatch, CrmAccount, CrmField
from crm.tests.test_salesforce import API, describe, expect_org
from integrations.models import Connection
from testutils.browser import login, screenshot
from testutils.factories import EngagementFactory, UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("only_crm_sections")]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def consent_server():
    """Salesforce's login host (plain HTTP here: the browser must trust it
    without our test CA); the REST API stays on the HTTPS fake."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def consent_screen(request):
    back, state = request.args["redirect_uri"], request.args["state"]
    target = f"{back}?code=BROWSER-CODE&state={state}"
    denied = f"{back}?error=access_denied&state={state}"
    body = f"""<!doctype html><html><head><title>Salesforce</title></head><body style="font-family:sans-serif">
      <h1>Allow Access?</h1><p>Chorus is asking to access your Salesforce data.</p>
      <a id="allow" href="{html.escape(target)}">Allow</a> <a href="{html.escape(denied)}">Deny</a>
    </body></html>"""
    return Response(body, content_type="text/html")


def test_admin_connects_salesforce_and_selects_crm_fields(page, live_server, org, crm_server, consent_server,
                                                          settings):
    admin = UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                        role=role(org, "Admin"), password=PASSWORD)
    settings.CHORUS_BASE_URL = live_server.url
    settings.SALESFORCE_LOGIN_URL = consent_server.url_for("").rstrip("/")
    instance = crm_server.url_for("").rstrip("/")
    login_base = settings.SALESFORCE_LOGIN_URL
    consent_server.expect_request("/services/oauth2/authorize").respond_with_handler(consent_screen)
    consent_server.expect_request("/services/oauth2/token", method="POST").respond_with_json({
        "access_token": "BROWSER-ACCESS", "refresh_token": "BROWSER-REFRESH", "instance_url": instance,
        "id": f"{login_base}/id/00DORG000000001/005USER00000001", "token_type": "Bearer"})
    consent_server.expect_request("/id/00DORG000000001/005USER00000001").respond_with_json({
        "organization_id": "00DORG000000001", "user_id": "005USER00000001", "email": "ada@acme.example"})
    expect_org(crm_server)
    for name in ("Task", "Lead", "Account", "Opportunity"):
        crm_server.expect_request(f"{API}/sobjects/{name}/describe").respond_with_json(describe(name))

    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/")
    section = page.locator("#crm-connect")
    expect(section.get_by_role("heading", name="CRM Connect")).to_be_visible()
    screenshot(page, "crm-integrations-before")

    section.locator("[data-crm=salesforce]").get_by_role("button", name="Enable Salesforce Connect").click()
    expect(page.get_by_role("heading", name="Allow Access?")).to_be_visible()
    page.get_by_role("link", name="Allow").click()

    expect(page).to_have_url(re.compile(r"/settings/integrations/#crm-connect$"))
    expect(page.get_by_text("Salesforce is connected.")).to_be_visible()
    row = page.locator("[data-crm=salesforce]")
    expect(row.get_by_text("Enabled", exact=True)).to_be_visible()
    expect(page.locator("#crm-status").get_by_text("Ada Lovelace", exact=False)).to_be_visible()
    expect(page.get_by_role("link", name="Install Salesforce Package")).to_be_visible()
    conn = Connection.objects.get(org=org, provider="salesforce")
    assert conn.secrets["access_token"] == "BROWSER-ACCESS" and conn.config["edition"] == "Enterprise Edition"
    (token,) = [r for r, _ in consent_server.log if r.path == "/services/oauth2/token"]
    assert token.form["code"] == "BROWSER-CODE"
    assert token.form["redirect_uri"] == f"{live_server.url}/integrations/salesforce/oauth/"

    page.get_by_role("link", name="Select CRM Fields").click()
    expect(page.get_by_role("heading", name="Select CRM Fields")).to_be_visible()
    expect(page.get_by_label("Account Notes")).to_be_disabled()
    expect(page.get_by_text("Text Area fields can't be used as filters.")).to_be_visible()
    page.get_by_label("Customer Tier").check()
    page.get_by_label("Call Outcome").check()
    screenshot(page, "crm-select-fields")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Saved: 2 CRM fields imported for filtering.")).to_be_visible()
    chips = page.get_by_label("Imported fields")
    expect(chips.get_by_text("Account · Customer Tier")).to_be_visible()
    expect(chips.get_by_text("Task · Call Outcome")).to_be_visible()
    assert sorted(CrmField.objects.filter(org=org, selected=True).values_list("api_name", flat=True)) == [
        "Call_Outcome__c", "Tier__c"]
    page.goto(f"{live_server.url}/settings/integrations/")
    screenshot(page, "crm-integrations-connected")

    # Synced CRM data (the sync itself is tested in test_sync.py) and two matched calls.
    gold = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001G", name="Wonka Industries",
                                     custom={"Tier__c": "Gold"})
    silver = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001S", name="Schrute Farms",
                                       custom={"Tier__c": "Silver"})
    for acct, title in ((gold, "Wonka pricing call"), (silver, "Beet farm intro")):
        e = EngagementFactory(org=org, owner=admin, title=title)
        AccountMatch.objects.create(org=org, engagement=e, account=acct, rule="domain")

    # Recordings > Custom CRM Filters > Customer Tier = Gold.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Recordings").click()
    expect(page.get_by_role("link", name="Beet farm intro")).to_be_visible()
    page.get_by_text("Custom CRM Filters").click()
    page.get_by_label("Customer Tier (Account)").select_option("Gold")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Wonka pricing call")).to_be_visible()
    expect(page.get_by_role("link", name="Beet farm intro")).to_have_count(0)
    screenshot(page, "crm-recordings-filtered")
    print(json.dumps({"screenshots": ["crm-integrations-before", "crm-select-fields", "crm-integrations-connected"]}))
