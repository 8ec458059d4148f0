"""Dialer Integrations in a real browser: an admin adds Five9 with its credentials
and watches the first import (the last seven days) progress, as the seed describes."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection
from playwright.sync_api import expect

from chorus.models import Organization
from crm.models import CrmField
from dialers import services
from dialers.importers.base import CallRecord, Stored
from integrations.models import Connection, ConnectionStatus
from testutils.browser import SCREENSHOTS, login, screenshot
from testutils.factories import UserFactory, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


class SlowFive9:
    """Stands in for Salesforce + the Five9 bucket: two calls a day, a little slowly."""

    def pages(self, *, since, until):
        time.sleep(0.7)
        yield [CallRecord(external_id=f"{since:%Y%m%d}-{n}", started_at=since, owner_email="ada@acme.example",
                          duration_seconds=300, prospect_name=f"Prospect {n}", media_source=f"{n}.wav")
               for n in range(2)]

    def fetch_media(self, source, dest, *, max_bytes):
        dest.write(b"RIFFfake")
        return Stored(size=8, content_type="audio/wav")


@pytest.fixture
def admin(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                              config={"instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D1",
                                      "crm_org_name": "Acme", "edition": "Enterprise Edition"},
                              secrets={"access_token": "x", "refresh_token": "y"})
    for api, label in [("Call_Recording__c", "Call Recording"), ("Five9_Recording__c", "Five9 Recording")]:
        CrmField.objects.create(org=org, provider="salesforce", object_name="Task", api_name=api, label=label,
                                field_type="String")
    return UserFactory(org=org, email="ada@acme.example", first_name="Ada", last_name="Lovelace",
                       role=role(org, "Admin"), password=PASSWORD)


def test_admin_adds_five9_and_sees_the_first_import_progress(page, live_server, admin, monkeypatch):
    started = threading.Event()
    worker: list[threading.Thread] = []

    def run_in_worker(*, connection):
        # Stands in for a qcluster worker picking the queued task up.
        def work():
            try:
                started.wait(30)
                services.dialer_import_run(connection=Connection.objects.get(pk=connection.pk), importer=SlowFive9())
            finally:
                db_connection.close()
        worker.append(threading.Thread(target=work, daemon=True))
        worker[-1].start()

    monkeypatch.setattr(services, "dialer_import_queue", run_in_worker)

    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/")
    section = page.locator("#dialers")
    expect(section.get_by_role("heading", name="Dialer Integrations")).to_be_visible()
    section.get_by_role("link", name="Add a New Dialer").click()

    expect(page.get_by_role("heading", name="Add a New Dialer")).to_be_visible()
    page.get_by_label("Connect Dialer").fill("Five9")
    expect(page.locator(".dialer-option")).to_have_count(1)
    screenshot(page, "dialers-add")
    page.get_by_role("link", name="Select Five9").click()

    expect(page.get_by_role("heading", name="Five9", exact=True)).to_be_visible()
    page.get_by_label("Five9 Auth Key").fill("AKIAFIVE9KEY0001")
    page.get_by_label("Auth Secret Key").fill("five9-very-secret-value")
    page.get_by_label("S3 Bucket Link").fill("s3://acme-five9/recordings/")
    page.get_by_label("Salesforce API field name (call recording)").select_option("Five9_Recording__c")
    expect(page.get_by_label("Auth Secret Key")).to_have_attribute("type", "password")
    screenshot(page, "dialers-five9-form")
    page.get_by_role("button", name="Sync Dialer").click()

    expect(page.get_by_text("Five9 is connected. Chorus is importing the last seven days of calls")).to_be_visible()
    row = page.locator("[data-dialer=five9]")
    expect(row.get_by_text("Import queued")).to_be_visible()
    started.set()
    expect(row.get_by_text("Importing the last seven days: day")).to_be_visible(timeout=15_000)
    expect(row.get_by_role("progressbar", name="Import progress")).to_be_visible()
    expect(row.locator(".dialer-progress")).to_contain_text("calls imported so far", timeout=15_000)
    section.screenshot(path=str(SCREENSHOTS / "dialers-five9-progress.png"))

    expect(row.get_by_text("Connected", exact=True)).to_be_visible(timeout=20_000)
    expect(row.get_by_text("first import (last seven days)")).to_be_visible()
    expect(row.locator("dd", has_text="14 new")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("five9-very-secret-value")
    section.screenshot(path=str(SCREENSHOTS / "dialers-five9-done.png"))
    for t in worker:
        t.join(10)


def test_without_a_crm_each_row_says_what_it_needs(page, live_server, org):
    """No CRM yet: the rows of the dialers that need one say so and cannot be selected;
    HubSpot Dialer can, and its form asks for its own HubSpot service key."""
    admin = UserFactory(org=org, email="ada@acme.example", role=role(org, "Admin"), password=PASSWORD)
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/dialers/add/")

    five9 = page.locator(".dialer-option[data-dialer=five9]")
    expect(five9).to_contain_text("Needs a CRM connection (CRM Connect)")
    expect(five9.get_by_role("button", name="Select Five9")).to_be_disabled()
    expect(page.locator("[data-dialer=shoretel]")).to_contain_text("Needs a CRM connection (CRM Connect)")
    expect(page.locator("[data-dialer=engage]")).to_contain_text("Chorus cannot import it automatically yet")
    screenshot(page, "dialers-add-without-crm")

    page.get_by_label("Connect Dialer").fill("hubspot dialer")
    expect(page.locator(".dialer-option")).to_have_count(1)
    row = page.locator("[data-dialer=hubspot_dialer]")
    expect(row).to_contain_text("No CRM needed")
    row.get_by_role("link", name="Select Hubspot Dialer").click()
    expect(page.get_by_label("HubSpot service key")).to_have_attribute("type", "password")
    expect(page.locator(".dialer-reads-crm")).to_contain_text("crm.objects.contacts.read")
    screenshot(page, "dialers-hubspot-dialer-form")


def test_admin_follows_the_failed_recordings_to_their_reasons(page, live_server, admin, org):
    """From the dialer's status on Settings > Integrations to the list of calls without a
    recording: each with its reason and whether Chorus tries again."""
    from dialers.models import MediaStatus
    from testutils.dialer_fakes import dialer_call

    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c"})
    dialer_call(conn, 1, status=MediaStatus.STORED)
    dialer_call(conn, 2, status=MediaStatus.FAILED, attempts=1,
                error="The recording link answered 404 Not Found (not uploaded yet, or deleted).")
    dialer_call(conn, 3, status=MediaStatus.REJECTED, attempts=1,
                error="The recording is larger than the 500 MB limit.")
    login(page, live_server.url, admin.email, PASSWORD)
    page.goto("/settings/integrations/#dialers")
    page.locator("#dialers").get_by_role("link", name="Details").click()
    expect(page.get_by_text("The recording is larger than the 500 MB limit.")).to_be_visible()
    expect(page.get_by_text("404 Not Found", exact=False)).to_be_visible()
    expect(page.get_by_text("Not tried again").first).to_be_visible()
    screenshot(page, "dialers-recordings")
