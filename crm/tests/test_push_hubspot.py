"""Pushing to HubSpot through hubspot-api-client, over the wire to a local HTTPS
server: batch creates with inline associations, the chorus_id look-up on retry,
upserted custom objects with v4 association batches, rate limits, a fault run."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement, Moment
from crm.providers.hubspot.push import HubSpotSender
from crm.push.clients import PushHttp
from crm.push.models import CrmPushState
from crm.push.services import crm_objects_settings_get, engagement_push_prepare
from integrations.models import Connection, Delivery
from integrations.outbox import outbox_process
from testutils import crm_fakes as testing
from testutils.crm_fakes import drain

pytestmark = pytest.mark.django_db
S = Delivery.Status


@pytest.fixture(autouse=True)
def push_crm(push_settings):
    return "hubspot"


def meeting(org, rep, **kw):
    return testing.budget_meeting(org, rep, account="5001", opportunity="9001", **kw)


def ms(dt):
    return str(int(dt.timestamp() * 1000))


def test_exact_task_request_with_inline_associations(org, rep, connection, crm_server):
    row = crm_objects_settings_get(org=org)
    row.custom_object_recording = row.contact_recording = row.tracker_recording = False
    row.save()
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    key = f"crm:hubspot:task:{e.id}"
    crm_server.expect_ordered_request("/crm/v3/objects/tasks/batch/create", method="POST",
                                      headers={"Authorization": "Bearer hs-token"}, json={"inputs": [{
        "properties": {
            "hs_task_subject": "Chorus - Wonka and Schrute Farms Connect",
            "hs_task_body": '<p><strong>RECORDING:</strong><br><a href="https://chorus.ai/meeting/1">'
                            'https://chorus.ai/meeting/1</a></p><p><strong>ATTENDEES:</strong><br>Rey Rep<br>'
                            'Willy Wonka, CEO</p><p><strong>KEY TOPICS DISCUSSED:</strong><br>Budget</p>'
                            '<p><strong>NEXT STEPS (TRANSCRIPT):</strong><br>* Send the invite</p>',
            "hs_timestamp": ms(e.started_at), "hs_task_status": "COMPLETED", "hs_task_type": "CALL",
            "chorus_id": key, "hubspot_owner_id": "77"},
        "associations": [
            {"to": {"id": "5001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]},
            {"to": {"id": "9001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}]}],
    }]}).respond_with_json({"status": "COMPLETE", "results": [
        {"id": "4242", "properties": {"chorus_id": key}, "createdAt": "2026-01-01T00:00:00Z",
         "updatedAt": "2026-01-01T00:00:00Z", "archived": False}]}, status=201,
        headers={"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "249000"})
    assert outbox_process()["sent"] == 1
    crm_server.check_assertions()
    assert Delivery.objects.get().remote_id == "4242"


def test_seed_defaults_end_to_end(org, rep, connection, fake):
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    drain()
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    [contact] = fake.records["contacts"]
    assert contact["properties"] == {"email": "willy@wonka.example", "firstname": "Willy", "lastname": "Wonka",
                                     "jobtitle": "CEO", "hubspot_owner_id": "77"}
    [task] = fake.records["tasks"]
    assert {"to": {"id": contact["id"]}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]} in task["associations"]
    assert fake.records["deals.updates"] == [{"id": "9001", "properties": {"chorus_trackers": "Budget"}}]
    [engagement] = fake.records["chorus_engagement"]
    [moment] = fake.records["chorus_moment"]
    assert engagement["properties"]["chorus_id"] == f"crm:hubspot:engagement:{e.id}"
    assert fake.records["associations"] == [("chorus_moment", moment["id"], "chorus_engagement", engagement["id"])]


def test_event_row_is_not_offered_and_never_sent(org, rep, connection, fake):
    row = crm_objects_settings_get(org=org)
    row.event_recording = True  # as if set behind the form's back
    row.save()
    engagement_push_prepare(engagement=meeting(org, rep))
    drain()
    assert len(fake.records["tasks"]) == 1


def test_retry_reads_by_chorus_id_instead_of_creating_again(org, rep, connection, fake, monkeypatch):
    engagement_push_prepare(engagement=meeting(org, rep))
    real = HubSpotSender.call

    class Killed(BaseException):
        pass

    def dies(self, batch, fn, *args, write, **kw):
        result = real(self, batch, fn, *args, write=write, **kw)
        if write:
            raise Killed
        return result

    monkeypatch.setattr(HubSpotSender, "call", dies)
    with pytest.raises(Killed):
        outbox_process()
    monkeypatch.setattr(HubSpotSender, "call", real)
    drain(start=timezone.now() + timedelta(hours=1))
    assert len(fake.records["contacts"]) == 1 and len(fake.records["tasks"]) == 1
    reads = [c for c in fake.calls if c[1].endswith("/batch/read")]
    assert reads and reads[0][2]["idProperty"] == "email"


def test_a_connection_dropped_after_the_write_is_read_back_not_repeated(org, rep, connection, fake):
    """HubSpot saves the contact, then the connection drops without an answer.
    urllib3 must not send the POST again by itself (the client is built without
    its Retry), the sender treats it as an unknown outcome, and the retry reads the
    contact by email instead of creating it twice."""
    row = crm_objects_settings_get(org=org)
    row.custom_object_recording = row.tracker_recording = False
    row.save()
    engagement_push_prepare(engagement=meeting(org, rep))
    fake.next_faults = ["drop"]
    totals = outbox_process()
    assert (totals["sent"], totals["retrying"]) == (0, 2)  # the task waits for its contact
    assert [(c[0], c[1]) for c in fake.calls] == [("POST", "/crm/v3/objects/contacts/batch/create")]
    assert Delivery.objects.get(kind="contact").last_error == \
        "HubSpot did not answer (ProtocolError); Chorus retries."
    drain(start=timezone.now() + timedelta(hours=1))
    # Only the contact may have been written: it is read back; the task only waited.
    assert [(c[1], c[2].get("idProperty")) for c in fake.calls[1:]] == [
        ("/crm/v3/objects/contacts/batch/read", "email"), ("/crm/v3/objects/tasks/batch/create", None)]
    assert len(fake.records["contacts"]) == 1 and len(fake.records["tasks"]) == 1
    assert fake.records["tasks"][0]["associations"][0]["to"]["id"] == fake.records["contacts"][0]["id"]
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_a_contact_made_in_hubspot_since_the_last_sync_is_linked(org, rep, connection, fake):
    """HubSpot answers 409 (unique email): Chorus reads it and links it, once."""
    fake.records["contacts"].append({"id": "888", "properties": {"email": "willy@wonka.example"}})
    fake.index[("contacts", "email", "willy@wonka.example")] = fake.records["contacts"][0]
    engagement_push_prepare(engagement=meeting(org, rep))
    drain()
    assert len(fake.records["contacts"]) == 1
    assert Delivery.objects.get(kind="contact").remote_id == "888"
    assert {"to": {"id": "888"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]} \
        in fake.records["tasks"][0]["associations"]


def test_a_ten_secondly_limit_waits_its_retry_after(org, rep, connection, crm_server, admin_client):
    """A 429 is read by its policy: TEN_SECONDLY_ROLLING is a wait of the Retry-After
    given, kept as an attempt but not counted towards giving up."""
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(re.compile(r"/crm/.*")).respond_with_json(
        {"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT",
         "policyName": "TEN_SECONDLY_ROLLING"}, status=429, headers={"Retry-After": "10"})
    now = timezone.now()
    assert outbox_process(now=now)["retrying"] == 4
    assert set(Delivery.objects.values_list("attempts", "waits")) == {(1, 1)}
    assert {d.next_attempt_at for d in Delivery.objects.all()} == {now + timedelta(seconds=10)}
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "TEN_SECONDLY_ROLLING" in page and "Pushes wait until" in page


def test_the_daily_limit_pauses_and_says_so(org, rep, connection, crm_server):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(re.compile(r"/crm/.*")).respond_with_json(
        {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
         "policyName": "DAILY"}, status=429)
    now = timezone.now()
    outbox_process(now=now)
    assert {d.next_attempt_at for d in Delivery.objects.all()} == {now + timedelta(hours=1)}
    assert "daily API limit for this account is used up" in CrmPushState.objects.get(org=org).message


WRITES = {"contact create": r"^POST /crm/v3/objects/contacts/batch/create\n",
          "task create": r"^POST /crm/v3/objects/tasks/batch/create\n",
          "deal update": r"^POST /crm/v3/objects/deals/batch/update\n",
          "engagement upsert": r"^POST /crm/v3/objects/2-1001/batch/upsert\n",
          "moment upsert": r"^POST /crm/v3/objects/2-1002/batch/upsert\n",
          "moment association": r"^POST /crm/v4/associations/[^/]+/[^/]+/batch/create\n"}


def test_fault_run_1000_engagements_exactly_once(org, rep, connection, fake, settings, monkeypatch):
    """Every kind of write is committed and then answered 503, reset, answered too
    slowly or dropped; 20 % of all calls fail besides (429 TEN_SECONDLY_ROLLING and
    503 with Retry-After: 1, and the same losses); a worker is killed mid-batch
    twice. Every object and association is in HubSpot exactly once, none is lost, and
    no delivery waited longer than the Retry-After. (A custom object needs several
    calls to all succeed, so this run allows more attempts than production's 8.)"""
    settings.OUTBOX_MAX_ATTEMPTS = 40
    fake.faults = 0.2
    fake.plan_faults(WRITES)
    waits = testing.record_waits(monkeypatch)
    monkeypatch.setattr(PushHttp, "timeout", (3, 0.3))  # the fake's slow answers take 0.6 s
    testing.seed_engagements(org=org, owner=rep, count=1000, moments=5)
    engagements = list(Engagement.objects.filter(org=org).order_by("id"))
    for e in engagements:
        engagement_push_prepare(engagement=e)
    kills = testing.kill_twice(monkeypatch, HubSpotSender, "call", fake, every=20, when=lambda a, kw: kw["write"])
    testing.drain_through_kills(rounds=40)
    assert len(kills) == 2 and set(fake.fault_counts) == set(testing.FAULT_KINDS)
    assert set(fake.fault_log) == {(w, f) for w in WRITES for f in testing.AFTER_COMMIT}
    assert waits and max(waits) <= 1
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    records = fake.records
    for object_type, prop, keys in [
        ("tasks", "chorus_id", [f"crm:hubspot:task:{e.id}" for e in engagements]),
        ("contacts", "email", [f"prospect{i}@customer{i % 50}.example" for i in range(1000)]),
        ("chorus_engagement", "chorus_id", [f"crm:hubspot:engagement:{e.id}" for e in engagements]),
        ("chorus_moment", "chorus_id", [f"crm:hubspot:moment:{m}"
                                        for m in Moment.objects.filter(org=org).values_list("id", flat=True)]),
    ]:
        assert fake.duplicates(object_type, prop) == 0, object_type
        assert sorted(r["properties"][prop] for r in records[object_type]) == sorted(keys), object_type
    contact_ids = {c["properties"]["email"]: c["id"] for c in records["contacts"]}
    for e, task in zip(engagements, sorted(records["tasks"], key=lambda t: int(t["properties"]["chorus_id"]
                                                                              .rsplit(":", 1)[1])), strict=True):
        n = int(e.title.rsplit(" ", 1)[1])
        assert task["associations"][0]["to"]["id"] == contact_ids[f"prospect{n}@customer{n % 50}.example"]
    engagement_ids = {r["properties"]["chorus_id"]: r["id"] for r in records["chorus_engagement"]}
    moment_ids = {r["properties"]["chorus_id"]: r["id"] for r in records["chorus_moment"]}
    expected = {("chorus_moment", moment_ids[f"crm:hubspot:moment:{m_id}"], "chorus_engagement",
                 engagement_ids[f"crm:hubspot:engagement:{e_id}"])
                for m_id, e_id in Moment.objects.filter(org=org).values_list("id", "engagement_id")}
    assert len(records["associations"]) == 5000 and set(records["associations"]) == expected


def test_expired_token_is_refreshed_and_the_push_goes_round_again(org, rep, connection, crm_server):
    connection.secrets = {"access_token": "old", "refresh_token": "refresh-me"}
    connection.save()
    row = crm_objects_settings_get(org=org)
    row.custom_object_recording = row.contact_recording = row.tracker_recording = False
    row.save()
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_ordered_request("/crm/v3/objects/tasks/batch/create", headers={"Authorization": "Bearer old"}) \
        .respond_with_json({"status": "error", "category": "EXPIRED_AUTHENTICATION"}, status=401)
    crm_server.expect_ordered_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "new", "refresh_token": "refresh-2", "expires_in": 1800, "token_type": "bearer"})
    # The retry first reads by chorus_id (the 401'd create may not have been the only attempt).
    crm_server.expect_ordered_request("/crm/v3/objects/tasks/batch/read", headers={"Authorization": "Bearer new"}) \
        .respond_with_json({"status": "COMPLETE", "results": []})
    crm_server.expect_ordered_request("/crm/v3/objects/tasks/batch/create", headers={"Authorization": "Bearer new"}) \
        .respond_with_json({"status": "COMPLETE", "results": [{"id": "1", "properties": {
            "chorus_id": Delivery.objects.get().idempotency_key}, "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z"}]}, status=201)
    assert outbox_process()["retrying"] == 1
    connection.refresh_from_db()
    assert connection.secrets["access_token"] == "new"
    drain(start=timezone.now() + timedelta(hours=1))
    crm_server.check_assertions()
    assert Delivery.objects.get().status == S.SENT


