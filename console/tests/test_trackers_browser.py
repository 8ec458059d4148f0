"""Settings > Trackers in a real browser, as an admin uses it: add a tracker, meet a
field error, edit its phrases, delete one, put a default back."""

import re

import pytest
from playwright.sync_api import expect

from chorus.models import Tracker
from chorus.trackers import trackers_seed_defaults
from testutils.browser import login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin(org):
    trackers_seed_defaults(org=org)  # what a new organisation starts with
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                       role=role(org, "Admin"), password=PASSWORD)


def test_admin_manages_trackers(page, live_server, admin, org):
    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Trackers").click()
    expect(page.get_by_role("heading", name="Trackers", exact=True)).to_be_visible()
    table = page.locator("table.tracker-table")
    expect(table.locator("tbody tr")).to_have_count(10)
    expect(table.get_by_role("row", name=re.compile(r"^Pricing price pricing cost"))).to_be_visible()

    # Add a tracker with phrases, one a line or comma-separated.
    page.get_by_label("Name").fill("Security")
    page.get_by_label("Words and phrases").fill("SOC 2\npen test, single sign-on")
    page.get_by_role("button", name="Add tracker").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Tracker “Security” added."))
    row = table.get_by_role("row", name=re.compile("^Security"))
    expect(row.locator(".chip")).to_have_text(["SOC 2", "pen test", "single sign-on"])

    # The same name again (any case) is refused on the field, and nothing typed is lost.
    page.get_by_label("Name").fill("security")
    page.get_by_label("Words and phrases").fill("SSO\nSAML")
    page.get_by_role("button", name="Add tracker").click()
    expect(page.get_by_role("alert")).to_have_text("A tracker named “security” already exists.")
    expect(page.get_by_label("Name")).to_have_value("security")
    expect(page.get_by_label("Words and phrases")).to_have_value("SSO\nSAML")
    screenshot(page, "settings-trackers-error")

    # Edit its phrases.
    page.get_by_role("link", name="Edit Security").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    expect(page.get_by_label("Words and phrases")).to_have_value("SOC 2\npen test\nsingle sign-on")
    page.get_by_label("Words and phrases").fill("SOC 2\nSSO\npenetration test")
    screenshot(page, "settings-tracker-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Tracker “Security” saved."))
    expect(row.locator(".chip")).to_have_text(["SOC 2", "SSO", "penetration test"])
    screenshot(page, "settings-trackers")

    # Delete one, after confirming.
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.get_by_role("button", name="Delete Security").click()
    expect(page.get_by_role("status")).to_have_text("Tracker “Security” deleted.")
    assert dialogs == ["Delete the tracker “Security”?"]
    expect(table.get_by_role("row", name=re.compile("^Security"))).to_have_count(0)

    # A deleted default comes back with "Restore default trackers"; edits stay.
    page.get_by_role("button", name="Delete Pain").click()
    expect(page.get_by_role("status")).to_have_text("Tracker “Pain” deleted.")
    expect(page.get_by_text("Not here now: Pain.")).to_be_visible()
    page.get_by_role("button", name="Restore default trackers").click()
    expect(page.get_by_role("status")).to_have_text("Added 1 default tracker: Pain.")
    expect(page.get_by_role("button", name="Restore default trackers")).to_be_disabled()
    assert sorted(Tracker.objects.for_org(org).values_list("name", flat=True)) == sorted(
        ["Pricing", "Budget", "Competitors", "Next Steps", "Timing", "Pain", "Authority", "Need", "Metrics",
         "Use Case"])
