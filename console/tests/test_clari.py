"""Clari — Momentum by Chorus: the admins' switch, the first-party sign-in for the
frame, the embedded views (framable by Clari's origin only, another org's ids 404),
and a real browser framing them from the allowed origin and from another one."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from chorus.models import AuditEvent, Organization
from console import clari
from crm.models import AccountMatch, CrmAccount, CrmOpportunity
from testutils.browser import login, screenshot
from testutils.factories import EngagementFactory, UserFactory, role

PASSWORD = "correct horse battery staple"


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


@pytest.fixture
def deal(enterprise):
    account = CrmAccount.objects.create(org=enterprise, provider="salesforce", remote_id="001W", name="Wonka")
    opportunity = CrmOpportunity.objects.create(org=enterprise, provider="salesforce", remote_id="006W",
                                                name="Wonka renewal", account=account)
    call = EngagementFactory(org=enterprise, title="Wonka pricing call")
    AccountMatch.objects.create(org=enterprise, engagement=call, account=account, opportunity=opportunity,
                                rule="domain")
    return account, opportunity


def embed_url(kind, pk):
    return reverse("clari-embed", args=[kind, pk])


@pytest.mark.django_db
def test_reps_cannot_switch_it(enterprise, rep_client):
    assert rep_client.post(reverse("clari-switch"), {"enabled": "on"}).status_code == 403
    assert not clari.clari_enabled(org=enterprise)


@pytest.mark.django_db
def test_the_switch_is_for_enterprise_admins_and_audited(enterprise, admin_client):
    response = admin_client.post(reverse("clari-switch"), {"enabled": "on"})
    assert response.status_code == 302 and response["Location"].endswith("#clari")
    assert clari.clari_enabled(org=enterprise)
    admin_client.post(reverse("clari-switch"), {})
    assert not clari.clari_enabled(org=enterprise)
    assert list(AuditEvent.objects.filter(org=enterprise).values_list("action", flat=True).order_by("id")) == [
        "clari.enabled", "clari.disabled"]
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Clari Integration" in page and "support@clari.com" in page


@pytest.mark.django_db
def test_standard_orgs_cannot_switch_it_on(org, admin_client):
    assert admin_client.post(reverse("clari-switch"), {"enabled": "on"}).status_code == 403


@pytest.mark.django_db
def test_the_embed_needs_the_clari_cookie_and_is_framable_by_clari_only(enterprise, deal, rep_client, rep_user,
                                                                      client, settings):
    account, opportunity = deal
    settings.CLARI_FRAME_ORIGIN = "https://app.clari.example"
    clari.clari_set(org=enterprise, actor=None, enabled=True)
    # Signed in to Chorus is not enough inside a third-party frame: the session cookie is Lax.
    signed_out = rep_client.get(embed_url("opportunities", opportunity.pk))
    assert signed_out.status_code == 401 and b"Log in to Chorus" in signed_out.content
    assert signed_out["Content-Security-Policy"] == "frame-ancestors https://app.clari.example"
    assert "X-Frame-Options" not in signed_out

    connect = rep_client.get(reverse("clari-connect"))
    cookie = connect.cookies[clari.COOKIE]
    assert cookie["samesite"] == "None" and cookie["secure"] and cookie["httponly"] and cookie["path"] == "/clari/"
    framed = rep_client.get(embed_url("opportunities", opportunity.pk))
    assert framed.status_code == 200 and b"Wonka pricing call" in framed.content
    assert framed["Content-Security-Policy"] == "frame-ancestors https://app.clari.example"
    assert b"Wonka pricing call" in rep_client.get(embed_url("accounts", account.pk)).content
    # Everything else stays unframable.
    assert rep_client.get(reverse("recordings"))["X-Frame-Options"] == "DENY"

    # The cookie alone (no Chorus session) is what the frame has.
    client.cookies[clari.COOKIE] = cookie.value
    assert client.get(embed_url("opportunities", opportunity.pk)).status_code == 200
    clari.clari_set(org=enterprise, actor=None, enabled=False)
    assert client.get(embed_url("opportunities", opportunity.pk)).status_code == 401  # switched off
    clari.clari_set(org=enterprise, actor=None, enabled=True)
    rep_user.set_password("a new password")
    rep_user.save()
    assert client.get(embed_url("opportunities", opportunity.pk)).status_code == 401  # password changed


@pytest.mark.django_db
def test_another_orgs_ids_are_404_in_the_embed(enterprise, deal, other_org, rep_client):
    clari.clari_set(org=enterprise, actor=None, enabled=True)
    rep_client.get(reverse("clari-connect"))
    foreign = CrmOpportunity.objects.create(org=other_org, provider="salesforce", remote_id="006X", name="Globex")
    foreign_account = CrmAccount.objects.create(org=other_org, provider="salesforce", remote_id="001X", name="Globex")
    assert rep_client.get(embed_url("opportunities", foreign.pk)).status_code == 404
    assert rep_client.get(embed_url("accounts", foreign_account.pk)).status_code == 404
    assert rep_client.get(embed_url("contacts", deal[0].pk)).status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clari_frames_momentum_and_another_site_cannot(page, live_server, httpserver, settings, org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    admin = UserFactory(org=org, email="ada@acme.example", role=role(org, "Admin"), password=PASSWORD)
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001W", name="Wonka")
    opportunity = CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id="006W",
                                                name="Wonka renewal", account=account)
    call = EngagementFactory(org=org, title="Wonka pricing call")
    AccountMatch.objects.create(org=org, engagement=call, account=account, opportunity=opportunity, rule="domain")
    clari_page = "/deal"
    httpserver.expect_request(clari_page).respond_with_data(
        f'<!doctype html><h1>Clari deal view</h1><iframe id="momentum" width="900" height="500" '
        f'src="{live_server.url}{embed_url("opportunities", opportunity.pk)}"></iframe>', content_type="text/html")
    clari_origin = httpserver.url_for("/").rstrip("/")
    settings.CLARI_FRAME_ORIGIN = clari_origin

    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/#clari")
    section = page.locator("section#clari")
    expect(section).to_contain_text("Momentum by Chorus")
    section.get_by_label("Momentum by Chorus for Clari").check()
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Momentum by Chorus is on for Clari.")).to_be_visible()
    page.goto(f"{live_server.url}/clari/connect/")  # what "Log in to Chorus" in the frame opens
    expect(page.locator("#clari-connect")).to_contain_text("You are logged in for Clari")

    page.goto(f"{clari_origin}{clari_page}")
    frame = page.frame_locator("#momentum")
    expect(frame.locator("#clari-conversations")).to_contain_text("Wonka pricing call")
    screenshot(page, "clari_framed")

    settings.CLARI_FRAME_ORIGIN = "https://app.clari.example"  # Clari's origin is not this page's
    page.goto(f"{clari_origin}{clari_page}")
    page.wait_for_timeout(1000)
    momentum = next(f for f in page.frames if f != page.main_frame)
    assert "Wonka pricing call" not in (momentum.content() if not momentum.is_detached() else "")
    expect(frame.locator("#clari-conversations")).to_have_count(0)
