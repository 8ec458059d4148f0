"""The seed's steps in a real browser: Integrations > Gainsight Integration > Add,
enter the Access Key and a Domain Name, Submit."""

import pytest
from playwright.sync_api import expect

from integrations.models import Connection
from testutils.browser import login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def test_add_with_a_bad_domain_name_then_submit(page, live_server, salesforce, gainsight):
    admin = UserFactory(org=salesforce.org, email="ada@acme.example", role=role(salesforce.org, "Admin"),
                        password=PASSWORD)
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/#gainsight")
    section = page.locator("#gainsight")
    expect(section.get_by_role("heading", name="Gainsight Integration")).to_be_visible()
    section.get_by_role("button", name="Add", exact=True).click()
    dialog = page.get_by_role("dialog", name="Gainsight Integration")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Access Key").fill(gainsight.access_key)
    dialog.get_by_label("Domain Name").fill("https://acme.example.com/")
    screenshot(page, "gainsight-add")
    dialog.get_by_role("button", name="Submit").click()

    dialog = page.get_by_role("dialog", name="Gainsight Integration")
    expect(dialog.get_by_text("Enter only the leading part of your Gainsight address")).to_be_visible()
    expect(dialog.get_by_label("Access Key")).to_have_value("")  # a secret is never rendered back
    screenshot(page, "gainsight-bad-domain")
    assert not Connection.objects.filter(provider="gainsight").exists()

    dialog.get_by_label("Access Key").fill(gainsight.access_key)
    dialog.get_by_label("Domain Name").fill("https://acme.gainsightcloud.com/")
    dialog.get_by_role("button", name="Submit").click()
    expect(page.locator("#gainsight").get_by_text("https://acme.gainsightcloud.com/")).to_be_visible()
    screenshot(page, "gainsight-connected")
    assert Connection.objects.get(provider="gainsight").config == {"domain": "acme"}

    page.locator("#gainsight").get_by_role("button", name="Edit").click()
    page.get_by_role("dialog", name="Gainsight Integration").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog", name="Gainsight Integration")).to_be_hidden()
