"""CRM Objects Creation in a real browser: the admin sets the matrix as in the seed's
screenshots, click by click, and it persists."""

import pytest
from playwright.sync_api import expect

from crm.push.models import CELLS, CrmObjectsSettings
from crm.push.registry import register
from crm.tests.conftest import BROWSER_PASSWORD
from testutils.browser import SCREENSHOTS, login, screenshot
from testutils.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = BROWSER_PASSWORD
# Seed, "Create Task or Event for CRM Object Creation in Salesforce".
SEED = {"event_email", "task_recording", "tracker_email", "custom_object_recording", "custom_object_email"}


@pytest.fixture(autouse=True)
def _push(settings):
    register()


@pytest.fixture
def admin(salesforce_admin):
    return salesforce_admin


def section_shot(page, name):
    """The section alone, to look at closely."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.locator("#crm-objects").screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def cell(section, row, column):
    return section.get_by_role("checkbox", name=f"{row}: {column}", exact=True)


def test_admin_sets_the_matrix_as_in_the_seed(page, live_server, admin, org):
    login(page, live_server.url, admin.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations", exact=True).click()
    section = page.locator("#crm-objects")
    section.scroll_into_view_if_needed()
    expect(section.get_by_role("heading", name="CRM Objects Creation")).to_be_visible()
    expect(section.get_by_text("Currently it is possible to create either a Task or an Event.")).to_be_visible()
    # The seed's first screenshot: the defaults.
    for row in ("Create a task", "Create tracker / metadata", "Create a custom object", "Create contact if not exist"):
        expect(cell(section, row, "Recording")).to_be_checked()
    expect(cell(section, "Create an event", "Recording")).not_to_be_checked()
    expect(cell(section, "Push transcript", "Recording")).not_to_be_checked()
    expect(section.get_by_role("checkbox", name="Push transcript: Email")).to_have_count(0)
    expect(section.get_by_role("checkbox", name="Create tracker / metadata: Unrecorded Meeting")).to_have_count(0)
    screenshot(page, "crm_objects_defaults")

    # Task and Event for the same engagement type are refused, with the reason beside it.
    cell(section, "Create an event", "Recording").check()
    section.get_by_role("button", name="Save").click()
    expect(section.get_by_role("alert")).to_contain_text("either a Task or an Event for Recording")
    screenshot(page, "crm_objects_error")
    section_shot(page, "crm_objects_section_error")

    # The seed's Task-or-Event screenshot.
    section = page.locator("#crm-objects")
    cell(section, "Create an event", "Recording").uncheck()
    cell(section, "Create an event", "Email").check()
    cell(section, "Create tracker / metadata", "Recording").uncheck()
    cell(section, "Create tracker / metadata", "Email").check()
    cell(section, "Create a custom object", "Email").check()
    cell(section, "Create contact if not exist", "Recording").uncheck()
    section.get_by_role("button", name="Save").click()
    expect(section.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(section.get_by_label("Recent changes")).to_contain_text("Ada Lovelace")
    screenshot(page, "crm_objects_saved")
    section_shot(page, "crm_objects_section_saved")

    row = CrmObjectsSettings.objects.get(org=org)
    assert {name for name in CELLS if getattr(row, name)} == SEED
    page.reload()
    section = page.locator("#crm-objects")
    expect(cell(section, "Create an event", "Email")).to_be_checked()
    expect(cell(section, "Create a task", "Recording")).to_be_checked()
    expect(cell(section, "Create a task", "Email")).not_to_be_checked()
    expect(cell(section, "Create contact if not exist", "Recording")).not_to_be_checked()


def test_rep_fills_in_required_crm_fields_after_a_call(page, live_server, admin, org):
    from crm.models import CrmField
    from crm.push.models import CrmFieldRequest, RequiredCrmField
    from crm.push.services import engagement_push_prepare
    from testutils.factories import EngagementFactory, ParticipantFactory

    rep = UserFactory(org=org, email="rey@acme.example", first_name="Rey", last_name="Rep", password=PASSWORD)
    outcome = CrmField.objects.create(org=org, provider="salesforce", object_name="Task", api_name="Call_Outcome__c",
                                      label="Call Outcome", field_type="Picklist",
                                      picklist_values=["Connected", "Left voicemail", "No answer"])
    stage = CrmField.objects.create(org=org, provider="salesforce", object_name="Opportunity",
                                    api_name="StageName", label="Opportunity Stage", field_type="Picklist",
                                    picklist_values=["Discovery", "Demo", "Proposal", "Closed Won"])
    for f in (outcome, stage):
        RequiredCrmField.objects.create(org=org, field=f)
    e = EngagementFactory(org=org, owner=rep, title="Wonka and Schrute Farms Connect", crm_opportunity_id="006A")
    ParticipantFactory(engagement=e, name="Willy Wonka", email="willy@wonka.example")
    engagement_push_prepare(engagement=e)

    login(page, live_server.url, rep.email, PASSWORD)
    page.goto(f"{live_server.url}/crm-fields/")
    expect(page.get_by_role("heading", name="CRM fields to fill in")).to_be_visible()
    page.get_by_label("Call Outcome for Wonka and Schrute Farms Connect").select_option("Connected")
    page.get_by_label("Opportunity Stage for Wonka and Schrute Farms Connect").select_option("Demo")
    screenshot(page, "crm_fields_pending")
    page.get_by_role("button", name="Save answers").click()
    expect(page.get_by_text("Nothing to fill in")).to_be_visible()
    assert dict(CrmFieldRequest.objects.values_list("field__label", "value")) == {
        "Call Outcome": "Connected", "Opportunity Stage": "Demo"}
