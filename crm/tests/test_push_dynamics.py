"""Pushing to Dynamics 365 (Dataverse Web API) with requests, over the wire to a
local HTTPS server: $batch with one change set per object, upserts on ids derived
from the Chorus key (a retry updates, never duplicates), events as appointments."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement, Moment
from crm.providers.dynamics.push import DynamicsSender, record_id
from crm.push.clients import PushHttp
from crm.push.services import crm_objects_settings_get, engagement_push_prepare
from integrations.models import Delivery
from integrations.outbox import outbox_process
from testutils import crm_fakes as testing
from testutils.crm_fakes import drain

pytestmark = pytest.mark.django_db
S = Delivery.Status
API = "/api/data/v9.2/"
OPP = "6f0e0000-0000-0000-0000-0000000000a1"
ACCOUNT = "6f0e0000-0000-0000-0000-0000000000b1"
OWNER = "6f0e0000-0000-0000-0000-000000000001"


@pytest.fixture(autouse=True)
def push_crm(push_settings):
    return "dynamics"


def meeting(org, rep, **kw):
    return testing.budget_meeting(org, rep, account=ACCOUNT, opportunity=OPP, **kw)


def operations(body: str):
    """(method, path, json) of every operation of a $batch body, per change set."""
    boundary = body.split("\r\n", 1)[0][2:]
    out = []
    for part in body.split("--" + boundary)[1:-1]:
        ops = []
        for m in re.finditer(r"^(PATCH|POST) \S+/api/data/v9\.2/(\S+) HTTP/1\.1\r\n.*?\r\n\r\n(.*?)\r\n--", part,
                             re.M | re.S):
            ops.append((m.group(1), m.group(2), json.loads(m.group(3))))
        out.append(ops)
    return out


def test_one_batch_with_a_change_set_per_object(org, rep, connection, fake):
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    assert outbox_process()["sent"] == 4
    [(method, path, body)] = fake.calls
    assert (method, path) == ("POST", f"{API}$batch")
    contact = record_id(org.id, "crm:dynamics:contact:willy@wonka.example")
    task = record_id(org.id, f"crm:dynamics:task:{e.id}")
    engagement = record_id(org.id, f"crm:dynamics:engagement:{e.id}")
    moment = e.moments.get()
    sets = operations(body)
    assert sets[0] == [("PATCH", f"contacts({contact})", {
        "firstname": "Willy", "lastname": "Wonka", "emailaddress1": "willy@wonka.example", "jobtitle": "CEO",
        "parentcustomerid_account@odata.bind": f"/accounts({ACCOUNT})",
        "ownerid@odata.bind": f"/systemusers({OWNER})"})]
    assert sets[2] == [("PATCH", f"tasks({task})", {
        "subject": "Chorus - Wonka and Schrute Farms Connect",
        "description": "RECORDING:\nhttps://chorus.ai/meeting/1\n\nATTENDEES:\nRey Rep\nWilly Wonka, CEO\n\n"
                       "KEY TOPICS DISCUSSED:\nBudget\n\nNEXT STEPS (TRANSCRIPT):\n* Send the invite",
        "actualstart": e.started_at.isoformat(), "actualend": (e.started_at + timedelta(minutes=30)).isoformat(),
        "actualdurationminutes": 30, "scheduledend": (e.started_at + timedelta(minutes=30)).isoformat(),
        "statecode": 1, "statuscode": 5, "regardingobjectid_opportunity_task@odata.bind": f"/opportunities({OPP})",
        "ownerid@odata.bind": f"/systemusers({OWNER})"})]
    assert sets[3] == [("PATCH", f"opportunities({OPP})", {"chorus_trackers": "Budget"})]
    # The Engagement and its Moments: one change set (a transaction), before the singles.
    assert [op[1] for op in sets[1]] == [f"chorus_engagements({engagement})",
                                         f"chorus_moments({record_id(org.id, f'crm:dynamics:moment:{moment.id}')})"]
    assert sets[1][1][2]["chorus_Engagement@odata.bind"] == f"/chorus_engagements({engagement})"
    assert sets[1][0][2]["chorus_Contact@odata.bind"] == f"/contacts({contact})"
    assert dict(Delivery.objects.values_list("kind", "remote_id"))["task"] == task


def test_requests_stay_full_around_large_change_sets(org):
    """Singles fill the gap an Engagement-with-Moments change set leaves."""
    def d(kind, key, deps=()):
        return Delivery(org=org, kind=kind, idempotency_key=key, payload={"contact_keys": list(deps)})

    sets = [(d("contact", f"c{i}"), [1]) for i in range(3)]
    sets += [(d("custom_object", f"e{i}", [f"c{i}"]), [1] * 400) for i in range(3)]
    sets += [(d("task", f"t{i}", [f"c{i}"]), [1]) for i in range(3)]
    requests_ = DynamicsSender.pack(sets)
    assert [sum(len(ops) for _, ops in r) for r in requests_] == [806, 400]
    assert [x.idempotency_key for x, _ in requests_[0]] == ["c0", "c1", "c2", "e0", "e1", "t0", "t1", "t2"]


def test_event_is_an_appointment_with_its_attendees(org, rep, connection, fake):
    row = crm_objects_settings_get(org=org)
    row.task_recording, row.event_recording = False, True
    row.custom_object_recording = row.tracker_recording = False
    row.save()
    e = meeting(org, rep)
    engagement_push_prepare(engagement=e)
    drain()
    [appointment] = fake.records["appointments"]
    contact = record_id(org.id, "crm:dynamics:contact:willy@wonka.example")
    assert appointment["subject"] == "Chorus - Wonka and Schrute Farms Connect"
    assert appointment["scheduledstart"] == e.started_at.isoformat()
    assert appointment["appointment_activity_parties"] == [
        {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 5}]
    assert not fake.records["tasks"]


def test_transcript_is_an_annotation_on_the_task(org, rep, connection, fake):
    row = crm_objects_settings_get(org=org)
    row.transcript_recording = True
    row.save()
    e = meeting(org, rep, transcript="Willy: hello")
    engagement_push_prepare(engagement=e)
    drain()
    [note] = fake.records["annotations"]
    assert note["notetext"] == "Willy: hello"
    assert note["objectid_task@odata.bind"] == f"/tasks({record_id(org.id, f'crm:dynamics:task:{e.id}')})"


def test_a_retry_looks_up_what_the_first_attempt_made(org, rep, connection, fake, monkeypatch):
    """The worker dies after Dataverse applied the $batch: the retry reads the
    records back by id (one $batch of GETs) and sends again only what is not a
    create (the tracker update) — a completed task is read-only in Dataverse."""
    engagement_push_prepare(engagement=meeting(org, rep))
    real = DynamicsSender._post_batch

    class Killed(BaseException):
        pass

    def dies(self, *args):
        real(self, *args)
        raise Killed

    monkeypatch.setattr(DynamicsSender, "_post_batch", dies)
    with pytest.raises(Killed):
        outbox_process()
    monkeypatch.setattr(DynamicsSender, "_post_batch", real)
    drain(start=timezone.now() + timedelta(hours=1))
    assert len(fake.calls) == 3
    assert "GET " in fake.calls[1][2] and "PATCH " not in fake.calls[1][2]
    assert [[op[1].split("(")[0] for op in ops] for ops in operations(fake.calls[2][2])] == [["opportunities"]]
    assert [len(fake.records[k]) for k in ("contacts", "tasks", "chorus_engagements")] == [1, 1, 1]
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_a_connection_dropped_after_the_write_is_looked_up_not_sent_again(org, rep, connection, fake):
    """Dataverse applies the $batch, then the connection drops without an answer:
    requests raises ConnectionError, every delivery of the request is retried, the
    records it created are found by id, and nothing is made twice."""
    engagement_push_prepare(engagement=meeting(org, rep))
    fake.next_faults = ["drop"]
    assert outbox_process()["retrying"] == 4
    assert set(Delivery.objects.values_list("last_error", flat=True)) == {
        "Dynamics did not answer (ConnectionError); Chorus retries."}
    drain(start=timezone.now() + timedelta(hours=1))
    lookups = fake.calls[1][2]
    for entity_set, key in (("contacts", "contactid"), ("tasks", "activityid"),
                            ("chorus_engagements", "chorus_engagementid")):
        assert f"GET {connection.config['org_url']}/api/data/v9.2/{entity_set}?$select={key}&$filter=" \
               f"Microsoft.Dynamics.CRM.In(PropertyName='{key}',PropertyValues=[" in lookups
    assert [len(fake.records[k]) for k in ("contacts", "tasks", "chorus_engagements", "chorus_moments")] == [1] * 4
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_a_service_protection_limit_waits_its_retry_after(org, rep, connection, crm_server, admin_client):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}$batch").respond_with_json(
        {"error": {"code": "0x80072321", "message": "Combined execution time of incoming requests exceeded limit of "
                                                    "1,200,000 milliseconds over time window of 300 seconds."}},
        status=429, headers={"Retry-After": "42"})
    now = timezone.now()
    assert outbox_process(now=now)["retrying"] == 4
    assert {d.next_attempt_at for d in Delivery.objects.all()} == {now + timedelta(seconds=42)}
    assert set(Delivery.objects.values_list("attempts", "waits")) == {(1, 1)}
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "combined execution time" in page and "Pushes wait until" in page


WRITES = {"contact": r"PATCH \S+/contacts\(", "task": r"PATCH \S+/tasks\(", "tracker": r"PATCH \S+/opportunities\(",
          "engagement": r"PATCH \S+/chorus_engagements\("}


def test_fault_run_1000_engagements_exactly_once(org, rep, connection, fake, monkeypatch, settings):
    """Every kind of write is committed and then answered 503, reset, answered too
    slowly or dropped; 20 % of all calls fail besides (429 with a service protection
    code and 503, both with Retry-After: 1, and the same losses); a worker is killed
    after a write twice. Every record is in Dataverse exactly once, bound to the
    records it names, none is lost, and no delivery waited longer than the
    Retry-After."""
    settings.OUTBOX_MAX_ATTEMPTS = 20
    fake.faults = 0.2
    fake.plan_faults(WRITES)
    fake.next_faults = ["429", "503"]  # a $batch makes few calls: rate limits whatever the dice say
    waits = testing.record_waits(monkeypatch)
    monkeypatch.setattr(PushHttp, "timeout", (3, 0.3))  # the fake's slow answers take 0.6 s
    testing.seed_engagements(org=org, owner=rep, count=1000, moments=5)
    engagements = list(Engagement.objects.filter(org=org).order_by("id"))
    for e in engagements:
        engagement_push_prepare(engagement=e)
    kills = testing.kill_twice(monkeypatch, DynamicsSender, "_post_batch", fake, every=3)
    # A worker claims 500 at a time, so each kind goes in several $batch requests (a
    # kind's retry after a lost answer is a look-up, never the same write again).
    testing.drain_through_kills(rounds=60, limit=500)
    assert len(kills) == 2 and set(fake.fault_counts) == set(testing.FAULT_KINDS)
    assert set(fake.fault_log) == {(w, f) for w in WRITES for f in testing.AFTER_COMMIT}
    assert waits and max(waits) <= 1
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    moments = list(Moment.objects.filter(org=org).values_list("id", "engagement_id"))
    ids = {
        "contacts": [f"crm:dynamics:contact:prospect{i}@customer{i % 50}.example" for i in range(1000)],
        "tasks": [f"crm:dynamics:task:{e.id}" for e in engagements],
        "chorus_engagements": [f"crm:dynamics:engagement:{e.id}" for e in engagements],
        "chorus_moments": [f"crm:dynamics:moment:{m}" for m, _ in moments],
    }
    for entity, keys in ids.items():  # no copies, none missing
        assert sorted(r["id"] for r in fake.records[entity]) == sorted(record_id(org.id, k) for k in keys), entity
    moment_of = {r["id"]: r for r in fake.records["chorus_moments"]}
    for m, e_id in moments:  # each Moment bound to its own Engagement
        assert moment_of[record_id(org.id, f"crm:dynamics:moment:{m}")]["chorus_Engagement@odata.bind"] == \
            f"/chorus_engagements({record_id(org.id, f'crm:dynamics:engagement:{e_id}')})"
    contact_ids = {r["id"] for r in fake.records["contacts"]}
    assert all(r["chorus_Contact@odata.bind"][10:-1] in contact_ids for r in fake.records["chorus_engagements"])


def test_without_the_solution_engagements_fail_once_and_the_task_goes(org, rep, connection, crm_server, caplog):
    """The Chorus solution is not imported: Dataverse has no chorus_engagements and
    no chorus_trackers column. Those deliveries are settled at once with what to
    do; the contact and the task are saved."""
    fake = testing.serve(crm_server, testing.FakeDataverse(solution=False), r"/api/data/.*")
    engagement_push_prepare(engagement=meeting(org, rep))
    totals = outbox_process()
    assert (totals["sent"], totals["failed"], totals["retrying"]) == (2, 2, 0)
    for kind in ("custom_object", "trackers"):
        d = Delivery.objects.get(kind=kind)
        assert d.attempts == 1 and "the Chorus solution is not installed" in d.last_error
    assert len(fake.records["tasks"]) == 1 and len(fake.records["contacts"]) == 1


def dataverse(connection):
    from crm.providers.dynamics.push import dynamics_http

    return dynamics_http(org_url=connection.config["org_url"], access_token="t")


def post_one(connection, entity_set: str, body: dict) -> tuple[int, str]:
    """One PATCH in one change set, straight to the fake: (status, message)."""
    http, base = dataverse(connection)
    payload = ("--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n"
               "Content-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
               f"PATCH {base}{entity_set}(6f0e0000-0000-0000-0000-0000000000c1) HTTP/1.1\r\n"
               f"Content-Type: application/json; type=entry\r\n\r\n{json.dumps(body)}\r\n--cs--\r\n\r\n--b--\r\n")
    response = http.post(base + "$batch", data=payload.encode(),
                         headers={"Content-Type": "multipart/mixed; boundary=b"})
    return DynamicsSender.parse_batch(response)[0]


def test_the_fake_refuses_what_dataverse_refuses(connection, fake):
    """Checked against the $metadata it serves: a task's regarding opportunity binds
    through regardingobjectid_opportunity_task; the generic name, a bind to the
    wrong table, a column the table lacks and a table the service lacks are refused."""
    opportunity = f"/opportunities({OPP})"
    assert post_one(connection, "tasks", {"regardingobjectid_opportunity_task@odata.bind": opportunity})[0] == 204
    status, message = post_one(connection, "tasks", {"regardingobjectid_opportunity@odata.bind": opportunity})
    assert status == 400 and "An undeclared property 'regardingobjectid_opportunity'" in message
    assert post_one(connection, "tasks", {"regardingobjectid_account_task@odata.bind": opportunity})[0] == 400
    status, message = post_one(connection, "chorus_engagements", {"chorus_type": "recording"})
    assert status == 400 and message == "Could not find a property named 'chorus_type' on type " \
                                        "'Microsoft.Dynamics.CRM.chorus_engagement'."
    assert post_one(connection, "chorus_sessions", {})[0] == 404
    http, base = dataverse(connection)
    xml = http.get(base + "$metadata").text
    assert '<NavigationProperty Name="regardingobjectid_opportunity_task" Type="Microsoft.Dynamics.CRM.opportunity"/>' \
        in xml and "chorus_type" not in xml


def test_the_solution_row_refuses_a_column_it_does_not_define():
    from crm.providers.dynamics import solution

    with pytest.raises(ValueError, match="chorus_type"):
        solution.row(solution.ENGAGEMENT, {"chorus_name": "x", "chorus_type": "recording"})
    assert solution.row(solution.MOMENT, {"chorus_Engagement@odata.bind": "/chorus_engagements(1)"})
