"""Large Salesforce pushes through Bulk API 2.0, over the wire to a local HTTPS
server: the exact ingest requests (job, CSV, UploadComplete, polls, results),
results matched back to deliveries, refused rows, and a job whose answer was lost
(a dropped connection, a killed worker) that makes no copies on retry."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chorus.models import Engagement
from crm.providers.salesforce import push as sf_sender
from crm.providers.salesforce.push import SalesforceSender
from crm.push.services import engagement_push_prepare
from crm.tests.test_push_salesforce import API, drain, matrix, meeting
from integrations.models import Delivery
from integrations.outbox import outbox_process
from testutils import crm_fakes as testing

pytestmark = pytest.mark.django_db
S = Delivery.Status
JOB = "750000000000000042"


@pytest.fixture(autouse=True)
def push_crm(push_settings):
    return "salesforce"


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    """Bulk above 5 records instead of 2,000, so a test needs a handful."""
    monkeypatch.setattr(sf_sender, "BULK_THRESHOLD", 5)


@pytest.fixture
def http_calls(monkeypatch):
    """``batch.http_calls`` of every send."""
    counted, real = [], SalesforceSender._record_state

    def record(self, org, batch):
        counted.append(batch.http_calls)
        return real(self, org, batch)

    monkeypatch.setattr(SalesforceSender, "_record_state", record)
    return counted


def tasks_only(org):
    matrix(org, contact_recording=False, custom_object_recording=False, tracker_recording=False)


def prepare_all(org):
    for e in Engagement.objects.filter(org=org).order_by("id"):
        engagement_push_prepare(engagement=e)


def test_exact_ingest_requests_and_results_matched_back(org, rep, connection, crm_server, monkeypatch):
    monkeypatch.setattr(sf_sender, "BULK_THRESHOLD", 2)
    tasks_only(org)
    es = [meeting(org, rep), meeting(org, rep), meeting(org, rep, crm_account_id="", crm_opportunity_id="")]
    prepare_all(org)
    day = es[0].started_at.date().isoformat()
    description = ('"RECORDING:\nhttps://chorus.ai/meeting/1\n\nATTENDEES:\nRey Rep\nWilly Wonka, CEO\n\n'
                   'KEY TOPICS DISCUSSED:\nBudget\n\nNEXT STEPS (TRANSCRIPT):\n* Send the invite"')
    job = {"id": JOB, "operation": "insert", "object": "Task", "contentType": "CSV", "lineEnding": "LF"}
    auth = {"Authorization": "Bearer sf-token"}
    crm_server.expect_ordered_request(f"{API}jobs/ingest", method="POST", headers=auth, json={
        "object": "Task", "operation": "insert", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA",
    }).respond_with_json({**job, "state": "Open"})
    crm_server.expect_ordered_request(f"{API}jobs/ingest/{JOB}/batches", method="PUT",
                                      headers={**auth, "Content-Type": "text/csv"}).respond_with_data("", status=201)
    crm_server.expect_ordered_request(f"{API}jobs/ingest/{JOB}", method="PATCH", json={"state": "UploadComplete"}) \
        .respond_with_json({**job, "state": "UploadComplete"})
    crm_server.expect_ordered_request(f"{API}jobs/ingest/{JOB}", method="GET").respond_with_json(
        {**job, "state": "InProgress", "numberRecordsProcessed": 1, "numberRecordsFailed": 0})
    crm_server.expect_ordered_request(f"{API}jobs/ingest/{JOB}", method="GET").respond_with_json(
        {**job, "state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 0},
        headers={"Sforce-Limit-Info": "api-usage=20/100000"})
    # Unordered, as Salesforce answers: matched back on CallObject.
    crm_server.expect_ordered_request(f"{API}jobs/ingest/{JOB}/successfulResults/", method="GET").respond_with_data(
        '"sf__Id","sf__Created",Subject,Description,ActivityDate,Status,Type,TaskSubtype,CallObject,'
        'CallDurationInSeconds,WhatId,OwnerId\n'
        + "".join(f'"00T00000000000{n}","true","Chorus - Wonka and Schrute Farms Connect",{description},"{day}",'
                  f'"Completed","Call","Call","crm:salesforce:task:{es[n].id}","1800","","005000000000001"\n'
                  for n in (2, 0, 1)), content_type="text/csv")
    assert outbox_process()["sent"] == 3
    crm_server.check_assertions()
    assert {d.idempotency_key: d.remote_id for d in Delivery.objects.all()} == {
        f"crm:salesforce:task:{e.id}": f"00T00000000000{n}" for n, e in enumerate(es)}
    # The CSV: a column for every field any record has, in first-seen order (the
    # rows in the claim's order), empty where a record has none; quoted multi-line
    # descriptions; LF endings.
    [upload] = [req.get_data(as_text=True) for req, _ in crm_server.log if req.path.endswith("/batches")]
    order = [int(i) for i in re.findall(r"crm:salesforce:task:(\d+)", upload)]
    assert sorted(order) == sorted(e.id for e in es)
    what = {es[0].id: "006A00000000001", es[1].id: "006A00000000001", es[2].id: ""}
    columns = ("Subject,Description,ActivityDate,Status,Type,TaskSubtype,CallObject,CallDurationInSeconds,"
               + ("WhatId,OwnerId" if order[0] != es[2].id else "OwnerId,WhatId"))
    rows = [[f"crm:salesforce:task:{i}", "1800", what[i], "005000000000001"] for i in order]
    if order[0] == es[2].id:
        rows = [[a, b, d, c] for a, b, c, d in rows]
    assert upload == columns + "\n" + "".join(
        f"Chorus - Wonka and Schrute Farms Connect,{description},{day},Completed,Call,Call,{','.join(row)}\n"
        for row in rows)


def test_contacts_and_tasks_in_jobs_with_refused_rows(org, rep, connection, fake, http_calls):
    """Eight new contacts and their tasks: one job each. A refused row fails its
    delivery — permanently, or for another try when Salesforce says so (a locked
    row); the task of a contact still to come waits for it."""
    matrix(org, custom_object_recording=False, tracker_recording=False)
    testing.seed_engagements(org=org, owner=rep, count=8, moments=1)
    prepare_all(org)
    fake.bulk_errors = {
        "prospect3@customer3.example": "INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email --",
        "prospect5@customer5.example": "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--",
    }
    totals = outbox_process()
    assert [(job["object"], job["numberRecordsProcessed"], job["numberRecordsFailed"])
            for job in map(fake.job_info, fake.jobs.values())] == [("Contact", 8, 2), ("Task", 7, 0)]
    assert (totals["sent"], totals["failed"], totals["retrying"]) == (6 + 7, 1, 2)
    bad = Delivery.objects.get(idempotency_key="crm:salesforce:contact:prospect3@customer3.example")
    assert bad.status == S.FAILED
    assert bad.last_error == "Salesforce refused it: INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email --"
    locked = Delivery.objects.get(idempotency_key="crm:salesforce:contact:prospect5@customer5.example")
    assert locked.status == S.RETRYING and "UNABLE_TO_LOCK_ROW" in locked.last_error
    # Each created delivery holds the id Salesforce gave its own row.
    ids = {c["Email"]: c["Id"] for c in fake.records["Contact"]}
    for d in Delivery.objects.filter(kind="contact", status=S.SENT):
        assert d.remote_id == ids[d.payload["email"]]
    # POST job, PUT CSV, PATCH UploadComplete, 2 polls, results (+ failed results): counted per call.
    assert http_calls == [7 + 6] and len(fake.calls) == 13

    fake.bulk_errors = {}
    drain(start=timezone.now() + timedelta(hours=1))
    assert len(fake.jobs) == 2  # the two left go through Collections, after their look-ups
    assert fake.count("Contact") == 7 and fake.duplicates("Contact", "Email") == 0
    assert fake.count("Task") == 8 and fake.duplicates("Task", "CallObject") == 0
    ids = {c["Email"]: c["Id"] for c in fake.records["Contact"]}
    for task in fake.records["Task"]:
        e = Engagement.objects.get(id=task["CallObject"].rsplit(":", 1)[1])
        n = int(e.title.rsplit(" ", 1)[1])
        assert task.get("WhoId") == ids.get(f"prospect{n}@customer{n}.example"), n  # none for the refused one


@pytest.mark.parametrize("lost", [
    pytest.param(["", "", "drop"], id="dropped-after-upload-complete"),
    pytest.param(["", "", "", "drop"], id="dropped-while-polling"),
    pytest.param(["", "", "", "", "", "drop"], id="dropped-reading-results"),
    pytest.param(["", "", "", "slow"], id="poll-timed-out"),
])
def test_a_job_whose_answer_was_lost_makes_no_copies(org, rep, connection, fake, monkeypatch, lost):
    """The job ran, Chorus never heard how: every delivery is retried, looked up by
    its CallObject first, found, and no second job runs."""
    monkeypatch.setattr(sf_sender.PushHttp, "timeout", (3, 0.3))
    tasks_only(org)
    testing.seed_engagements(org=org, owner=rep, count=8, moments=1)
    prepare_all(org)
    fake.next_faults = list(lost)
    assert outbox_process()["retrying"] == 8
    assert fake.count("Task") == 8 and len(fake.jobs) == 1
    assert "(Salesforce Bulk job 75" in Delivery.objects.first().last_error
    first = len(fake.calls)
    drain(start=timezone.now() + timedelta(hours=1))
    # The retry asks how the job it was in is doing (the deliveries carry its id),
    # waits while it runs, then looks the tasks up once — and creates nothing.
    calls = [(c[0], c[1]) for c in fake.calls[first:]]
    (job_id,) = fake.jobs
    assert calls[-1] == ("GET", f"{API}query/") and set(calls[:-1]) == {("GET", f"{API}jobs/ingest/{job_id}")}
    assert fake.count("Task") == 8 and len(fake.jobs) == 1
    assert {d.remote_id for d in Delivery.objects.filter(status=S.SENT)} == {t["Id"] for t in fake.records["Task"]}


def test_a_worker_killed_while_the_job_runs_makes_no_copies(org, rep, connection, fake, monkeypatch):
    """The worker dies right after UploadComplete and the job takes a while: the
    retry finds the job still running and waits (a look-up then would miss the
    tasks it has yet to save, and make them twice)."""
    fake.job_runs_for = 3
    tasks_only(org)
    testing.seed_engagements(org=org, owner=rep, count=8, moments=1)
    prepare_all(org)
    real = SalesforceSender.call

    class Killed(BaseException):
        pass

    def dies_after_upload_complete(self, api, batch, path, **kw):
        result = real(self, api, batch, path, **kw)
        if kw.get("method") == "PATCH":
            raise Killed
        return result

    monkeypatch.setattr(SalesforceSender, "call", dies_after_upload_complete)
    with pytest.raises(Killed):
        outbox_process()
    monkeypatch.setattr(SalesforceSender, "call", real)
    assert "(Salesforce Bulk job 75" in Delivery.objects.first().last_error
    later = timezone.now() + timedelta(hours=1)  # after the lease
    assert outbox_process(now=later)["retrying"] == 8 and fake.count("Task") == 0
    assert "still saving these in an earlier Bulk job" in Delivery.objects.first().last_error
    assert [c[0] for c in fake.calls if c[0] in ("POST", "PUT")] == ["POST", "PUT"]  # the one job, nothing since
    assert not [c for c in fake.calls if c[1].endswith("query/")]
    drain(start=later + timedelta(minutes=2))
    assert fake.count("Task") == 8 and len(fake.jobs) == 1 and fake.duplicates("Task", "CallObject") == 0
    assert not Delivery.objects.exclude(status=S.SENT).exists()


def test_fault_run_through_bulk_exactly_once(org, rep, connection, fake, monkeypatch, settings):
    """The fault mix with jobs: each job's UploadComplete is committed and then
    answered 503, reset, too slowly or dropped; 20 % of calls fail besides (429,
    503, the same losses); a worker dies right after UploadComplete, twice."""
    settings.OUTBOX_MAX_ATTEMPTS = 20
    monkeypatch.setattr(sf_sender, "BULK_THRESHOLD", 50)
    monkeypatch.setattr(sf_sender.PushHttp, "timeout", (3, 0.3))
    fake.faults = 0.2
    fake.plan_faults({"job run": r"^PATCH \S+jobs/ingest/\w+\n"})
    matrix(org, custom_object_recording=False, tracker_recording=False)
    testing.seed_engagements(org=org, owner=rep, count=300, moments=1)
    prepare_all(org)
    kills = testing.kill_twice(monkeypatch, SalesforceSender, "call", fake, every=1,
                               when=lambda a, kw: kw["write"] and re.match(r"jobs/ingest/\w+$", a[2]))
    testing.drain_through_kills(rounds=60, limit=120)  # 60 meetings a claim: two jobs each (contacts, tasks)
    assert len(kills) == 2
    assert set(fake.fault_log) == {("job run", f) for f in testing.AFTER_COMMIT}
    assert not Delivery.objects.exclude(status=S.SENT).exists()
    assert fake.jobs and sum(fake.fault_counts.values()) > 5
    assert sorted(t["CallObject"] for t in fake.records["Task"]) == sorted(
        f"crm:salesforce:task:{i}" for i in Engagement.objects.values_list("id", flat=True))
    assert sorted(c["Email"] for c in fake.records["Contact"]) == sorted(
        f"prospect{i}@customer{i % 50}.example" for i in range(300))
