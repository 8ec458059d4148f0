"""engagement_push_prepare: what the matrix and the seed's exclusion rules push."""

import pytest

from chorus.models import Engagement, Tracker
from crm.models import CrmContact
from crm.push.models import ROW_COLUMNS
from crm.push.services import (
    BLOCKLISTED,
    ONLY_INTERNAL,
    RECORDING_TURNED_OFF,
    crm_objects_settings_get,
    engagement_push_prepare,
    push_exclusion_reason,
    push_plan,
)
from integrations.models import Connection, Delivery
from testutils.crm_fakes import matrix
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sf(org):
    return Connection.objects.create(org=org, provider="salesforce", status="ok",
                                     config={"instance_url": "https://acme.my.salesforce.com"},
                                     secrets={"access_token": "t"})


@pytest.fixture
def rep(org):
    return UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep",
                       external_ids={"salesforce": "005000000000001", "hubspot": "77"})


def meeting(org, rep, kind=Engagement.Kind.RECORDING, **kw):
    defaults = {"title": "Wonka and Schrute Farms Connect", "crm_account_id": "001A", "crm_opportunity_id": "006A",
                "recording_url": "https://chorus.ai/meeting/1", "next_steps": ["Send the invite"]}
    e = EngagementFactory(org=org, owner=rep, kind=kind, **{**defaults, **kw})
    ParticipantFactory(engagement=e, name="Rey Rep", email="rep@acme.example", is_internal=True)
    ParticipantFactory(engagement=e, name="Willy Wonka", title="CEO", email="willy@wonka.example")
    MomentFactory(engagement=e, org=org, tracker=Tracker.objects.get_or_create(org=org, name="Budget")[0],
                  at_seconds=5)
    return e


def kinds(deliveries):
    return sorted(d.kind for d in deliveries)


def test_nothing_without_a_connected_crm(org, rep):
    assert engagement_push_prepare(engagement=meeting(org, rep)) == []


def test_recording_with_the_seed_defaults(org, rep, sf):
    e = meeting(org, rep)
    out = engagement_push_prepare(engagement=e)
    assert kinds(out) == ["contact", "custom_object", "task", "trackers"]
    task = next(d for d in out if d.kind == "task")
    assert task.target == "salesforce" and task.idempotency_key == f"crm:salesforce:task:{e.id}"
    assert task.payload["subject"] == "Chorus - Wonka and Schrute Farms Connect"
    assert task.payload["body"].startswith(
        "RECORDING:\nhttps://chorus.ai/meeting/1\n\nATTENDEES:\nRey Rep\nWilly Wonka, CEO")
    assert task.payload["owner_id"] == "005000000000001"
    assert (task.payload["opportunity_id"], task.payload["account_id"]) == ("006A", "001A")
    assert task.payload["contact_keys"] == ["crm:salesforce:contact:willy@wonka.example"]
    contact = next(d for d in out if d.kind == "contact")
    assert contact.payload["email"] == "willy@wonka.example" and contact.engagement is None
    assert (contact.payload["first_name"], contact.payload["last_name"]) == ("Willy", "Wonka")
    custom = next(d for d in out if d.kind == "custom_object")
    assert [m["tracker"] for m in custom.payload["moments"]] == ["Budget"]


def test_preparing_twice_enqueues_once(org, rep, sf):
    e = meeting(org, rep)
    first = engagement_push_prepare(engagement=e)
    second = engagement_push_prepare(engagement=e)
    assert [d.id for d in first] == [d.id for d in second]
    assert Delivery.objects.filter(org=org).count() == 4


def test_one_contact_for_one_new_person_across_meetings(org, rep, sf):
    engagement_push_prepare(engagement=meeting(org, rep))
    engagement_push_prepare(engagement=meeting(org, rep, title="Follow-up"))
    assert Delivery.objects.filter(org=org, kind="contact").count() == 1
    assert Delivery.objects.filter(org=org, kind="task").count() == 2


def test_known_contacts_are_linked_not_created(org, rep, sf):
    CrmContact.objects.create(org=org, provider="salesforce", remote_id="003KNOWN", email="willy@wonka.example")
    out = engagement_push_prepare(engagement=meeting(org, rep))
    assert "contact" not in kinds(out)
    assert next(d for d in out if d.kind == "task").payload["who_ids"] == ["003KNOWN"]


def test_email_pushes_nothing_by_default_and_a_task_when_asked(org, rep, sf):
    assert engagement_push_prepare(engagement=meeting(org, rep, kind=Engagement.Kind.EMAIL)) == []
    matrix(org, task_email=True)
    assert kinds(engagement_push_prepare(engagement=meeting(org, rep, kind=Engagement.Kind.EMAIL))) == ["task"]


def test_event_instead_of_task(org, rep, sf):
    matrix(org, task_recording=False, event_recording=True, custom_object_recording=False, contact_recording=False,
           tracker_recording=False)
    e = meeting(org, rep)
    out = engagement_push_prepare(engagement=e)
    assert kinds(out) == ["event"] and out[0].idempotency_key == f"crm:salesforce:event:{e.id}"


