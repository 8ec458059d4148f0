"""Settings > Integrations > Dialer Integrations, as the admin uses it."""

from __future__ import annotations

from datetime import UTC, timedelta

import lxml.html
import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import AuditEvent
from crm.models import CrmField
from dialers import services
from dialers.catalogue import CATALOGUE, ENGAGE_NO_API, SHORETEL_NO_API
from dialers.models import DialerCall, MediaStatus
from dialers.views import DialerRecordingsView
from integrations.models import Connection, ConnectionStatus
from testutils.dialer_fakes import dialer_call

pytestmark = pytest.mark.django_db
INTEGRATIONS = "/settings/integrations/"


@pytest.fixture
def sf(org):
    conn = Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                                     config={"instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D1",
                                             "crm_org_name": "Acme", "edition": "Enterprise Edition"},
                                     secrets={"access_token": "x"})
    for api, label in [("Call_Recording__c", "Call Recording"), ("Five9_Recording__c", "Five9 Recording")]:
        CrmField.objects.create(org=org, provider="salesforce", object_name="Task", api_name=api, label=label,
                                field_type="String")
    CrmField.objects.create(org=org, provider="salesforce", object_name="Account", api_name="Tier__c",
                            label="Tier", field_type="Picklist")
    return conn


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "dialer_import_queue", lambda *, connection: calls.append(connection.pk))
    return calls


def test_section_without_crm_says_so_and_blocks_crm_dialers(admin_client):
    page = admin_client.get(INTEGRATIONS).content.decode()
    assert "Dialer Integrations" in page and "Add a New Dialer" in page
    assert "No CRM connected." in page and "ZoomInfo Engage, HubSpot Dialer, Zoom Phone and Shoretel Sky/Mitel" in page
    add = admin_client.get(reverse("dialer-add")).content.decode()
    assert 'label for="dialer-q">Connect Dialer' in add
    assert 'aria-label="Select Engage Dialer"' in add
    assert '<button type="button" class="btn" disabled aria-label="Select Five9"' in add
    assert reverse("dialer-connect", args=["five9"]) not in add
    form = admin_client.get(reverse("dialer-connect", args=["five9"])).content.decode()
    assert "Connect your CRM first: Five9 calls are read from your CRM" in form and "Sync Dialer" not in form
    response = admin_client.post(reverse("dialer-connect", args=["five9"]), {"auth_key": "k"})
    assert response.status_code == 400 and not Connection.objects.filter(provider="five9").exists()


def test_search_box(admin_client, sf):
    add = admin_client.get(reverse("dialer-add"), {"q": "five"}, HTTP_HX_REQUEST="true").content.decode()
    assert add.count('class="dialer-option"') == 1 and "Five9" in add and "<html" not in add


def test_five9_form_masks_secrets_picks_task_fields_and_syncs(admin_client, admin_user, sf, queued):
    form = admin_client.get(reverse("dialer-connect", args=["five9"])).content.decode()
    for label in ("Five9 Auth Key", "Auth Secret Key", "S3 Bucket Link"):
        assert f">{label}</label>" in form
    assert form.count('type="password"') == 2
    assert '<option value="Call_Recording__c">Call Recording (Call_Recording__c)</option>' in form
    assert "Tier__c" not in form  # Task fields only
    assert "Sync Dialer" in form

    response = admin_client.post(reverse("dialer-connect", args=["five9"]), {
        "auth_key": "AKIAFIVE9KEY0001", "auth_secret_key": "five9-very-secret-value",
        "s3_bucket_link": "s3://acme-five9/recordings/", "crm_field": "Five9_Recording__c"})
    assert response.status_code == 302 and response.url.endswith("#dialers")
    conn = Connection.objects.get(provider="five9")
    assert conn.secrets == {"auth_key": "AKIAFIVE9KEY0001", "auth_secret_key": "five9-very-secret-value"}
    assert conn.config["crm_field"] == "Five9_Recording__c" and conn.config["s3_bucket_link"] == "s3://acme-five9/recordings/"
    assert conn.status == ConnectionStatus.QUEUED and conn.connected_by == admin_user and queued == [conn.pk]
    event = AuditEvent.objects.get(action="dialer.connected")
    assert "five9-very-secret-value" not in str(event.changes)

    page = admin_client.get(INTEGRATIONS).content.decode()
    assert "Five9" in page and "Import queued" in page and "Calls imported" in page and "Last error" in page
    edit = admin_client.get(reverse("dialer-edit", args=[conn.pk])).content.decode()
    assert "five9-very-secret-value" not in edit and "AKIAFIVE9KEY0001" not in edit
    assert "Saved (••••••••0001). Leave blank to keep it." in edit

    # Blank secrets keep the stored ones; free-text field fallback.
    response = admin_client.post(reverse("dialer-edit", args=[conn.pk]), {
        "auth_key": "", "auth_secret_key": "", "s3_bucket_link": "s3://acme-five9/recordings/",
        "crm_field": "__other__", "crm_field_other": "Recording_Link__c"})
    assert response.status_code == 302
    conn.refresh_from_db()
    assert conn.secrets["auth_secret_key"] == "five9-very-secret-value"
    assert conn.config["crm_field"] == "Recording_Link__c"
    assert queued == [conn.pk]  # an edit does not start another backfill


