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
        "statecode": 1, "statuscode": 5, "regardingobjectid_opportunity@odata.bind": f"/opportunities({OPP})",
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


def test_a_retry_updates_what_the_first_attempt_made(org, rep, connection, fake, monkeypatch):
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
    assert len(fake.calls) == 2
    assert [len(fake.records[k]) for k in ("contacts", "tasks", "chorus_engagements")] == [1, 1, 1]


def test_a_connection_dropped_after_the_write_is_upserted_again(org, rep, connection, fake):
    """Dataverse applies the $batch, then the connection drops without an answer:
    requests raises ConnectionError, every delivery of the request is retried, and
    the same upserts update what the first request made."""
    engagement_push_prepare(engagement=meeting(org, rep))
    fake.next_faults = ["drop"]
    assert outbox_process()["retrying"] == 4
    assert set(Delivery.objects.values_list("last_error", flat=True)) == {
        "Dynamics did not answer (ConnectionError); Chorus retries."}
    drain(start=timezone.now() + timedelta(hours=1))
    assert len(fake.calls) == 2 and fake.calls[0][2] != fake.calls[1][2]  # new boundaries, same operations
    assert operations(fake.calls[0][2]) == operations(fake.calls[1][2])
    assert [len(fake.records[k]) for k in ("contacts", "tasks", "chorus_engagements", "chorus_moments")] == [1] * 4
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_throttled_batch_is_handed_back(org, rep, connection, crm_server):
    engagement_push_prepare(engagement=meeting(org, rep))
    crm_server.expect_request(f"{API}$batch").respond_with_data("", status=429, headers={"Retry-After": "42"})
    now = timezone.now()
    assert outbox_process(now=now)["deferred"] == 4
    assert Delivery.objects.first().next_attempt_at == now + timedelta(seconds=42)


def test_fault_run_1000_engagements_exactly_once(org, rep, connection, fake, monkeypatch, settings):
    """20 % of $batch calls fail (429 + Retry-After, 503, answers slower than the
    timeout after the write, connections dropped after the write) and a worker is
    killed after a write twice: every record is in Dataverse exactly once, bound to
    the records it names."""
    settings.OUTBOX_MAX_ATTEMPTS = 20
    fake.faults = 0.2
    fake.next_faults = ["", "drop", "", "slow"]  # both ways of losing an answer, whatever the dice say
    monkeypatch.setattr(PushHttp, "timeout", (3, 0.3))  # the fake's slow answers take 0.6 s
    testing.seed_engagements(org=org, owner=rep, count=1000, moments=5)
    engagements = list(Engagement.objects.filter(org=org).order_by("id"))
    for e in engagements:
        engagement_push_prepare(engagement=e)
    kills = testing.kill_twice(monkeypatch, DynamicsSender, "_post_batch", fake, every=3)
    testing.drain_through_kills(rounds=40)
    assert len(kills) == 2 and set(fake.fault_counts) == {"429", "503", "slow", "drop"}
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
