"""Pushing to Salesforce through simple-salesforce, over the wire to a local HTTPS
server: the exact requests, Task vs Event, every matrix row, exactly-once retries,
rate limits and the daily allowance, and the 20 % fault run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement
from crm.providers.salesforce.push import SalesforceSender
from crm.push.clients import PushHttp
from crm.push.models import CrmPushState
from crm.push.services import engagement_push_prepare
from crm.tests.conftest import requests_to
from integrations.models import Delivery
from integrations.outbox import outbox_process
from testutils import crm_fakes as testing
from testutils.crm_fakes import drain, matrix
from testutils.factories import ParticipantFactory

pytestmark = pytest.mark.django_db
API = "/services/data/v59.0/"
S = Delivery.Status


@pytest.fixture(autouse=True)
def push_crm(push_settings):
    return "salesforce"


def meeting(org, rep, **kw):
    return testing.budget_meeting(org, rep, account="001A00000000001", opportunity="006A00000000001",
                                  **{"duration_seconds": 1800, **kw})


def test_exact_requests_for_a_recording_with_the_seed_defaults(org, rep, connection, crm_server):
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    auth = {"Authorization": "Bearer sf-token"}
    crm_server.expect_ordered_request(f"{API}composite/sobjects", method="POST", headers=auth, json={
        "allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "FirstName": "Willy", "LastName": "Wonka",
                                         "Email": "willy@wonka.example", "Title": "CEO",
                                         "AccountId": "001A00000000001", "OwnerId": "005000000000001"}],
    }).respond_with_json([{"id": "003NEW000000001", "success": True, "errors": []}],
                         headers={"Sforce-Limit-Info": "api-usage=10/100000"})
    crm_server.expect_ordered_request(f"{API}composite/sobjects", method="POST", headers=auth, json={
        "allOrNone": False, "records": [{
            "attributes": {"type": "Task"}, "Subject": "Chorus - Wonka and Schrute Farms Connect",
            "Description": "RECORDING:\nhttps://chorus.ai/meeting/1\n\nATTENDEES:\nRey Rep\nWilly Wonka, CEO\n\n"
                           "KEY TOPICS DISCUSSED:\nBudget\n\nNEXT STEPS (TRANSCRIPT):\n* Send the invite",
            "ActivityDate": e.started_at.date().isoformat(), "Status": "Completed", "Type": "Call",
            "TaskSubtype": "Call", "CallObject": f"crm:salesforce:task:{e.id}", "CallDurationInSeconds": 1800,
            "WhoId": "003NEW000000001", "WhatId": "006A00000000001", "OwnerId": "005000000000001"}],
    }).respond_with_json([{"id": "00TNEW000000001", "success": True, "errors": []}])
    crm_server.expect_ordered_request(f"{API}composite/sobjects", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Opportunity"}, "id": "006A00000000001",
                                         "affectlayer__Chorus_Trackers__c": "Budget"}],
    }).respond_with_json([{"id": "006A00000000001", "success": True, "errors": []}])
    moment = e.moments.get()
    start = e.started_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    eng, mom, key = "affectlayer__Chorus_Engagement__c", "affectlayer__Chorus_Moment__c", "affectlayer__Chorus_Id__c"
    crm_server.expect_ordered_request(f"{API}composite/graph", method="POST", json={"graphs": [{
        "graphId": f"g{Delivery.objects.get(kind='custom_object').id}_0", "compositeRequest": [
            {"method": "PATCH", "referenceId": "engagement",
             "url": f"{API}sobjects/{eng}/{key}/crm:salesforce:engagement:{e.id}",
             "body": {"Name": "Wonka and Schrute Farms Connect", "affectlayer__Type__c": "recording",
                      "affectlayer__Start_Time__c": start, "affectlayer__Duration_Seconds__c": 1800,
                      "affectlayer__Recording_URL__c": "https://chorus.ai/meeting/1",
                      "affectlayer__Account__c": "001A00000000001", "affectlayer__Opportunity__c": "006A00000000001",
                      "affectlayer__Contact__c": "003NEW000000001", "OwnerId": "005000000000001"}},
            {"method": "PATCH", "referenceId": "m0",
             "url": f"{API}sobjects/{mom}/{key}/crm:salesforce:moment:{moment.id}",
             "body": {"affectlayer__Engagement__r": {key: f"crm:salesforce:engagement:{e.id}"},
                      "affectlayer__Tracker__c": "Budget", "affectlayer__Seconds__c": 5,
                      "affectlayer__Text__c": "What is the budget?", "affectlayer__Speaker__c": "Willy Wonka",
                      "affectlayer__Contact__c": "003NEW000000001"}}]}]},
    ).respond_with_json({"graphs": [{"graphId": f"g{Delivery.objects.get(kind='custom_object').id}_0",
                                     "isSuccessful": True, "graphResponse": {"compositeResponse": [
                                         {"body": {"id": "a01NEW000000001"}, "httpStatusCode": 201,
                                          "referenceId": "engagement"}]}}]})
    totals = outbox_process()
    crm_server.check_assertions()
    assert totals["sent"] == 4
    assert dict(Delivery.objects.values_list("kind", "remote_id")) == {
        "contact": "003NEW000000001", "task": "00TNEW000000001", "trackers": "006A00000000001",
        "custom_object": "a01NEW000000001"}
    assert CrmPushState.objects.get(org=org).api_used == 10


def test_event_instead_of_task(org, rep, connection, fake):
    matrix(org, task_recording=False, event_recording=True)
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    drain()
    assert fake.count("Task") == 0
    [event] = fake.records["Event"]
    assert event["Subject"] == "Chorus - Wonka and Schrute Farms Connect"
    assert event["StartDateTime"] == e.started_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert event["EndDateTime"] == (e.started_at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert event["Description"].startswith("RECORDING:\n") and event["WhatId"] == "006A00000000001"


@pytest.mark.parametrize("row,expect", [
    ("task", {"Task": 1}), ("tracker", {"Opportunity.updates": 1}),
    ("custom_object", {"affectlayer__Chorus_Engagement__c": 1, "affectlayer__Chorus_Moment__c": 1,
                       "Contact": 1}),
    ("contact", {"Contact": 1}), ("account", {"Account": 1, "Contact": 0}),
    ("transcript", {"ContentVersion": 1}),
])
def test_each_row_of_the_matrix(org, rep, connection, fake, row, expect):
    cells = {f"{r}_recording": False for r in ("task", "tracker", "custom_object", "contact")}
    matrix(org, **{**cells, f"{row}_recording": True}, contacts_for_moments=True)
    extra = {"crm_account_id": "", "crm_opportunity_id": ""} if row == "account" else {}
    engagement_push_prepare(engagement=meeting(org, rep, transcript="Willy: hello", **extra))
    drain()
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    for kind, n in expect.items():
        assert fake.count(kind) == n, kind
    created = {k for k, v in fake.records.items() if v}
    assert created == {k for k, n in expect.items() if n}
    if row == "account":
        assert fake.records["Account"][0] == {"Name": "Wonka", "Website": "https://wonka.example",
                                              "OwnerId": "005000000000001", "Id": fake.records["Account"][0]["Id"]}
    if row == "transcript":
        cv = fake.records["ContentVersion"][0]
        assert cv["Title"] == "Chorus transcript - Wonka and Schrute Farms Connect"
        assert cv["VersionData"] == "V2lsbHk6IGhlbGxv" and cv["FirstPublishLocationId"] == "006A00000000001"


def test_unrecorded_meeting_task_and_its_exclusions(org, rep, connection, fake):
    matrix(org, task_unrecorded=True)
    kind = Engagement.Kind.UNRECORDED_MEETING
    pushed = meeting(org, rep, kind=kind, recording_url="", title="")
    off = meeting(org, rep, kind=kind, recording_url="", recording_disabled=True)
    blocked = meeting(org, rep, kind=kind, recording_url="")
    ParticipantFactory(engagement=blocked, name="B", email="b@blocked.example", is_blocklisted=True)
    internal = meeting(org, rep, kind=kind, recording_url="")
    internal.participants.filter(is_internal=False).update(is_ignored=True)
    for e in (pushed, off, blocked, internal):
        engagement_push_prepare(engagement=e)
    drain()
    [task] = fake.records["Task"]
    assert task["Subject"] == "Chorus - Unscheduled Meeting" and task["CallObject"].endswith(f":{pushed.id}")
    assert not task["Description"].startswith("RECORDING")


def test_a_retry_finds_what_the_first_attempt_made(org, rep, connection, fake, monkeypatch):
    """The worker dies after Salesforce saved the batch and before the outbox heard:
    the rows come back after their lease, are looked up, and nothing is made twice."""
    engagement_push_prepare(engagement=meeting(org, rep))
    real = SalesforceSender.call

    class Killed(BaseException):
        pass

    def dies_after_writing(self, api, batch, path, **kw):
        result = real(self, api, batch, path, **kw)
        if kw.get("write"):
            raise Killed
        return result

    monkeypatch.setattr(SalesforceSender, "call", dies_after_writing)
    with pytest.raises(Killed):
        outbox_process()
    monkeypatch.setattr(SalesforceSender, "call", real)
    assert fake.count("Contact") == 1
    drain(start=timezone.now() + timedelta(hours=1))
    assert fake.count("Contact") == 1 and fake.count("Task") == 1
    queries = [c for c in fake.calls if c[0] == "GET"]
    assert any("FROM Contact WHERE Email IN ('willy@wonka.example')" in str(c) for c in fake.calls) or queries
    assert Delivery.objects.filter(status=S.SENT).count() == 4


def test_a_connection_dropped_after_the_write_is_looked_up_not_repeated(org, rep, connection, fake, crm_server):
    """Salesforce saves the contact, then the connection drops without an answer:
    the client sees a ConnectionError (not an HTTP status), the outcome is unknown,
    so the retry looks the contact up by email and creates nothing twice."""
    matrix(org, custom_object_recording=False, tracker_recording=False)
    engagement_push_prepare(engagement=meeting(org, rep))
    fake.next_faults = ["drop"]
    totals = outbox_process()
    assert (totals["sent"], totals["retrying"]) == (0, 2)  # the task waits for its contact
    contact = Delivery.objects.get(kind="contact")
    assert contact.last_error == "Salesforce did not answer (ConnectionError); Chorus retries."
    assert [(c[0], c[1]) for c in fake.calls] == [("POST", f"{API}composite/sobjects")]
    drain(start=timezone.now() + timedelta(hours=1))
    # Only the contact may have been written, so only it is looked up first; the task
    # had only waited for it (a persisted fact, not a guess from the attempt count).
    assert [(c[0], c[1]) for c in fake.calls[1:]] == [("GET", f"{API}query/"), ("POST", f"{API}composite/sobjects")]
    queries = [req.args["q"] for req in requests_to(crm_server, f"{API}query/")]
    assert queries[0] == "SELECT Id, Email FROM Contact WHERE Email IN ('willy@wonka.example')"
    assert fake.count("Contact") == 1 and fake.count("Task") == 1
    assert fake.records["Task"][0]["WhoId"] == fake.records["Contact"][0]["Id"]
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_expired_token_is_refreshed_once_through_crm_connect(org, rep, connection, crm_server, settings):
    settings.SALESFORCE_LOGIN_URL = crm_server.url_for("").rstrip("/")
    connection.secrets = {"access_token": "old", "refresh_token": "refresh-me"}
    connection.save()
    matrix(org, custom_object_recording=False, contact_recording=False, tracker_recording=False)
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_ordered_request(f"{API}composite/sobjects", headers={"Authorization": "Bearer old"}) \
        .respond_with_json([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired"}], status=401)
    crm_server.expect_ordered_request("/services/oauth2/token", method="POST").respond_with_json(
        {"access_token": "new", "instance_url": connection.config["instance_url"]})
    crm_server.expect_ordered_request(f"{API}composite/sobjects", headers={"Authorization": "Bearer new"}) \
        .respond_with_json([{"id": "00T1", "success": True, "errors": []}])
    assert outbox_process()["sent"] == 1
    crm_server.check_assertions()
    connection.refresh_from_db()
    assert connection.secrets["access_token"] == "new"


def test_a_rate_limit_waits_exactly_its_retry_after(org, rep, connection, crm_server, admin_client):
    """Salesforce's concurrent-request limit shares REQUEST_LIMIT_EXCEEDED with the
    daily cap: a 429 with Retry-After: 2 is a two-second wait — not an hour's pause —
    the attempt is kept (never handed back) and the wait does not count towards
    giving up. The page says which limit and until when."""
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}composite/sobjects").respond_with_json(
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentRequests (Concurrent API Requests) Limit "
                                                            "exceeded."}], status=429, headers={"Retry-After": "2"})
    now = timezone.now()
    totals = outbox_process(now=now)
    assert totals["retrying"] == 4
    for d in Delivery.objects.all():
        assert d.status == S.RETRYING and (d.attempts, d.waits) == (1, 1)
        assert d.next_attempt_at == now + timedelta(seconds=2)
    state = CrmPushState.objects.get(org=org)
    assert "concurrent API requests" in state.message and state.paused_until < timezone.now() + timedelta(seconds=3)
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "concurrent API requests" in page and "Pushes wait until" in page


def test_a_concurrent_limit_403_is_seconds_too(org, rep, connection, crm_server):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}composite/sobjects").respond_with_json(
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentRequests (Concurrent API Requests) Limit "
                                                            "exceeded."}], status=403)
    now = timezone.now()
    outbox_process(now=now)
    assert {d.next_attempt_at for d in Delivery.objects.all()} == {now + timedelta(seconds=20)}


def test_daily_allowance_used_up_pauses_and_says_so(org, rep, connection, crm_server, admin_client):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}composite/sobjects").respond_with_json(
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}], status=403,
        headers={"Sforce-Limit-Info": "api-usage=100001/100000"})
    assert outbox_process()["retrying"] == 4
    state = CrmPushState.objects.get(org=org)
    assert state.paused_until and "daily API allowance is used up" in state.message
    assert (state.api_used, state.api_limit) == (100001, 100000)


def test_stops_before_the_allowance_runs_out(org, rep, connection, crm_server):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}composite/sobjects", method="POST").respond_with_json(
        [{"id": "003X", "success": True, "errors": []}], headers={"Sforce-Limit-Info": "api-usage=96000/100000"})
    totals = outbox_process()
    assert totals["sent"] == 1 and totals["retrying"] == 3  # the contact went; the rest waits
    assert "almost used (96,000 of 100,000)" in CrmPushState.objects.get(org=org).message


@pytest.mark.parametrize("n", [450])
def test_batches_fill_the_api_maximum(org, rep, connection, fake, n):
    testing.seed_engagements(org=org, owner=rep, count=n, moments=5)
    for e in Engagement.objects.filter(org=org):
        engagement_push_prepare(engagement=e)
    drain()
    posts = [c for c in fake.calls if c[1].endswith("composite/sobjects")]
    assert [len(c[2]["records"]) for c in posts] == [200, 200, 50] * 3  # contacts, tasks, tracker updates
    graphs = [c for c in fake.calls if c[1].endswith("composite/graph")]
    assert [len(c[2]["graphs"]) for c in graphs] == [75] * 6
    assert len(fake.calls) == 9 + 6


# Every kind of write this push makes, as the fake sees it ("METHOD path\nbody").
WRITES = {"contact create": r'^POST \S+composite/sobjects\n.*"type": "Contact"',
          "task create": r'^POST \S+composite/sobjects\n.*"type": "Task"',
          "tracker update": r"^PATCH \S+composite/sobjects\n",
          "engagement graph": r"^POST \S+composite/graph\n"}


def test_fault_run_1000_engagements_exactly_once(org, rep, connection, fake, monkeypatch):
    """Every kind of write is committed and then answered 503, reset, answered too
    slowly or dropped; 20 % of all calls fail besides (429 REQUEST_LIMIT_EXCEEDED and
    503 with Retry-After: 1, and the same losses); a worker is killed after a write,
    twice. Every object exists once, none is lost, and no delivery waited longer
    than the Retry-After Salesforce gave."""
    fake.faults = 0.2
    fake.plan_faults(WRITES)
    waits = testing.record_waits(monkeypatch)
    monkeypatch.setattr(PushHttp, "timeout", (3, 0.3))  # the fake's slow answers take 0.6 s
    testing.seed_engagements(org=org, owner=rep, count=1000, moments=5)
    for e in Engagement.objects.filter(org=org).order_by("id"):
        engagement_push_prepare(engagement=e)
    kills = testing.kill_twice(monkeypatch, SalesforceSender, "call", fake, every=5, when=lambda a, kw: kw["write"])
    testing.drain_through_kills(step=timedelta(hours=2))
    assert len(kills) == 2 and set(fake.fault_counts) == set(testing.FAULT_KINDS)
    assert set(fake.fault_log) == {(w, f) for w in WRITES for f in testing.AFTER_COMMIT}
    assert waits and max(waits) <= 1  # the fake's Retry-After
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    assert fake.count("Task") == 1000 and fake.duplicates("Task", "CallObject") == 0
    assert fake.count("Contact") == 1000 and fake.duplicates("Contact", "Email") == 0
    assert fake.count("affectlayer__Chorus_Engagement__c") == 1000
    assert fake.count("affectlayer__Chorus_Moment__c") == 5000
    tasks = {t["CallObject"] for t in fake.records["Task"]}
    assert tasks == {f"crm:salesforce:task:{i}" for i in Engagement.objects.values_list("id", flat=True)}


def test_a_batch_saved_then_answered_503_is_looked_up_not_made_twice(org, rep, connection, fake):
    """The issue's run: Salesforce saved a batch of task creates and answered 503
    (the connection failed after the commit). The outcome is unknown, never "nothing
    written": the retry finds all twenty by CallObject and creates none again."""
    matrix(org, contact_recording=False, tracker_recording=False, custom_object_recording=False)
    for i in range(20):
        engagement_push_prepare(engagement=meeting(org, rep, title=f"Call {i}"))
    fake.next_faults = ["commit503"]
    assert outbox_process()["retrying"] == 20 and fake.count("Task") == 20
    drain(start=timezone.now() + timedelta(hours=1))
    assert fake.count("Task") == 20 and fake.duplicates("Task", "CallObject") == 0
    assert [(c[0], c[1]) for c in fake.calls[1:]] == [("GET", f"{API}query/")]
    assert {d.remote_id for d in Delivery.objects.all()} == {t["Id"] for t in fake.records["Task"]}