def test_form_errors(admin_client, sf):
    response = admin_client.post(reverse("dialer-connect", args=["five9"]), {
        "auth_key": "", "auth_secret_key": "s", "s3_bucket_link": "", "crm_field": "__other__",
        "crm_field_other": "Bad Field; DROP"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in page and "Enter the field&#x27;s API name" in page
    assert not Connection.objects.filter(provider="five9").exists()
    assert 'value="s"' not in page  # a typed secret is not rendered back


def test_connection_row_shows_status_counts_error_and_disconnects(admin_client, org, sf):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c", "calls_imported": 42,
                                             "last_result": {"imported": 3, "skipped_unlicensed": 2}},
                                     last_error="1 recording could not be downloaded; …")
    page = admin_client.get(INTEGRATIONS).content.decode()
    assert "42" in page and "2 skipped: no Recorder licence" in page and "1 recording could not be downloaded" in page
    assert 'aria-label="Edit Outreach"' in page and 'aria-label="Disconnect Outreach"' in page
    admin_client.post(reverse("dialer-disconnect", args=[conn.pk]))
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.DISCONNECTED and conn.secrets == {}
    dialer_section = admin_client.get(INTEGRATIONS).content.decode().split("Dialer Integrations</h2>")[1]
    assert "Outreach" not in dialer_section.split("<h2>")[0]


def test_outreach_page_shows_the_seed_steps(admin_client, sf):
    outreach = admin_client.get(reverse("dialer-connect", args=["outreach"])).content.decode()
    assert "Push Outreach Recordings to Salesforce" in outreach
    assert "<td>Recording URL</td><td>Call Recording</td>" in outreach


def row_texts(html: str) -> dict[str, str]:
    """Add a New Dialer's rows: catalogue key → the row's visible text."""
    tree = lxml.html.fromstring(html)
    return {li.get("data-dialer"): " ".join(li.text_content().split())
            for li in tree.xpath('//li[@class="dialer-option"]')}


def test_each_row_says_why_its_dialer_cannot_be_selected_without_a_crm(admin_client):
    add = admin_client.get(reverse("dialer-add")).content.decode()
    rows = row_texts(add)
    assert len(rows) == len(CATALOGUE)
    for key, dialer in CATALOGUE.items():
        if dialer.requires_crm:
            assert "Needs a CRM connection (CRM Connect)" in rows[key], key
            assert f'disabled aria-label="Select {dialer.label}" aria-describedby="dialer-note-{key}"' in add
        else:
            assert "Needs a CRM connection" not in rows[key], key
            assert reverse("dialer-connect", args=[key]) in add
    assert "Needs a CRM connection (CRM Connect)" in rows["shoretel"]  # an exception of the seed's, but no API
    assert "No CRM needed" in rows["hubspot_dialer"] and "No CRM needed" in rows["zoom_phone"]
    assert "Chorus cannot import it automatically yet" in rows["engage"] and "No CRM needed" not in rows["engage"]


def test_rows_with_a_crm_connected(admin_client, sf):
    rows = row_texts(admin_client.get(reverse("dialer-add")).content.decode())
    assert not any("Needs a CRM connection" in text for text in rows.values())
    assert "Works with HubSpot only" in rows["ringcentral_hubspot"]


@pytest.mark.parametrize("with_crm", [False, True])
def test_engage_says_chorus_cannot_import_it(admin_client, with_crm, request):
    if with_crm:
        request.getfixturevalue("sf")
    form = admin_client.get(reverse("dialer-connect", args=["engage"])).content.decode()
    assert ENGAGE_NO_API in form.replace("&#x27;", "'")
    assert "Sync Dialer" not in form and "Go to CRM Connect" not in form
    response = admin_client.post(reverse("dialer-connect", args=["engage"]), {})
    assert response.status_code == 400 and not Connection.objects.filter(provider="engage").exists()