def test_hubspot_never_gets_an_event(org, rep, sf):
    sf.provider = "hubspot"
    sf.save()
    matrix(org, event_recording=True, custom_object_recording=False, contact_recording=False)
    assert kinds(engagement_push_prepare(engagement=meeting(org, rep))) == ["task", "trackers"]


def test_push_transcript_only_for_recordings_with_a_transcript(org, rep, sf):
    matrix(org, transcript_recording=True, custom_object_recording=False, contact_recording=False)
    assert "transcript" not in kinds(engagement_push_prepare(engagement=meeting(org, rep)))
    out = engagement_push_prepare(engagement=meeting(org, rep, transcript="Hello there."))
    t = next(d for d in out if d.kind == "transcript")
    assert t.payload["text"] == "Hello there." and t.payload["activity_key"].startswith("crm:salesforce:task:")


def test_account_created_when_nothing_matched(org, rep, sf):
    matrix(org, account_recording=True)
    out = engagement_push_prepare(engagement=meeting(org, rep, crm_account_id="", crm_opportunity_id=""))
    account = next(d for d in out if d.kind == "account")
    assert account.payload["name"] == "Wonka" and account.payload["website"] == "https://wonka.example"
    assert next(d for d in out if d.kind == "contact").payload["account_key"] == account.idempotency_key
    assert "trackers" not in kinds(out)  # nothing to write them on


def test_contacts_for_moments_follow_the_support_switch(org, rep, sf):
    matrix(org, contact_recording=False)
    assert "contact" in kinds(engagement_push_prepare(engagement=meeting(org, rep)))
    matrix(org, contact_recording=False, contacts_for_moments=False)
    assert "contact" not in kinds(engagement_push_prepare(engagement=meeting(org, rep, title="Other")))


# --- Unrecorded meetings: a task, except the seed's three exclusions ------------------------------


def unrecorded(org, rep, **kw):
    return meeting(org, rep, kind=Engagement.Kind.UNRECORDED_MEETING, recording_url="", **kw)


def test_unrecorded_meeting_gets_a_task_when_enabled(org, rep, sf):
    assert engagement_push_prepare(engagement=unrecorded(org, rep)) == []
    matrix(org, task_unrecorded=True)
    out = engagement_push_prepare(engagement=unrecorded(org, rep))
    assert kinds(out) == ["task"]
    assert "RECORDING:" not in out[0].payload["body"]


def test_rule_recording_turned_off_by_the_user(org, rep, sf):
    matrix(org, task_unrecorded=True)
    e = unrecorded(org, rep, recording_disabled=True)
    assert push_exclusion_reason(engagement=e, participants=list(e.participants.all())) == RECORDING_TURNED_OFF
    assert engagement_push_prepare(engagement=e) == []


def test_rule_only_internal_or_ignored_participants(org, rep, sf):
    matrix(org, task_unrecorded=True)
    e = unrecorded(org, rep)
    e.participants.filter(is_internal=False).update(is_ignored=True)
    ParticipantFactory(engagement=e, name="Jim", email="jim@acme.example", is_internal=True)
    assert push_exclusion_reason(engagement=e, participants=list(e.participants.all())) == ONLY_INTERNAL
    assert engagement_push_prepare(engagement=e) == []


def test_rule_a_blocklisted_participant(org, rep, sf):
    matrix(org, task_unrecorded=True)
    e = unrecorded(org, rep)
    ParticipantFactory(engagement=e, name="Blocked", email="b@blocked.example", is_blocklisted=True)
    assert push_exclusion_reason(engagement=e, participants=list(e.participants.all())) == BLOCKLISTED
    assert engagement_push_prepare(engagement=e) == []


def test_exclusion_rules_are_for_meetings_recorded_or_not(org, rep, sf):
    """Seed: "Meetings where recording is disabled, includes only internal or ignored
    participants, or has at least one block-listed participant will not be pushed"."""
    recorded = meeting(org, rep)
    ParticipantFactory(engagement=recorded, name="Blocked", email="b@blocked.example", is_blocklisted=True)
    assert push_exclusion_reason(engagement=recorded, participants=list(recorded.participants.all())) == BLOCKLISTED
    assert engagement_push_prepare(engagement=recorded) == []
    internal_only = meeting(org, rep)
    internal_only.participants.filter(is_internal=False).update(is_internal=True)
    assert engagement_push_prepare(engagement=internal_only) == []
    for kind in (Engagement.Kind.EMAIL, Engagement.Kind.DIALER_CALL):
        e = meeting(org, rep, kind=kind)
        e.participants.update(is_internal=True)
        assert push_exclusion_reason(engagement=e, participants=list(e.participants.all())) is None


def test_dialer_calls_get_no_second_task(org, rep, sf):
    """The dialer logged the call in the CRM already: Chorus adds the trackers, the
    Engagement object and the contact, never another task or event."""
    matrix(org, task_recording=True, contact_recording=True)
    e = meeting(org, rep, kind=Engagement.Kind.DIALER_CALL)
    assert kinds(engagement_push_prepare(engagement=e)) == ["contact", "custom_object", "trackers"]
    matrix(org, task_recording=False, event_recording=True)
    assert "event" not in kinds(engagement_push_prepare(engagement=meeting(org, rep, kind=Engagement.Kind.DIALER_CALL,
                                                                             external_id="call-2")))


