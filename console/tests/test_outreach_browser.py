"""Sync Outreach and Chorus in a real browser: an admin scrolls to the section and
switches the Chorus tile on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console import outreach
from integrations import registry
from integrations.models import Connection
from testutils.browser import SCREENSHOTS, login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def sections(monkeypatch):
    """Settings > Integrations with the sections around this one (other apps' sections
    are not what this test looks at)."""
    mine = {k: v for k, v in registry.SECTIONS.items() if k in ("crm-connect", "dialers", "outreach")}
    monkeypatch.setattr(registry, "SECTIONS", mine)


def test_admin_switches_the_outreach_tile_on(page, live_server, org, settings, sections):
    settings.CHORUS_BASE_URL = "https://chorus.test"
    Connection.objects.create(org=org, provider="salesforce", status="ok", config={"crm_org_id": "00D"})
    admin = UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                        role=role(org, "Admin"), password=PASSWORD)
    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations", exact=True).click()
    page.get_by_role("navigation", name="On this page").get_by_role("link", name="Sync Outreach and Chorus").click()
    section = page.locator("section#outreach")
    expect(section.get_by_role("heading", name="Sync Outreach and Chorus")).to_be_in_viewport()
    expect(section.get_by_label("Chorus tile URL to give Outreach")).to_have_value(
        "https://chorus.test/integrations/outreach/tile/")
    expect(section).to_contain_text("To customize your Layout in Outreach.io")
    SCREENSHOTS.mkdir(exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "outreach_section_off.png"))

    section.get_by_label("Chorus tile for Outreach").check()
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="The Chorus tile for Outreach is on")).to_be_visible()
    section = page.locator("section#outreach")
    expect(section.get_by_label("Chorus tile for Outreach")).to_be_checked()
    expect(section.locator(".badge-green").get_by_text("On", exact=True)).to_be_visible()
    assert outreach.outreach_tile_enabled(org=org)
    screenshot(page, "outreach_section_on_page")
    section.screenshot(path=str(SCREENSHOTS / "outreach_section_on.png"))
