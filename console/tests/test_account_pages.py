"""Account and opportunity pages (``/accounts/<pk>/``, ``/opportunities/<pk>/``),
the Deals page's links to them, and the round trip a rep makes: Deals → the
account's page → copy its link → ``/chorus connect account <link>`` in Slack."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chorus.models import Organization
from crm.models import AccountMatch, CrmAccount, CrmContact, CrmOpportunity
from slack.models import SlackChannelTracking, SlackWorkspace
from testutils.factories import EngagementFactory, UserFactory, role

BASE = "https://chorus.example"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.CHORUS_BASE_URL = BASE


@pytest.fixture
def account(org):
    return CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001WONKA", name="Wonka Industries",
                                     website="https://wonka.example")


@pytest.fixture
def opportunity(org, account):
    return CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id="006RENEW", name="Wonka renewal",
                                         account=account, stage="Negotiation", amount=Decimal("125000"),
                                         close_date=dt.date(2027, 3, 31))


def matched(org, *, account, opportunity=None, title="Call", days_ago=0, owner=None):
    e = EngagementFactory(org=org, title=title, started_at=timezone.now() - dt.timedelta(days=days_ago), owner=owner)
    AccountMatch.objects.create(org=org, engagement=e, account=account, opportunity=opportunity, rule="domain")
    return e


def workspace_of(org) -> SlackWorkspace:
    return SlackWorkspace.objects.create(org=org, team_id=f"T{org.pk}", team_name="Acme Slack",
                                         secrets={"bot_token": "xoxb-1"})


# --- The account page ---------------------------------------------------------------------------------


def test_account_page(rep_client, org, account, opportunity):
    owner = UserFactory(org=org, first_name="Ada", last_name="Owner")
    old = matched(org, account=account, opportunity=opportunity, title="Discovery", days_ago=9, owner=owner)
    new = matched(org, account=account, title="Pricing review", days_ago=1, owner=owner)
    other = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001OTHER", name="Elsewhere")
    matched(org, account=other, title="Not this account")
    CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id="006LOST", name="Lost deal",
                                  account=account, is_closed=True)
    CrmContact.objects.create(org=org, provider="salesforce", remote_id="003A", name="Willy Wonka",
                              email="willy@wonka.example", title="CEO", account=account)
    CrmContact.objects.create(org=org, provider="salesforce", remote_id="00QA", email="oompa@wonka.example",
                              kind="lead", account=account)
    ws = workspace_of(org)
    SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id="C1", channel_name="wonka", account=account)
    SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id="C2", channel_name="old-deals",
                                        account=account, status="broken", status_reason="The channel was archived.")
    SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id="C3", channel_name="elsewhere",
                                        account=other)

    response = rep_client.get(f"/accounts/{account.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Wonka Industries</h1>" in html
    assert "https://wonka.example" in html and "001WONKA" in html and "Salesforce" in html
    # Conversations, newest first, linking to their pages (and to the opportunity).
    assert html.index("Pricing review") < html.index("Discovery")
    assert f'href="/recordings/{new.pk}/"' in html and f'href="/recordings/{old.pk}/"' in html
    assert "Not this account" not in html
    assert f'<a href="/opportunities/{opportunity.pk}/">Wonka renewal</a>' in html
    assert "Lost deal" not in html and "1 closed opportunity not shown." in html
    assert "Willy Wonka" in html and "CEO" in html and "oompa@wonka.example" in html
    # Slack channels tracking it, the broken one with its reason; the link to copy.
    assert "#wonka" in html and "#old-deals" in html and "The channel was archived." in html
    assert "#elsewhere" not in html
    assert f'value="{BASE}/accounts/{account.pk}/"' in html
    assert f"/chorus connect account {BASE}/accounts/{account.pk}/" in html


def test_account_page_without_anything_matched(rep_client, account):
    html = rep_client.get(f"/accounts/{account.pk}/").content.decode()
    assert "No conversations are matched to this account yet." in html
    assert "No open opportunities." in html and "No contacts of this account in the CRM." in html
    assert "No Slack channel tracks this account." in html


def test_account_conversations_are_paginated(rep_client, org, account):
    for i in range(27):
        matched(org, account=account, title=f"Call {i:02d}", days_ago=i)
    first = rep_client.get(f"/accounts/{account.pk}/").content.decode()
    assert "Call 00" in first and "Call 24" in first and "Call 25" not in first
    assert "page 1 of 2" in first and "?page=2#engagements" in first
    second = rep_client.get(f"/accounts/{account.pk}/?page=2").content.decode()
    assert "Call 25" in second and "Call 26" in second and "Call 00" not in second


# --- The opportunity page -----------------------------------------------------------------------------


def test_opportunity_page(rep_client, org, account, opportunity):
    mine = matched(org, account=account, opportunity=opportunity, title="Negotiation call")
    matched(org, account=account, title="Account-only call")
    ws = workspace_of(org)
    SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id="C9", channel_name="renewal",
                                        opportunity=opportunity)
    html = rep_client.get(f"/opportunities/{opportunity.pk}/").content.decode()
    assert "<h1>Wonka renewal</h1>" in html
    assert "Negotiation" in html and "125,000" in html and "Mar 31, 2027" in html and "006RENEW" in html
    assert f'<a href="/accounts/{account.pk}/">Wonka Industries</a>' in html
    assert f'href="/recordings/{mine.pk}/"' in html and "Account-only call" not in html
    assert "#renewal" in html
    assert f'value="{BASE}/opportunities/{opportunity.pk}/"' in html
    assert f"/chorus connect opportunity {BASE}/opportunities/{opportunity.pk}/" in html


def test_a_closed_won_opportunity_without_account(rep_client, org):
    o = CrmOpportunity.objects.create(org=org, provider="hubspot", remote_id="9", name="Orphan", is_closed=True,
                                      is_won=True)
    html = rep_client.get(f"/opportunities/{o.pk}/").content.decode()
    assert "won" in html and "HubSpot" in html and "No conversations are matched to this opportunity yet." in html


# --- Who may see them ---------------------------------------------------------------------------------


def test_another_orgs_account_and_opportunity_are_404(rep_client, other_org):
    theirs = CrmAccount.objects.create(org=other_org, provider="salesforce", remote_id="001Z", name="Globex")
    opp = CrmOpportunity.objects.create(org=other_org, provider="salesforce", remote_id="006Z", name="Globex deal",
                                        account=theirs)
    assert rep_client.get(f"/accounts/{theirs.pk}/").status_code == 404
    assert rep_client.get(f"/opportunities/{opp.pk}/").status_code == 404
    assert rep_client.get("/accounts/999999/").status_code == 404


def test_anonymous_users_are_sent_to_login(client, account, opportunity):
    for url in (f"/accounts/{account.pk}/", f"/opportunities/{opportunity.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_another_orgs_rows_never_show_on_a_page(rep_client, org, other_org, account):
    """Matches and trackings are read through the org, not only through the account."""
    foreign = EngagementFactory(org=other_org, title="Globex secret call")
    AccountMatch.objects.create(org=other_org, engagement=foreign, account=account)  # a corrupt cross-org row
    html = rep_client.get(f"/accounts/{account.pk}/").content.decode()
    assert "Globex secret call" not in html


# --- Query bounds -------------------------------------------------------------------------------------


def _fill(org, account, opportunity, n, *, start=0):
    ws = SlackWorkspace.objects.filter(org=org).first() or workspace_of(org)
    for i in range(start, start + n):
        matched(org, account=account, opportunity=opportunity, title=f"Call {i}", days_ago=i)
        CrmContact.objects.create(org=org, provider="salesforce", remote_id=f"003-{i}", name=f"Contact {i}",
                                  account=account)
        CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id=f"006-{i}", name=f"Opp {i}",
                                      account=account)
        SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id=f"C{i}", channel_name=f"c{i}",
                                            account=account)
        SlackChannelTracking.objects.create(org=org, workspace=ws, channel_id=f"C{i}", channel_name=f"c{i}",
                                            opportunity=opportunity)


@pytest.mark.parametrize("kind", ["accounts", "opportunities"])
def test_queries_do_not_grow_with_rows(rep_client, org, account, opportunity, kind):
    pk = account.pk if kind == "accounts" else opportunity.pk
    _fill(org, account, opportunity, 2)
    with CaptureQueriesContext(connection) as few:
        assert rep_client.get(f"/{kind}/{pk}/").status_code == 200
    _fill(org, account, opportunity, 40, start=2)
    with CaptureQueriesContext(connection) as many:
        assert rep_client.get(f"/{kind}/{pk}/").status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries) <= 20


# --- Deals links to them ------------------------------------------------------------------------------


def test_deals_link_to_the_account_and_opportunity_pages(rep_client, account, opportunity):
    html = rep_client.get("/deals/").content.decode()
    assert f'<a href="/opportunities/{opportunity.pk}/">Wonka renewal</a>' in html
    assert f'<a href="/accounts/{account.pk}/">Wonka Industries</a>' in html


# --- In a browser: Deals → the account → copy its link → /chorus connect ------------------------------


PASSWORD = "correct horse battery staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rep_copies_an_account_link_from_deals_and_connects_it_in_slack(page, live_server, settings, slack_api):
    from playwright.sync_api import expect

    from testutils.browser import login, screenshot
    from testutils.factories import OrganizationFactory
    from testutils.slack_fake import SIGNING_SECRET, slack_signed_headers

    org = OrganizationFactory(name="Acme", slug="acme-b", email_domains=["acme.example"],
                              package=Organization.Package.ENTERPRISE)
    rep = UserFactory(org=org, email="rey@acme.example", role=role(org), password=PASSWORD)
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001WONKA", name="Wonka Industries")
    CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id="006RENEW", name="Wonka renewal",
                                  account=account, stage="Negotiation")
    matched(org, account=account, title="Discovery with Wonka", owner=rep)
    settings.CHORUS_BASE_URL = live_server.url
    slack_api.add_workspace("TB", "Acme", bot_token="xoxb-b")
    slack_api.add_channel("CB", "wonka", team_id="TB")
    SlackWorkspace.objects.create(org=org, team_id="TB", secrets={"bot_token": "xoxb-b"})

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login(page, live_server.url, rep.email, PASSWORD)
    page.get_by_role("link", name="Deals").click()
    page.get_by_role("link", name="Wonka Industries").click()
    expect(page.get_by_role("heading", name="Wonka Industries", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Discovery with Wonka")).to_be_visible()
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.url == f"{live_server.url}/accounts/{account.pk}/"
    screenshot(page, "account-detail")

    # Pasted into Slack, the link comes back wrapped, and connects the channel.
    from django.test import Client

    body = urlencode({"team_id": "TB", "channel_id": "CB", "channel_name": "wonka", "user_id": "U1",
                      "command": "/chorus", "text": f"connect account <{copied}>",
                      "response_url": "https://hooks.slack.example/x"}).encode()
    response = Client().post("/integrations/slack/commands", data=body,
                             content_type="application/x-www-form-urlencoded",
                             **slack_signed_headers(body, secret=SIGNING_SECRET))
    assert response.json()["text"].startswith("Successfully connected the account *Wonka Industries*")
    page.reload()
    expect(page.locator("#slack").get_by_text(re.compile("#wonka"))).to_be_visible()