def test_one_failed_update_call_sends_only_its_own_deliveries_round_again(org, rep, connection, fake):
    """Tracker updates go 100 records a call; HubSpot answering 503 to the first call
    leaves the 50 of the second sent, and the 100 come round again."""
    row = crm_objects_settings_get(org=org)
    row.task_recording = row.custom_object_recording = row.contact_recording = False
    row.save()
    testing.seed_engagements(org=org, owner=rep, count=150, moments=1)
    for e in Engagement.objects.filter(org=org).order_by("id"):
        engagement_push_prepare(engagement=e)
    fake.next_faults = ["500"]
    totals = outbox_process(limit=5000)
    assert (totals["sent"], totals["retrying"]) == (50, 100)
    assert [len(c[2]["inputs"]) for c in fake.calls] == [100, 50]
    drain(start=timezone.now() + timedelta(hours=1))
    assert [len(c[2]["inputs"]) for c in fake.calls] == [100, 50, 100]
    assert len(fake.records["deals.updates"]) == 150


@pytest.fixture
def connected_before(org, crm_server):
    """A HubSpot connection made before Chorus set anything up at connect time: no
    chorus_id property, no custom objects — the portal as it is."""
    return Connection.objects.create(org=org, provider="hubspot", status="ok", config={"crm_org_id": "123"},
                                     secrets={"access_token": "hs-token"})