def test_without_the_managed_package_the_engagements_fail_once_and_the_rest_goes(org, rep, connection, crm_server,
                                                                                  caplog):
    """The org has not installed the Chorus package: Salesforce answers NOT_FOUND for
    affectlayer__Chorus_Engagement__c and INVALID_FIELD for affectlayer__Chorus_Trackers__c. Those deliveries
    are settled at their first attempt with what to do (and where), not retried
    eight times; the contact and task go through untouched."""
    fake = testing.serve(crm_server, testing.FakeSalesforce(package=False), r"/services/data/.*")
    engagement_push_prepare(engagement=meeting(org, rep))
    totals = outbox_process()
    assert (totals["sent"], totals["failed"], totals["retrying"]) == (2, 2, 0)
    for kind in ("custom_object", "trackers"):
        d = Delivery.objects.get(kind=kind)
        assert d.attempts == 1 and "the Chorus managed package is not installed" in d.last_error
        assert "/settings/integrations/salesforce/package/" in d.last_error  # Install Salesforce Package
    assert fake.count("Task") == 1 and fake.count("Contact") == 1
    assert not fake.records["affectlayer__Chorus_Engagement__c"]


def test_a_503_on_the_engagements_keeps_the_task_its_look_up_found(org, rep, connection, fake):
    """The task's create was saved but its answer lost; on the next attempt the
    look-up finds it, then the Engagement call gets a 503: the task is settled with
    what the look-up found, and only the Engagement waits."""
    matrix(org, contact_recording=False, tracker_recording=False, contacts_for_moments=False)
    engagement_push_prepare(engagement=meeting(org, rep))
    fake.next_faults = ["drop", "503"]
    outbox_process()
    assert fake.count("Task") == 1
    fake.next_faults = ["", "503"]  # the look-up answers; the Engagement graph does not
    totals = outbox_process(now=timezone.now() + timedelta(hours=1))
    task = Delivery.objects.get(kind="task")
    assert totals["sent"] == 1 and task.status == S.SENT and task.remote_id == fake.records["Task"][0]["Id"]
    assert Delivery.objects.get(kind="custom_object").status == S.RETRYING
    drain(start=timezone.now() + timedelta(hours=2))
    assert fake.count("Task") == 1 and fake.count("affectlayer__Chorus_Engagement__c") == 1


def test_the_fake_refuses_fields_and_objects_salesforce_does_not_have(connection, fake):
    from simple_salesforce.exceptions import SalesforceError

    from crm.providers.salesforce.push import salesforce_client

    sf, _ = salesforce_client(instance_url=connection.config["instance_url"], access_token="t")
    with pytest.raises(SalesforceError) as refused:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Task"}, "Subject": "x", "Chorus_Id__c": "k"}]})
    assert refused.value.content == [{"errorCode": "INVALID_FIELD",
                                      "message": "No such column 'Chorus_Id__c' on sobject of type Task"}]
    with pytest.raises(SalesforceError) as refused:
        sf.restful("query/", params={"q": "SELECT Id, Name FROM Chorus_Session__c WHERE Name IN ('x')"})
    assert refused.value.content[0]["errorCode"] == "INVALID_TYPE"
