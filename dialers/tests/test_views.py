"""Settings > Integrations > Dialer Integrations, as the admin uses it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from chorus.models import AuditEvent
from crm.models import CrmField
from dialers import services
from dialers.models import DialerCall
from integrations.models import Connection, ConnectionStatus

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
    assert 'aria-label="Select Engage Dialer"' in add and 'aria-label="Select Five9"' not in add
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
    assert "Outreach" not in admin_client.get(INTEGRATIONS).content.decode().split("Dialer Integrations</h2>")[1]


def test_outreach_and_engage_pages_show_the_seed_steps(admin_client, sf):
    outreach = admin_client.get(reverse("dialer-connect", args=["outreach"])).content.decode()
    assert "Push Outreach Recordings to Salesforce" in outreach
    assert "<td>Recording URL</td><td>Call Recording</td>" in outreach
    engage = admin_client.get(reverse("dialer-connect", args=["engage"])).content.decode()
    for step in ("Use VoIP", "Use Bridge", "Enable Recording", "Recorder License"):
        assert step in engage


def test_engage_works_without_a_crm(admin_client, queued):
    response = admin_client.post(reverse("dialer-connect", args=["engage"]), {})
    assert response.status_code == 302 and Connection.objects.get(provider="engage").status == ConnectionStatus.QUEUED


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


def test_status_partial_polls_while_importing(admin_client, org, sf):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.SYNCING,
                                     config={"crm_field": "Call_Recording__c", "progress": {
                                         "phase": "backfill", "window": 2, "windows": 7, "imported": 12,
                                         "day": "2026-11-23"}})
    part = admin_client.get(reverse("dialer-status", args=[conn.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in part and "day 3 of 7" in part and "12 calls imported so far" in part
    assert 'aria-valuenow="28"' in part
    assert DialerCall.objects.count() == 0


def test_hourly_schedule_exists_and_queues_active_connections(org, monkeypatch):
    from django_q.models import Schedule

    assert Schedule.objects.filter(func="dialers.tasks.dialer_imports_due_task", schedule_type="H").exists()
    queued = []
    monkeypatch.setattr(services, "dialer_import_queue", lambda *, connection: queued.append(connection.provider))
    Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK)
    Connection.objects.create(org=org, provider="five9", status=ConnectionStatus.DISCONNECTED)
    Connection.objects.create(org=org, provider="zoom_phone", config={"activated": False})
    Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK)
    assert services.dialer_imports_due() == 1 and queued == ["outreach"]
