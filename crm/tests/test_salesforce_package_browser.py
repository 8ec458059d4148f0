"""Install Salesforce Package in a real browser: an admin opens it from CRM Connect,
reads the steps and downloads the package source."""

from __future__ import annotations

import io
import zipfile

import pytest
from playwright.sync_api import expect

from crm.tests.conftest import BROWSER_PASSWORD
from crm.views_package import LIGHTNING_COMPONENT
from testutils.browser import SCREENSHOTS, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("only_crm_sections")]
PASSWORD = BROWSER_PASSWORD


@pytest.fixture
def admin(salesforce_admin, settings):
    settings.CHORUS_BASE_URL = "https://chorus.test"
    settings.SALESFORCE_CANVAS_SECRET = "configured-but-never-shown"
    return salesforce_admin


def test_admin_opens_the_steps_and_downloads_the_package(page, live_server, admin):
    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations", exact=True).click()
    crm_connect = page.locator("#crm-connect")
    crm_connect.get_by_role("link", name="Install Salesforce Package").click()

    expect(page).to_have_url(f"{live_server.url}/settings/integrations/salesforce/package/")
    expect(page.get_by_role("heading", name="Install Salesforce Package", level=1)).to_be_visible()
    assert len(page.context.pages) == 1  # the same tab
    steps = page.locator(".pkg-step h2")
    expect(steps).to_have_count(10)
    expect(steps.first).to_have_text("Install the Chorus for Salesforce Managed Package")
    expect(steps.last).to_have_text("Sync Chorus Trackers with Salesforce")
    # What Copy puts on the clipboard is the seed's code exactly.
    assert page.locator("#chorus-cmp").text_content() == LIGHTNING_COMPONENT.format(namespace="affectlayer")
    admin_panel = page.get_by_role("complementary")
    expect(admin_panel.get_by_label("Canvas App URL")).to_have_value(
        "https://chorus.test/integrations/salesforce/canvas/")
    expect(admin_panel).to_contain_text("Configured")
    expect(admin_panel).not_to_contain_text("configured-but-never-shown")
    screenshot(page, "salesforce_package_page")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "salesforce_package_top.png"))
    page.locator("#step-component").scroll_into_view_if_needed()
    page.locator("#step-component").screenshot(path=str(SCREENSHOTS / "salesforce_package_component.png"))

    with page.expect_download() as info:
        page.get_by_role("link", name="Download package source (.zip)").click()
    download = info.value
    assert download.suggested_filename == "chorus-salesforce-package.zip"
    with open(download.path(), "rb") as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as zf:
        assert "sfdx-project.json" in zf.namelist()
        assert any(b"https://chorus.test/integrations/salesforce/canvas/" in zf.read(n) for n in zf.namelist())

    page.get_by_role("link", name="Integrations", exact=True).first.click()
    expect(page.locator("#crm-connect")).to_be_visible()