def test_the_first_push_sets_up_what_hubspot_lacks(org, rep, connected_before, crm_server):
    """HubSpot refuses a write to a property that does not exist (chorus_id on
    tasks) and an object type it does not know: the push creates them first, once,
    and keeps the custom objects' ids on the connection."""
    fake = testing.serve(crm_server, testing.FakeHubSpot(), r"/crm.*")
    engagement_push_prepare(engagement=meeting(org, rep))
    assert outbox_process()["sent"] == 4
    [task] = fake.records["tasks"]
    assert task["properties"]["chorus_id"].startswith("crm:hubspot:task:")
    connected_before.refresh_from_db()
    assert connected_before.config["custom_objects"]["engagement"] == fake.type_ids["chorus_engagement"]
    assert [c[1] for c in fake.calls if c[0] == "POST" and "/properties/" in c[1]].count(
        "/crm/v3/properties/tasks") == 1
    calls = len(fake.calls)
    engagement_push_prepare(engagement=meeting(org, rep, title="Another"))
    outbox_process()
    assert len(fake.calls) - calls == 5  # task, deal, engagement, moment, link (the contact exists): no set-up


def test_without_custom_objects_the_engagements_fail_once_and_tasks_go(org, rep, connected_before, crm_server,
                                                                       admin_client):
    """A portal without custom objects (not Enterprise): creating the schema is
    refused, so the Engagement deliveries are settled at once with what to do —
    and the contact, task and deal update go through as if nothing happened."""
    fake = testing.serve(crm_server, testing.FakeHubSpot(custom_objects=False), r"/crm.*")
    engagement_push_prepare(engagement=meeting(org, rep))
    totals = outbox_process()
    assert (totals["sent"], totals["failed"], totals["retrying"]) == (3, 1, 0)
    d = Delivery.objects.get(kind="custom_object")
    assert d.attempts == 1 and "has no custom objects" in d.last_error and "Enterprise" in d.last_error
    assert len(fake.records["tasks"]) == 1 and len(fake.records["contacts"]) == 1
    assert not [c for c in fake.calls if "/batch/upsert" in c[1]]
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "This HubSpot account has no custom objects" in page