def test_shoretel_imports_through_the_crm(admin_client, sf, queued, org):
    Connection.objects.filter(pk=sf.pk).update(status=ConnectionStatus.DISCONNECTED)
    form = admin_client.get(reverse("dialer-connect", args=["shoretel"])).content.decode()
    assert SHORETEL_NO_API in form.replace("&#x27;", "'") and "Go to CRM Connect" in form
    assert admin_client.post(reverse("dialer-connect", args=["shoretel"]), {}).status_code == 400

    Connection.objects.filter(pk=sf.pk).update(status=ConnectionStatus.OK)
    form = admin_client.get(reverse("dialer-connect", args=["shoretel"])).content.decode()
    assert ">Shoretel Username</label>" in form and "Salesforce API field name (call recording)" in form
    response = admin_client.post(reverse("dialer-connect", args=["shoretel"]), {
        "username": "ops@acme.example", "password": "sky-pass", "crm_field": "Call_Recording__c"})
    assert response.status_code == 302
    conn = Connection.objects.get(provider="shoretel")
    assert conn.secrets == {"password": "sky-pass"} and conn.config["crm_field"] == "Call_Recording__c"


HUBSPOT_KEY = "pat-na1-11111111-2222-3333-4444-555555555555"


def test_hubspot_dialer_without_hubspot_asks_for_its_own_key(admin_client, queued):
    form = admin_client.get(reverse("dialer-connect", args=["hubspot_dialer"])).content.decode()
    assert ">HubSpot service key</label>" in form and form.count('type="password"') == 1
    assert "crm.objects.contacts.read" in form and "crm.objects.owners.read" in form
    assert "Development &gt; Keys &gt; Service keys" in form
    response = admin_client.post(reverse("dialer-connect", args=["hubspot_dialer"]), {"crm_field": ""})
    assert response.status_code == 400 and not Connection.objects.filter(provider="hubspot_dialer").exists()
    response = admin_client.post(reverse("dialer-connect", args=["hubspot_dialer"]),
                                 {"access_token": HUBSPOT_KEY, "crm_field": ""})
    assert response.status_code == 302
    conn = Connection.objects.get(provider="hubspot_dialer")
    assert conn.secrets == {"access_token": HUBSPOT_KEY} and queued == [conn.pk]
    edit = admin_client.get(reverse("dialer-edit", args=[conn.pk])).content.decode()
    assert HUBSPOT_KEY not in edit and "Leave blank to keep it." in edit


def test_hubspot_dialer_beside_hubspot_uses_crm_connect(admin_client, org, queued):
    Connection.objects.create(org=org, provider="hubspot", status=ConnectionStatus.OK, secrets={"access_token": "x"})
    form = admin_client.get(reverse("dialer-connect", args=["hubspot_dialer"])).content.decode()
    assert "HubSpot service key" not in form and "through your HubSpot connection (CRM Connect)" in form
    response = admin_client.post(reverse("dialer-connect", args=["hubspot_dialer"]), {"crm_field": ""})
    assert response.status_code == 302
    assert Connection.objects.get(provider="hubspot_dialer").secrets == {}


def test_every_call_without_a_recording_is_listed_with_its_reason_and_next_try(admin_client, org, sf,
                                                                                 monkeypatch):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                     config={"crm_field": "Call_Recording__c"})
    for n in range(9):
        dialer_call(conn, n, status=MediaStatus.STORED)
    dialer_call(conn, 10, status=MediaStatus.FAILED, attempts=1,
                error="The recording link answered 404 Not Found (not uploaded yet, or deleted).")
    later = dialer_call(conn, 11, status=MediaStatus.FAILED, attempts=2,
                        error="The recording link answered HTTP 503 (Service Unavailable); it asked Chorus to wait "
                              "120 min.")
    DialerCall.objects.filter(pk=later.pk).update(media_retry_at=timezone.now() + timedelta(hours=2))
    dialer_call(conn, 12, status=MediaStatus.REJECTED, attempts=1,
                error="The recording is larger than the 500 MB limit.")
    dialer_call(conn, 13, status=MediaStatus.PENDING)

    page = admin_client.get(INTEGRATIONS).content.decode()
    assert ("9 stored · 1 waiting for download · 2 failed, tried again at a later hourly run · 1 refused for good"
            in page)
    assert "The recording is larger than the 500 MB limit." in page and "Not tried again" in page
    assert "404 Not Found" in page and "Next try: At the next hourly run (try 2 of 5)" in page
    when = (timezone.now() + timedelta(hours=2)).astimezone(UTC)
    assert f"Next try: At the first hourly run after {when:%b} {when.day}, {when:%H}:" in page

    for n in range(20, 29):  # more than the row lists: the rest on the Recordings page, a page at a time
        dialer_call(conn, n, status=MediaStatus.REJECTED, attempts=1,
                    error="The recording link returned an HTML or XML page instead of a recording.")
    page = admin_client.get(INTEGRATIONS).content.decode()
    assert page.count("dialer-media-problems") == 1 and "All 12 calls without a recording" in page
    monkeypatch.setattr(DialerRecordingsView, "PER_PAGE", 5)
    first = admin_client.get(reverse("dialer-recordings", args=[conn.pk])).content.decode()
    assert "Page 1 of 3 (12 calls)" in first and first.count("<tr data-call=") == 5
    assert "larger than the 500 MB limit" in first  # newest first
    last = admin_client.get(reverse("dialer-recordings", args=[conn.pk]), {"page": 3}).content.decode()
    assert last.count("<tr data-call=") == 2 and '<tr data-call="call-28">' in last


