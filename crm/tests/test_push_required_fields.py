"""Required CRM fields after calls: the admin picks picklists, reps answer them in
the console with the CRM's values, and the answers reach the CRM record."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import AuditEvent, Tracker
from crm.models import CrmField
from crm.push.models import CrmFieldRequest, RequiredCrmField
from crm.push.registry import register
from crm.push.services import engagement_push_prepare
from integrations.models import Connection, Delivery
from integrations.outbox import outbox_process
from testutils import crm_fakes as testing
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _push(settings):
    register()


@pytest.fixture
def connection(org, crm_server):
    return Connection.objects.create(org=org, provider="salesforce", status="ok", config={
        "instance_url": crm_server.url_for("").rstrip("/"), "crm_org_id": "00D1", "crm_org_name": "Acme",
        "crm_username": "a@acme.example", "edition": "Enterprise Edition", "is_sandbox": False,
        "login_url": "https://login.salesforce.com"}, secrets={"access_token": "t"})


@pytest.fixture
def fields(org):
    def field(obj, name, label, values, ftype="Picklist"):
        return CrmField.objects.create(org=org, provider="salesforce", object_name=obj, api_name=name, label=label,
                                       field_type=ftype, picklist_values=values, selected=True)
    return {"outcome": field("Task", "Call_Outcome__c", "Call Outcome", ["Connected", "Left voicemail"]),
            "next": field("Opportunity", "Next_Step_Stage__c", "Next Stage", ["Discovery", "Demo", "Proposal"]),
            "text": field("Opportunity", "Notes__c", "Notes", [], "String")}


@pytest.fixture
def fake(crm_server, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")
    # The org's own picklists, which Salesforce (and the fake) only take because they exist.
    return testing.serve(crm_server, testing.FakeSalesforce(custom_fields={
        "Task": {"Call_Outcome__c"}, "Opportunity": {"Next_Step_Stage__c", "Notes__c"}}), r"/services/data/.*")


def meeting(org, owner):
    e = EngagementFactory(org=org, owner=owner, title="Demo", crm_account_id="001A", crm_opportunity_id="006A",
                          started_at=timezone.now() - timedelta(hours=1))
    ParticipantFactory(engagement=e, name="Willy Wonka", email="willy@wonka.example")
    MomentFactory(engagement=e, org=org, tracker=Tracker.objects.get_or_create(org=org, name="Budget")[0])
    return e


def test_admin_picks_picklists_only(admin_client, org, admin_user, connection, fields):
    page = admin_client.get("/settings/integrations/").content.decode()
    page = page[page.index('id="crm-objects-body"'):]
    page = page[:page.index("</section>")]
    assert "Task · Call Outcome" in page and "Opportunity · Next Stage" in page and "Notes" not in page
    r = admin_client.post("/settings/integrations/crm-objects/required-fields/",
                          {"required_fields": [fields["outcome"].id, fields["next"].id]})
    assert r.status_code == 302
    assert set(RequiredCrmField.objects.values_list("field__api_name", flat=True)) == {
        "Call_Outcome__c", "Next_Step_Stage__c"}
    assert AuditEvent.objects.get(action="crm_required_fields.update").actor == admin_user
    admin_client.post("/settings/integrations/crm-objects/required-fields/", {"required_fields": [fields["text"].id]})
    assert RequiredCrmField.objects.count() == 2  # a text field can't be required


def test_rep_answers_after_the_call_and_the_crm_gets_them(client, org, rep_user, connection, fields, fake):
    for f in (fields["outcome"], fields["next"]):
        RequiredCrmField.objects.create(org=org, field=f)
    e = meeting(org, rep_user)
    engagement_push_prepare(engagement=e)
    engagement_push_prepare(engagement=e)  # asked once
    assert CrmFieldRequest.objects.filter(user=rep_user).count() == 2

    client.force_login(rep_user)
    page = client.get("/crm-fields/").content.decode()
    assert "Call Outcome" in page and '<option value="Left voicemail">' in page
    nxt, outcome = CrmFieldRequest.objects.order_by("field__object_name")  # Opportunity, Task
    r = client.post("/crm-fields/", {f"answer_{nxt.id}": "Closed Won"})
    body = r.content.decode()
    assert r.status_code == 422 and "Choose one of Salesforce&#x27;s values for Next Stage" in body
    r = client.post("/crm-fields/", {f"answer_{nxt.id}": "Demo", f"answer_{outcome.id}": "Connected"})
    assert r.status_code == 302
    assert "Nothing to fill in" in client.get("/crm-fields/").content.decode()

    outbox_process(limit=5000)
    outbox_process(limit=5000, now=timezone.now() + timedelta(minutes=5))
    task = next(t for t in fake.records["Task"])
    updates = fake.records["Opportunity.updates"] + fake.records["Task.updates"]
    assert {"id": "006A", "Next_Step_Stage__c": "Demo"} in updates
    assert {"id": task["Id"], "Call_Outcome__c": "Connected"} in updates
    assert not Delivery.objects.exclude(status="sent").exists()


def test_someone_elses_questions_are_not_answerable(client, org, rep_user, admin_user, connection, fields):
    RequiredCrmField.objects.create(org=org, field=fields["next"])
    engagement_push_prepare(engagement=meeting(org, admin_user))
    request = CrmFieldRequest.objects.get()
    client.force_login(rep_user)
    client.post("/crm-fields/", {f"answer_{request.id}": "Demo"})
    request.refresh_from_db()
    assert request.answered_at is None and not Delivery.objects.filter(kind="field_update").exists()


def test_dynamics_gets_the_option_value_of_the_label_the_rep_picked(client, org, rep_user, crm_server, caplog):
    """Dataverse choice columns store numbers: the rep picks “Won back”, Dynamics is
    sent 100000001 (the option imported with the field)."""
    caplog.set_level(logging.WARNING, logger="werkzeug")
    Connection.objects.create(org=org, provider="dynamics", status="ok",
                              config={"org_url": crm_server.url_for("").rstrip("/")}, secrets={"access_token": "t"})
    fake = testing.serve(crm_server, testing.FakeDataverse(custom_columns={
        "opportunity": {"new_outcome": "Edm.Int32"}}), r"/api/data/.*")
    field = CrmField.objects.create(
        org=org, provider="dynamics", object_name="Opportunity", api_name="new_outcome", label="Outcome",
        field_type="Picklist", picklist_values=["Lost", "Won back"], picklist_codes={"Lost": 100000000,
                                                                                    "Won back": 100000001})
    RequiredCrmField.objects.create(org=org, field=field)
    opportunity = "6f0e0000-0000-0000-0000-0000000000a1"
    e = meeting(org, rep_user)
    e.crm_opportunity_id = opportunity
    e.save()
    engagement_push_prepare(engagement=e)
    (question,) = CrmFieldRequest.objects.filter(user=rep_user)
    client.force_login(rep_user)
    assert '<option value="Won back">' in client.get("/crm-fields/").content.decode()
    assert client.post("/crm-fields/", {f"answer_{question.id}": "Won back"}).status_code == 302
    outbox_process(limit=5000)
    outbox_process(limit=5000, now=timezone.now() + timedelta(minutes=5))
    patch = next(body for method, path, body in fake.calls if method == "POST" and "new_outcome" in body)
    assert f"PATCH {crm_server.url_for('').rstrip('/')}/api/data/v9.2/opportunities({opportunity}) HTTP/1.1" in patch
    assert '{"new_outcome": 100000001}' in patch
    assert fake.index[("opportunities", opportunity)]["new_outcome"] == 100000001
