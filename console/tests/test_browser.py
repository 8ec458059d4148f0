"""The console in a real browser: what the seed tells an admin to do, click by click."""

import re

import pytest
from playwright.sync_api import expect

from chorus.models import Organization, PersonalApiToken, Role
from testutils.browser import login, screenshot
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                       role=role(org, "Admin"), password=PASSWORD)


def test_admin_logs_in_and_walks_the_console(page, live_server, admin, org):
    e = EngagementFactory(org=org, owner=admin, title="Wonka and Schrute Farms Connect")
    ParticipantFactory(engagement=e, name="Willy Wonka", email="willy@wonka.example")
    MomentFactory(engagement=e, tracker__name="Budget")
    EngagementFactory(org=org, owner=admin, title="")  # an unscheduled meeting

    login(page, live_server.url, admin.email, PASSWORD)
    expect(page.get_by_role("heading", name="Recordings")).to_be_visible()
    expect(page.get_by_role("link", name="Wonka and Schrute Farms Connect")).to_be_visible()
    expect(page.get_by_role("link", name="Unscheduled Meeting")).to_be_visible()
    expect(page.get_by_text("Willy Wonka")).to_be_visible()
    screenshot(page, "recordings")

    # The engagement's page says what reached the CRM.
    from crm.push.services import engagement_push_prepare
    from integrations.models import Connection, Delivery

    Connection.objects.create(org=org, provider="salesforce", status="ok", config={
        "instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D1", "crm_org_name": "Acme",
        "crm_username": "a@acme.example", "edition": "Enterprise Edition", "is_sandbox": False,
        "login_url": "https://login.salesforce.com"})
    engagement_push_prepare(engagement=e)
    Delivery.objects.filter(kind="task").update(status="sent", remote_id="00T000000000042")
    Delivery.objects.filter(kind="custom_object").update(
        status="retrying", attempts=1, last_error="Salesforce asked Chorus to slow down (HTTP 429).")
    page.get_by_role("link", name="Wonka and Schrute Farms Connect").click()
    crm = page.locator("#crm-push")
    expect(crm.get_by_role("heading", name="In your CRM")).to_be_visible()
    expect(crm.get_by_role("row", name=re.compile("Task Salesforce Sent 00T000000000042"))).to_be_visible()
    expect(crm.get_by_text("Salesforce asked Chorus to slow down")).to_be_visible()
    screenshot(page, "recording-detail")
    crm.get_by_role("button", name="Push again").click()
    expect(page.get_by_text("Chorus pushes 2 CRM objects again now.")).to_be_visible()  # the contact too
    expect(page.locator("#crm-push").get_by_role("row", name=re.compile("Custom object Salesforce Queued"))) \
        .to_be_visible()
    page.go_back()
    page.go_back()

    nav = page.get_by_role("navigation", name="Main")
    for label, heading, shot in [
        ("Deals", "Deals", "deals"),
        ("Integrations", "Integrations", "integrations"),
        ("Organization Settings", "Organization Settings", "organization"),
        ("Roles and Permissions", "Roles and Permissions", "roles"),
        ("Personal Settings", "Personal Settings", "personal"),
        ("SSO", "SSO", "sso"),
    ]:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        screenshot(page, shot)

    # Seed: "Click on your initials in the bottom left corner … Select Settings".
    page.get_by_text("AL", exact=True).click()
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/integrations/$"))

    page.get_by_role("link", name="Wonka and Schrute Farms Connect").count()  # nothing stale
    page.get_by_text("AL", exact=True).click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_wrong_password_shows_an_error_and_keeps_the_email(page, live_server, admin):
    login(page, live_server.url, admin.email, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    expect(page.get_by_label("Email")).to_have_value(admin.email)


def test_rename_the_notetaker_in_place(page, live_server, admin, org):
    """Seed: Organization Settings > Meeting Recording Rules > Edit (Display As)."""
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto("/settings/organization/")
    rules = page.locator("#meeting-recording-rules")
    expect(rules.get_by_text("Display As", exact=True)).to_be_visible()
    rules.get_by_role("link", name="Edit").click()
    field = rules.get_by_label("Display As")
    field.fill("   ")
    rules.get_by_role("button", name="Save").click()
    expect(rules.get_by_role("alert")).to_be_visible()  # empty name refused, nothing saved
    rules.get_by_label("Display As").fill("Acme Notes")
    rules.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("display-as-value")).to_contain_text("Acme Notes")
    expect(rules.get_by_role("status")).to_have_text("Saved")
    screenshot(page, "organization-display-as")
    org.refresh_from_db()
    assert org.notetaker_display_name == "Acme Notes"


def test_create_custom_role_and_set_compliance(page, live_server, admin, org):
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto("/settings/roles/")
    page.get_by_label("Role name").fill("Customer Success")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("heading", name="Customer Success")).to_be_visible()

    mode = page.get_by_role("group", name="Compliance Mode")
    mode.get_by_label("Enforced").check()  # saved on change (htmx)
    expect(page.locator("#compliance").get_by_role("status")).to_have_text("Saved")
    expect(mode.get_by_label("Enabled")).to_be_checked()  # enforced implies enabled
    deletion = page.get_by_role("group", name="Delete Calls Without Recording Notification")
    deletion.get_by_label("Enabled").check()
    expect(page.locator("#compliance").get_by_role("status")).to_have_text("Saved")
    screenshot(page, "role-compliance")
    r = Role.objects.get(org=org, name="Customer Success")
    assert (r.compliance_mode_enabled, r.compliance_mode_enforced, r.delete_calls_without_notification) == (
        True, True, True)

    page.goto("/settings/roles/")
    page.get_by_label("Role name").fill("customer success")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")


def test_generate_and_revoke_a_personal_api_token(page, live_server, admin):
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto("/settings/personal/")
    page.get_by_label("Token name").fill("Zapier")
    page.get_by_role("button", name="Generate token").click()
    raw = page.get_by_test_id("new-token").inner_text().strip()
    assert raw.startswith("chorus_")
    screenshot(page, "personal-token")
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)  # shown once
    assert raw not in page.content()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").first).to_contain_text("revoked")
    assert PersonalApiToken.objects.get(user=admin).revoked_at is not None


def test_rep_sees_no_admin_settings(page, live_server, org):
    rep = UserFactory(org=org, email="rep@acme.example", password=PASSWORD)
    login(page, live_server.url, rep.email, PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Personal Settings")).to_be_visible()
    expect(nav.get_by_role("link", name="Integrations")).to_have_count(0)
    response = page.goto("/settings/integrations/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