def test_a_missing_scope_is_settled_once_with_how_to_grant_it(org, rep, connected_before, crm_server):
    scopes = {"crm.schemas.deals.write", "crm.schemas.companies.write", "crm.schemas.custom.write"}
    fake = testing.serve(crm_server, testing.FakeHubSpot(scopes=scopes), r"/crm.*")
    engagement_push_prepare(engagement=meeting(org, rep))
    outbox_process()
    task = Delivery.objects.get(kind="task")
    assert task.status == S.FAILED and "crm.schemas.contacts.write" in task.last_error
    assert "Reconnect HubSpot" in task.last_error
    assert Delivery.objects.get(kind="custom_object").status == S.SENT and not fake.records["tasks"]


def test_a_property_deleted_since_is_created_again(org, rep, connection, fake):
    del fake.properties["tasks"]["chorus_id"]
    engagement_push_prepare(engagement=meeting(org, rep))
    assert outbox_process()["sent"] == 4
    assert len(fake.records["tasks"]) == 1 and "chorus_id" in fake.properties["tasks"]


def test_the_fake_refuses_what_hubspot_refuses(connection, fake):
    from hubspot.crm.objects.exceptions import ApiException

    from crm.providers.hubspot.push import hubspot_client

    api = hubspot_client(access_token="t")
    with pytest.raises(ApiException) as refused:
        api.crm.objects.batch_api.create("tasks", {"inputs": [{"properties": {"chorus_title": "x"}}]})
    assert refused.value.status == 400 and "PROPERTY_DOESNT_EXIST" in refused.value.body
    with pytest.raises(ApiException) as refused:
        api.crm.objects.batch_api.upsert("chorus_engagement", {"inputs": [
            {"idProperty": "chorus_id", "id": "k", "properties": {}}]})
    assert refused.value.status == 400 and "Unable to infer object type from: chorus_engagement" in refused.value.body
    with pytest.raises(ApiException) as refused:
        api.crm.objects.batch_api.read("deals", {"idProperty": "dealname", "inputs": [{"id": "x"}],
                                                 "properties": []})
    assert refused.value.status == 400 and "not a unique identifier property" in refused.value.body