def test_zoom_phone_salesforce_only(admin_client, org):
    Connection.objects.create(org=org, provider="hubspot", status=ConnectionStatus.OK)
    page = admin_client.get(reverse("dialer-connect", args=["zoom_phone"])).content.decode()
    assert "this integration is for Salesforce only, no other CRMs are supported at this time" in page
    admin_client.post(reverse("dialer-connect", args=["zoom_phone"]), {"action": "connect"})
    assert not Connection.objects.filter(provider="zoom_phone").exists()


def test_zoom_phone_connect_edit_call_disposition_complete_activate(admin_client, sf, queued):
    url = reverse("dialer-connect", args=["zoom_phone"])
    assert "Business or Enterprise Zoom account" in admin_client.get(url).content.decode()
    admin_client.post(url, {"action": "connect"})
    conn = Connection.objects.get(provider="zoom_phone")
    assert conn.config["activated"] is False and queued == []
    page = admin_client.get(url).content.decode()
    assert "Call Disposition Field" in page and "Edit Call Disposition" in page and "Complete" in page
    page = admin_client.get(url + "?edit=disposition").content.decode()
    assert "— Leave blank —" in page and "If you do not have a field for this, leave this drop down blank." in page
    response = admin_client.post(url, {"crm_field": ""})  # may stay blank
    assert response.status_code == 302 and response.url.endswith("#zoom-phone")
    section = admin_client.get(INTEGRATIONS).content.decode()
    assert "Zoom Phone Integration" in section and "Activate</button>" in section
    admin_client.post(reverse("dialer-zoom-activate", args=[conn.pk]))
    conn.refresh_from_db()
    assert conn.config["activated"] is True and queued == [conn.pk]


def test_reps_and_other_orgs_are_refused(rep_client, client, org, other_org, sf):
    conn = Connection.objects.create(org=org, provider="outreach", config={"crm_field": "Call_Recording__c"})
    assert rep_client.get(reverse("dialer-add")).status_code == 403
    assert rep_client.post(reverse("dialer-disconnect", args=[conn.pk])).status_code == 403
    from testutils.factories import UserFactory, role

    other_admin = UserFactory(org=other_org, role=role(other_org, "Admin"))
    client.force_login(other_admin)
    assert client.post(reverse("dialer-disconnect", args=[conn.pk])).status_code == 404
    assert client.get(reverse("dialer-status", args=[conn.pk])).status_code == 404
    assert client.get(reverse("dialer-edit", args=[conn.pk])).status_code == 404
    assert client.get(reverse("dialer-recordings", args=[conn.pk])).status_code == 404


def test_status_partial_polls_while_importing(admin_client, org, sf):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.SYNCING,
                                     config={"crm_field": "Call_Recording__c", "progress": {
                                         "phase": "backfill", "window": 2, "windows": 7, "imported": 12,
                                         "day": "2026-11-23"}})
    part = admin_client.get(reverse("dialer-status", args=[conn.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in part and "day 3 of 7" in part and "12 calls imported so far" in part
    assert 'aria-valuenow="28"' in part
    assert DialerCall.objects.count() == 0


def test_hourly_schedule_exists_and_queues_active_connections(org, monkeypatch, django_capture_on_commit_callbacks,
                                                              migrated_schedules):
    from django_q.models import Schedule

    assert Schedule.objects.filter(func="dialers.tasks.dialer_imports_due_task", schedule_type="H").exists()
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: queued.append((func, a)))
    outreach = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK)
    Connection.objects.create(org=org, provider="five9", status=ConnectionStatus.DISCONNECTED)
    Connection.objects.create(org=org, provider="zoom_phone", config={"activated": False})
    Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.dialer_imports_due() == 1
    assert queued == [("integrations.scheduler.scheduler_run_task",
                       ("dialer_import", f"connection:{outreach.pk}", org.pk, "outreach"))]