def test_all_or_nothing(org, rep, sf, monkeypatch):
    """The deliveries are written in one transaction: a failure leaves none."""
    real = Delivery.objects.filter

    def fails_after_insert(*args, **kw):
        if "idempotency_key__in" in kw:
            raise RuntimeError("database went away")
        return real(*args, **kw)

    monkeypatch.setattr(Delivery.objects, "filter", fails_after_insert)
    with pytest.raises(RuntimeError):
        engagement_push_prepare(engagement=meeting(org, rep))
    monkeypatch.undo()
    assert not Delivery.objects.filter(org=org).exists()


def test_prepare_costs_a_few_queries(org, rep, sf, django_assert_max_num_queries):
    e = Engagement.objects.select_related("org", "owner").get(pk=meeting(org, rep).pk)
    crm_objects_settings_get(org=org)
    # connection, matrix, participants, moments, known contacts, required fields, insert, read back
    with django_assert_max_num_queries(10):
        assert len(engagement_push_prepare(engagement=e)) == 4


def test_the_engagement_page_says_what_was_pushed_or_why_not(client, org, rep, sf, admin_user):
    client.force_login(admin_user)
    pushed = meeting(org, rep)
    engagement_push_prepare(engagement=pushed)
    Delivery.objects.filter(kind="task").update(status="sent", remote_id="00T000000000042")
    html = client.get(f"/recordings/{pushed.pk}/").content.decode()
    assert "In your CRM" in html and "00T000000000042" in html and "Custom object" in html
    assert "Contact willy@wonka.example" in html  # the contact made for it (a shared row)
    blocked = meeting(org, rep)
    ParticipantFactory(engagement=blocked, email="b@blocked.example", is_blocklisted=True)
    assert "Nothing pushed. At least one participant is on the block list." in \
        client.get(f"/recordings/{blocked.pk}/").content.decode()
    email = meeting(org, rep, kind=Engagement.Kind.EMAIL)
    assert "CRM Objects Creation creates nothing for Email engagements." in \
        client.get(f"/recordings/{email.pk}/").content.decode()
    sf.delete()
    assert "Nothing pushed. No CRM is connected." in client.get(f"/recordings/{email.pk}/").content.decode()


def test_an_admin_pushes_failed_objects_again(client, org, rep, sf, admin_user, other_org):
    from chorus.models import AuditEvent

    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    Delivery.objects.filter(kind="task").update(status="failed", attempts=8, last_error="Gave up after 8 attempts")
    Delivery.objects.filter(kind="contact").update(status="retrying", attempts=3)
    Delivery.objects.filter(kind="custom_object").update(status="sent", remote_id="a01")
    url = f"/settings/integrations/crm-objects/engagements/{e.pk}/push-again/"
    client.force_login(rep)
    assert "Push again" not in client.get(f"/recordings/{e.pk}/").content.decode()
    assert client.post(url).status_code == 403  # reps see the page, admins push again
    client.force_login(admin_user)
    assert "Push again" in client.get(f"/recordings/{e.pk}/").content.decode()
    html = client.post(url, follow=True).content.decode()
    assert "Chorus pushes 3 CRM objects again now." in html  # task, trackers… not the sent one
    again = {d.kind: (d.status, d.attempts) for d in Delivery.objects.all()}
    assert again["task"] == ("queued", 0) and again["contact"] == ("queued", 0) and again["custom_object"][0] == "sent"
    assert AuditEvent.objects.get(action="crm_objects.push_again").actor == admin_user
    theirs = EngagementFactory(org=other_org)
    assert client.post(f"/settings/integrations/crm-objects/engagements/{theirs.pk}/push-again/").status_code == 404


@pytest.mark.parametrize("provider", ["salesforce", "hubspot", "dynamics"])
@pytest.mark.parametrize("activity", ["task", "event"])
def test_what_a_dialer_call_gets_row_by_row(org, provider, activity):
    """CRM Objects Creation, Recording column, every row ticked: a dialer call gets
    every row but the task and the event (the dialer already logged the call as a CRM
    activity); a Zoom recording of the same settings gets the activity too."""
    cells = {f"{row}_recording": True for row, columns in ROW_COLUMNS.items() if "recording" in columns}
    cells[f"{'event' if activity == 'task' else 'task'}_recording"] = False  # one or the other
    matrix(org, **cells)
    settings_row = crm_objects_settings_get(org=org)
    call = EngagementFactory(org=org, kind=Engagement.Kind.DIALER_CALL)
    plan = push_plan(engagement=call, settings_row=settings_row, provider=provider)
    assert {row for row, on in plan.items() if on} == {"tracker", "custom_object", "contact", "account", "transcript"}
    recording = EngagementFactory(org=org, kind=Engagement.Kind.RECORDING)
    plan = push_plan(engagement=recording, settings_row=settings_row, provider=provider)
    events = activity == "event" and provider != "hubspot"  # HubSpot has no calendar events
    assert plan["task"] == (activity == "task") and plan["event"] == events
