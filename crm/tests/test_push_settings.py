"""Settings > Integrations > CRM Objects Creation: the matrix, its rules, its history."""

import pytest
from django.core.exceptions import ValidationError

from chorus.models import AuditEvent
from crm.push.models import CELLS, DEFAULTS, CrmObjectsSettings
from crm.push.registry import register
from crm.push.services import crm_objects_settings_get, crm_objects_settings_update
from integrations.models import Connection

pytestmark = pytest.mark.django_db
URL = "/settings/integrations/crm-objects/"
# The seed's Task-or-Event screenshot (Salesforce and Dynamics).
SEED_TASK_OR_EVENT = {"event_email", "task_recording", "tracker_email", "custom_object_recording",
                      "custom_object_email"}


@pytest.fixture(autouse=True)
def _push(settings):
    register()


def connect(org, provider="salesforce"):
    return Connection.objects.create(org=org, provider=provider, status="ok",
                                     config={"instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D1",
                                             "crm_org_name": "Acme", "crm_username": "admin@acme.example",
                                             "edition": "Enterprise Edition", "is_sandbox": False,
                                             "login_url": "https://login.salesforce.com",
                                             "org_url": "https://acme.crm.dynamics.com"},
                                     secrets={"access_token": "token"})


def form_data(cells):
    return {name: "on" for name in cells}


def test_defaults_are_the_seeds_first_screenshot(org):
    row = crm_objects_settings_get(org=org)
    on = {name for name in CELLS if getattr(row, name)}
    assert on == {"task_recording", "tracker_recording", "custom_object_recording", "contact_recording"} == DEFAULTS
    assert row.contacts_for_moments is True


def test_cells_follow_the_seed_columns():
    assert {c for c in CELLS if c.endswith("_unrecorded")} == {"event_unrecorded", "task_unrecorded"}
    assert {c for c in CELLS if c.startswith("transcript_")} == {"transcript_recording"}
    assert len(CELLS) == 15


def test_update_records_who_changed_what(org, admin_user):
    connect(org)
    crm_objects_settings_update(org=org, actor=admin_user, cells=dict.fromkeys(SEED_TASK_OR_EVENT, True))
    row = CrmObjectsSettings.objects.get(org=org)
    assert {name for name in CELLS if getattr(row, name)} == SEED_TASK_OR_EVENT
    assert row.updated_by == admin_user
    event = AuditEvent.objects.get(org=org, action="crm_objects.update")
    assert event.actor == admin_user
    assert event.changes == {"event_email": [False, True], "tracker_recording": [True, False],
                             "tracker_email": [False, True], "custom_object_email": [False, True],
                             "contact_recording": [True, False]}


def test_saving_the_same_matrix_again_records_nothing(org, admin_user):
    crm_objects_settings_update(org=org, actor=admin_user, cells=dict.fromkeys(DEFAULTS, True))
    assert not AuditEvent.objects.filter(org=org, action="crm_objects.update").exists()


@pytest.mark.parametrize("column", ["recording", "email", "unrecorded"])
def test_task_and_event_are_mutually_exclusive_per_engagement_type(org, admin_user, column):
    connect(org)
    with pytest.raises(ValidationError) as exc:
        crm_objects_settings_update(org=org, actor=admin_user,
                                    cells={f"task_{column}": True, f"event_{column}": True})
    assert "either a Task or an Event" in str(exc.value)


def test_events_only_for_salesforce_and_dynamics(org, admin_user):
    connect(org, "hubspot")
    with pytest.raises(ValidationError) as exc:
        crm_objects_settings_update(org=org, actor=admin_user, cells={"event_recording": True})
    assert "HubSpot has no calendar events" in str(exc.value)
    Connection.objects.filter(org=org).update(provider="dynamics")
    crm_objects_settings_update(org=org, actor=admin_user, cells={"event_recording": True})


def test_section_renders_the_matrix_with_defaults(admin_client, org):
    connect(org)
    page = admin_client.get("/settings/integrations/").content.decode()
    assert 'id="crm-objects"' in page and "CRM Objects Creation" in page
    assert "Currently it is possible to create either a Task or an Event." in page
    assert 'name="task_recording" aria-label="Create a task: Recording" id="id_task_recording" checked' in page
    assert 'name="account_recording" aria-label="Create account if not exist: Recording" id="id_account_recording">' \
        in page
    assert 'name="event_unrecorded"' in page and 'name="tracker_unrecorded"' not in page
    assert 'name="transcript_email"' not in page


def test_hubspot_has_no_event_row(admin_client, org):
    connect(org, "hubspot")
    page = admin_client.get("/settings/integrations/").content.decode()
    assert 'name="task_recording"' in page and 'name="event_recording"' not in page


def test_htmx_save_swaps_the_section_in_place(admin_client, org, admin_user):
    connect(org)
    r = admin_client.post(URL, form_data(SEED_TASK_OR_EVENT), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    body = r.content.decode()
    assert body.startswith('<div id="crm-objects-body"') and "Saved" in body
    assert "Ada Admin" in body  # the history line
    row = CrmObjectsSettings.objects.get(org=org)
    assert {name for name in CELLS if getattr(row, name)} == SEED_TASK_OR_EVENT


def test_htmx_bad_input_shows_field_errors_and_saves_nothing(admin_client, org):
    connect(org)
    r = admin_client.post(URL, form_data({"task_email", "event_email"}), HTTP_HX_REQUEST="true")
    assert r.status_code == 200  # htmx swaps only successful answers
    assert "Currently it is possible to create either a Task or an Event for Email." in r.content.decode()
    assert crm_objects_settings_get(org=org).task_email is False


def test_plain_post_redirects_and_errors_render_the_page(admin_client, org):
    connect(org)
    r = admin_client.post(URL, form_data({"task_recording"}))
    assert r.status_code == 302 and r["Location"].endswith("?saved=crm-objects#crm-objects")
    r = admin_client.post(URL, form_data({"task_recording", "event_recording"}))
    assert r.status_code == 422
    page = r.content.decode()
    assert "<h1>Integrations</h1>" in page and "either a Task or an Event for Recording" in page


def test_only_admins_may_change_it(rep_client, org):
    connect(org)
    assert rep_client.post(URL, form_data({"task_recording"})).status_code == 403
    assert not CrmObjectsSettings.objects.filter(org=org, updated_by__isnull=False).exists()


def test_a_paused_push_is_explained_on_the_page(admin_client, org):
    from crm.push.models import CrmPushState

    connect(org)
    CrmPushState.objects.create(org=org, provider="salesforce", api_used=100001, api_limit=100000,
                                message="Salesforce's daily API allowance is used up (REQUEST_LIMIT_EXCEEDED).")
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "Salesforce&#x27;s daily API allowance is used up" in page
