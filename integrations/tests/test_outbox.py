"""The outbox: batching, backoff, Retry-After, giving up, leases, and never sending
a delivery twice when several workers run at once."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import outbox
from integrations.models import Delivery
from integrations.registry import SENDERS, RateLimited, SendResult
from testutils.factories import EngagementFactory, OrganizationFactory
from testutils.threads import run_in_threads

S = Delivery.Status


class RecordingSender:
    """A sender that records each batch and answers with a scripted result."""

    def __init__(self, batch_size=200, result=None, delay=0.0):
        self.batch_size = batch_size
        self.batches: list[list[int]] = []
        self.result = result or (lambda d: SendResult(d.id, ok=True, remote_id=f"R-{d.id}"))
        self.delay = delay
        self.lock = threading.Lock()

    def send(self, deliveries):
        with self.lock:
            self.batches.append([d.id for d in deliveries])
        if self.delay:
            time.sleep(self.delay)
        out = []
        for d in deliveries:
            r = self.result(d)
            if isinstance(r, Exception):
                raise r
            out.append(r)
        return out

    @property
    def sent_ids(self):
        return [i for b in self.batches for i in b]


@pytest.fixture
def sender():
    s = RecordingSender(batch_size=3)
    SENDERS["fakecrm"] = s
    yield s
    SENDERS.pop("fakecrm", None)


def enqueue(org, n, target="fakecrm", prefix="k"):
    return [outbox.delivery_enqueue(org=org, target=target, kind="task", idempotency_key=f"{prefix}{i}",
                                    payload={"i": i})[0] for i in range(n)]


def test_enqueue_is_idempotent_per_org(org, other_org):
    e = EngagementFactory(org=org)
    a, created = outbox.delivery_enqueue(org=org, target="fakecrm", kind="task", idempotency_key="eng-1:task",
                                         engagement=e)
    b, again = outbox.delivery_enqueue(org=org, target="fakecrm", kind="task", idempotency_key="eng-1:task")
    c, _ = outbox.delivery_enqueue(org=other_org, target="fakecrm", kind="task", idempotency_key="eng-1:task")
    assert created and not again and a.pk == b.pk and c.pk != a.pk
    assert Delivery.objects.count() == 2


def test_sends_in_batches_of_the_senders_size_never_mixing_orgs(org, other_org, sender):
    ours, theirs = enqueue(org, 7), enqueue(other_org, 2)
    result = outbox.outbox_process()
    assert result["sent"] == 9 and result["claimed"] == 9
    assert sorted(len(b) for b in sender.batches) == [1, 2, 3, 3]
    org_of = {d.id: d.org_id for d in ours + theirs}
    assert all(len({org_of[i] for i in b}) == 1 for b in sender.batches)
    d = Delivery.objects.get(pk=ours[0].pk)
    assert d.status == S.SENT and d.remote_id == f"R-{d.pk}" and d.sent_at and d.attempts == 1
    assert outbox.outbox_process()["claimed"] == 0  # nothing sent twice


def test_failures_retry_with_exponential_backoff_then_give_up(org, sender, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 4
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
    sender.result = lambda d: SendResult(d.id, ok=False, error="503 Service Unavailable")
    (d,) = enqueue(org, 1)
    now = timezone.now()
    waits = []
    for _ in range(3):
        outbox.outbox_process(now=now)
        d.refresh_from_db()
        assert d.status == S.RETRYING and d.last_error == "503 Service Unavailable"
        waits.append((d.next_attempt_at - now).total_seconds())
        assert outbox.outbox_process(now=now)["claimed"] == 0  # not due yet
        now = d.next_attempt_at
    assert waits == [60, 120, 240]
    outbox.outbox_process(now=now)
    d.refresh_from_db()
    assert d.status == S.FAILED and d.attempts == 4
    assert d.last_error == "Gave up after 4 attempts: 503 Service Unavailable"
    assert outbox.outbox_process(now=now + timedelta(days=1))["claimed"] == 0


def test_retry_after_from_the_api_wins_over_a_shorter_backoff(org, sender):
    sender.result = lambda d: SendResult(d.id, ok=False, error="429", retry_after=3600)
    (d,) = enqueue(org, 1)
    now = timezone.now()
    outbox.outbox_process(now=now)
    d.refresh_from_db()
    assert (d.next_attempt_at - now).total_seconds() == 3600


def test_rate_limited_batch_waits_as_told_keeping_its_attempt(org, other_org, sender):
    """The attempt is not handed back (a later attempt must know it was claimed), but
    the wait is counted apart and does not bring giving up closer."""
    sender.result = lambda d: RateLimited(120, "HubSpot rate limit (TEN_SECONDLY_ROLLING)")
    sender.batch_size = 2
    enqueue(org, 5)
    (theirs,) = enqueue(other_org, 1, prefix="t")
    now = timezone.now()
    result = outbox.outbox_process(now=now)
    assert result["deferred"] == 6
    rows = Delivery.objects.for_org(org)
    assert {r.status for r in rows} == {S.RETRYING}
    assert {(r.attempts, r.waits) for r in rows} == {(1, 1)}
    assert {r.next_attempt_at for r in rows} == {now + timedelta(seconds=120)}
    assert "retrying after 120 s" in rows[0].last_error
    theirs.refresh_from_db()
    assert theirs.next_attempt_at == now + timedelta(seconds=120)  # its own batch was refused too


def test_a_throttled_result_waits_exactly_retry_after_and_never_gives_up(org, sender, settings):
    """A sender that already has results answers the rest "throttled": no backoff on
    top of the Retry-After, the org's other due rows wait with it, and rate-limit
    waits never exhaust the attempts."""
    settings.OUTBOX_MAX_ATTEMPTS = 2
    sender.result = lambda d: SendResult(d.id, ok=False, error="429 (TEN_SECONDLY_ROLLING)", retry_after=2,
                                         throttled=True)
    (d,) = enqueue(org, 1)
    now = timezone.now()
    for _ in range(5):
        outbox.outbox_process(now=now)
        d.refresh_from_db()
        assert d.status == S.RETRYING and (d.next_attempt_at - now).total_seconds() == 2
        now = d.next_attempt_at
    assert (d.attempts, d.waits) == (5, 5)
    sender.result = lambda d: SendResult(d.id, ok=False, error="503")
    outbox.outbox_process(now=now)
    d.refresh_from_db()
    assert d.status == S.RETRYING and (d.next_attempt_at - now).total_seconds() == 60  # the first real failure
    outbox.outbox_process(now=d.next_attempt_at)
    d.refresh_from_db()
    assert d.status == S.FAILED and d.last_error == "Gave up after 7 attempts: 503"


def test_a_write_attempt_is_a_persisted_fact_that_retry_now_keeps(org, sender):
    (d,) = enqueue(org, 1)
    sender.result = lambda x: (outbox.deliveries_write_attempted(deliveries=[x]),
                               SendResult(x.id, ok=False, permanent=True, error="refused"))[1]
    outbox.outbox_process()
    d.refresh_from_db()
    assert d.write_attempted_at is not None
    written_at = d.write_attempted_at
    outbox.delivery_retry_now(deliveries=Delivery.objects.filter(pk=d.pk))
    d.refresh_from_db()
    assert (d.status, d.attempts, d.write_attempted_at) == (S.QUEUED, 0, written_at)


def test_permanent_errors_fail_at_once(org, sender):
    sender.result = lambda d: SendResult(d.id, ok=False, permanent=True, error="INVALID_FIELD: Call_Recording__c")
    (d,) = enqueue(org, 1)
    outbox.outbox_process()
    d.refresh_from_db()
    assert d.status == S.FAILED and d.last_error == "INVALID_FIELD: Call_Recording__c"


def test_a_crashing_sender_is_retried_and_the_worker_survives(org, sender):
    sender.result = lambda d: ValueError("boom")
    (d,) = enqueue(org, 1)
    result = outbox.outbox_process()
    d.refresh_from_db()
    assert result["retrying"] == 1 and d.status == S.RETRYING and d.last_error == "ValueError: boom"


def test_unknown_target_fails_with_a_clear_reason(org):
    (d,) = enqueue(org, 1, target="nowhere")
    outbox.outbox_process()
    d.refresh_from_db()
    assert d.status == S.FAILED and "No sender is registered" in d.last_error


def test_a_dead_workers_lease_expires_and_its_late_result_is_ignored(org, sender, settings):
    settings.OUTBOX_LEASE_SECONDS = 300
    (d,) = enqueue(org, 1)
    now = timezone.now()
    token, claimed = outbox.outbox_claim(limit=10, now=now)  # worker A claims, then "dies"
    assert [x.pk for x in claimed] == [d.pk]
    assert outbox.outbox_process(now=now + timedelta(seconds=299))["claimed"] == 0  # still leased
    assert outbox.outbox_process(now=now + timedelta(seconds=301))["sent"] == 1  # worker B takes over
    # Worker A wakes up and reports a failure: its claim is gone, nothing is overwritten.
    outbox._finish(token, claimed, {d.pk: SendResult(d.pk, ok=False, error="late")}, now)
    d.refresh_from_db()
    assert d.status == S.SENT and d.attempts == 2 and d.last_error == ""


def test_retry_now_resets_failed_rows(org, sender):
    sender.result = lambda d: SendResult(d.id, ok=False, permanent=True, error="bad")
    (d,) = enqueue(org, 1)
    outbox.outbox_process()
    sender.result = lambda d: SendResult(d.id, ok=True, remote_id="00T1")
    assert outbox.delivery_retry_now(deliveries=Delivery.objects.filter(pk=d.pk)) == 1
    outbox.outbox_process()
    d.refresh_from_db()
    assert d.status == S.SENT and d.remote_id == "00T1"


def test_admin_retry_now_action(org, sender, client, django_capture_on_commit_callbacks):
    from testutils.factories import UserFactory

    sender.result = lambda d: SendResult(d.id, ok=False, permanent=True, error="bad")
    (d,) = enqueue(org, 1)
    outbox.outbox_process()
    client.force_login(UserFactory(org=None, email="s@chorus.example", is_staff=True, is_superuser=True, role=None))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/admin/integrations/delivery/", {"action": "retry_now", "_selected_action": [d.pk]})
    assert response.status_code == 302 and len(callbacks) == 1
    d.refresh_from_db()
    assert d.status == S.QUEUED and d.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_a_delivery_twice():
    org = OrganizationFactory()
    s = RecordingSender(batch_size=5, delay=0.01)
    SENDERS["fakecrm"] = s
    try:
        enqueue(org, 60)

        def worker():
            for _ in range(30):
                if outbox.outbox_process(limit=7)["claimed"] == 0:
                    break

        errors = run_in_threads(worker, 2)
        assert not errors, errors
        assert len(s.sent_ids) == 60 and len(set(s.sent_ids)) == 60
        assert Delivery.objects.filter(status=S.SENT).count() == 60
    finally:
        SENDERS.pop("fakecrm", None)
