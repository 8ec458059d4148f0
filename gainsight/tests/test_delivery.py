"""Gainsight Timeline activities at the wire, against the strict fake."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Tracker, User
from crm.models import AccountMatch, CrmAccount
from gainsight.delivery import gainsight_ready
from integrations.models import Connection, ConnectionStatus, Delivery
from integrations.outbox import outbox_process
from integrations.ready import LISTENERS
from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory, TrackerFactory, UserFactory

S = Delivery.Status


@pytest.fixture
def connected(salesforce, gainsight):
    org = salesforce.org
    Connection.objects.create(org=org, provider="gainsight", status=ConnectionStatus.OK, config={"domain": "acme"},
                              secrets={"access_key": gainsight.access_key})
    return org


def meeting(org, *, account_name="Initech", sfdc="001A000001", summary="Ada: we agreed on a pilot."):
    owner = User.objects.filter(org=org, email="owner@acme.example").first() or UserFactory(
        org=org, email="owner@acme.example", first_name="Olive", last_name="Owner")
    e = EngagementFactory(org=org, owner=owner, title="Pilot review", duration_seconds=1830, summary=summary,
                          action_items=["Send the pilot contract"], recording_url="https://media.example/r/1.mp4")
    ParticipantFactory(engagement=e, name="Peter Gibbons", email="peter@initech.example", title="VP Ops")
    ParticipantFactory(engagement=e, name="Olive Owner", email="owner@acme.example", is_internal=True)
    MomentFactory(engagement=e, tracker=Tracker.objects.filter(org=org, name="Pricing").first()
                  or TrackerFactory(org=org, name="Pricing"))
    account = CrmAccount.objects.create(org=org, provider="salesforce", remote_id=sfdc, name=account_name)
    AccountMatch.objects.create(org=org, engagement=e, account=account, rule=AccountMatch.Rule.DOMAIN)
    return e


def test_listener_is_registered_after_matching():
    assert LISTENERS["gainsight.timeline"].order == 70


def test_payload(connected, gainsight):
    e = meeting(connected)
    gsid = gainsight.add_company("Initech", "001A000001")
    gainsight.users.add("owner@acme.example")
    gainsight_ready(org=connected, engagements=[e])
    gainsight_ready(org=connected, engagements=[e])  # announced again: still one row
    d = Delivery.objects.get(org=connected, target="gainsight")
    assert d.idempotency_key == f"gainsight:{e.id}"

    assert outbox_process()["sent"] == 1
    query = gainsight.calls("query")[0]["body"]
    assert query["where"]["conditions"] == [{"name": "SfdcAccountId", "alias": "A", "value": ["001A000001"],
                                             "operator": "IN"}]
    call = gainsight.calls("activity")[0]
    assert call["headers"]["Accesskey"] == gainsight.access_key
    record = call["body"]["records"][0]
    assert {k: record[k] for k in ("ContextName", "TypeName", "ExternalId", "Subject", "Author", "GsCompanyId")} == {
        "ContextName": "Company", "TypeName": "Meeting", "ExternalId": f"chorus-{e.id}",
        "Subject": "Chorus - Pilot review", "Author": "owner@acme.example", "GsCompanyId": gsid}
    notes = record["Notes"]
    for expected in ("Pilot review", "https://media.example/r/1.mp4", "Peter Gibbons", "VP Ops", "Olive Owner",
                     "Pricing", "30 min 30 s", f"/recordings/{e.id}/", "we agreed on a pilot",
                     "Send the pilot contract"):
        assert expected in notes
    assert notes.index("External attendees") < notes.index("Peter Gibbons") < notes.index("Internal attendees")
    assert call["body"]["lookups"]["AuthorId"]["objectName"] == "GsUser"
    d.refresh_from_db()
    assert d.status == S.SENT and d.remote_id == gainsight.activities[f"chorus-{e.id}"]["Gsid"]


def test_a_lost_answer_is_retried_without_a_duplicate(connected, gainsight):
    e = meeting(connected)
    gainsight.add_company("Initech", "001A000001")
    gainsight.users.add("owner@acme.example")
    gainsight_ready(org=connected, engagements=[e])
    gainsight.fail_next("activity", 503, apply=True)  # Gainsight stored it, the answer was lost
    assert outbox_process()["retrying"] == 1
    d = Delivery.objects.get(target="gainsight")
    assert d.write_attempted_at is not None
    outbox_process(now=timezone.now() + timedelta(hours=1))
    d.refresh_from_db()
    assert d.status == S.SENT and d.remote_id == f"chorus-{e.id}"
    assert list(gainsight.activities) == [f"chorus-{e.id}"]
    assert len(gainsight.calls("activity")) == 2


def test_429_waits_its_retry_after(connected, gainsight):
    e = meeting(connected)
    gainsight.add_company("Initech", "001A000001")
    gainsight.users.add("owner@acme.example")
    gainsight_ready(org=connected, engagements=[e])
    gainsight.throttle("query", retry_after=42)
    now = timezone.now()
    assert outbox_process(now=now)["deferred"] == 1
    d = Delivery.objects.get(target="gainsight")
    assert d.status == S.RETRYING and d.waits == 1
    assert abs((d.next_attempt_at - now).total_seconds() - 42) < 1
    assert outbox_process(now=now + timedelta(seconds=43))["sent"] == 1


def test_429_mid_batch_throttles_the_rest(connected, gainsight):
    first, second = meeting(connected), meeting(connected, account_name="Globex", sfdc="001A000002")
    gainsight.add_company("Initech", "001A000001")
    gainsight.add_company("Globex", "001A000002")
    gainsight.users.add("owner@acme.example")
    gainsight_ready(org=connected, engagements=[first, second])
    gainsight.fail_next("activity", 500)  # the first insert sent: a server error, retried
    gainsight.throttle("activity", retry_after=20)  # the next: rate limited
    assert outbox_process()["retrying"] == 2
    rows = sorted(Delivery.objects.filter(target="gainsight"), key=lambda d: d.waits)
    assert rows[0].waits == 0 and "500" in rows[0].last_error  # a failure, counted
    assert rows[1].waits == 1 and "retrying after 20 s" in rows[1].last_error  # a wait, not counted


def test_an_account_missing_in_gainsight_is_skipped_with_the_reason(connected, gainsight, admin_client):
    e = meeting(connected, account_name="Umbrella Corp", sfdc="001A000009")
    gainsight.users.add("owner@acme.example")
    gainsight_ready(org=connected, engagements=[e])
    assert outbox_process()["failed"] == 1
    d = Delivery.objects.get(target="gainsight")
    assert d.status == S.FAILED and d.last_error == "The account Umbrella Corp is not in Gainsight"
    assert gainsight.calls("activity") == []
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "The account Umbrella Corp is not in Gainsight" in page


def test_unmatched_or_non_enterprise_engagements_are_not_queued(connected, gainsight, org):
    e = EngagementFactory(org=connected)
    gainsight_ready(org=connected, engagements=[e])
    assert not Delivery.objects.filter(target="gainsight").exists()
