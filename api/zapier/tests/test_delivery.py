"""REST-hook deliveries (api/zapier/delivery.py) through the ready step and the
outbox, POSTed to a local HTTPS server standing in for hooks.zapier.com."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from werkzeug import Response

from api.zapier.delivery import ZapierSender, zapier_ready
from api.zapier.services import zapier_hook_subscribe
from chorus import services
from chorus.models import Organization
from crm.models import AccountMatch, CrmAccount
from integrations.models import Delivery
from integrations.outbox import outbox_process
from integrations.ready import LISTENERS, engagements_ready
from integrations.registry import SENDERS
from testutils.factories import EngagementFactory

pytestmark = pytest.mark.django_db
S = Delivery.Status
SUMMARY = "Ann Buyer: We need the rollout done before March."
ITEMS = [{"text": "Send the pricing sheet", "speaker": "Rey Rep"}, {"text": "Book a security review", "speaker": ""}]


def test_listener_and_sender_are_registered():
    assert LISTENERS["zapier.hooks"].func is zapier_ready and LISTENERS["zapier.hooks"].order == 70
    assert isinstance(SENDERS["zapier"], ZapierSender)


@pytest.fixture
def zap(https_fake, private_hooks, token):
    """Subscribe a hook the way the endpoint does; returns a function taking the event."""
    def subscribe(event="new_brief", path="/hooks/catch/1/abc/"):
        return zapier_hook_subscribe(token=token, event=event, target_url=https_fake.url_for(path))
    return subscribe


def ready(org, **kw):
    e = EngagementFactory(org=org, owner=org.users.first(), **{
        "title": "Initech renewal", "duration_seconds": 1800, "summary": SUMMARY, "action_items": ITEMS, **kw})
    engagements_ready(org=org, engagements=[e])
    return e


def posted(server) -> list:
    return [json.loads(req.get_data()) for req, _ in server.log]


def test_a_brief_is_posted_once_with_the_polling_shape(enterprise, zap, zap_user, https_fake, settings):
    settings.CHORUS_BASE_URL = "https://chorus.example"
    hook = zap()
    https_fake.expect_request("/hooks/catch/1/abc/", method="POST").respond_with_json(
        {"status": "success", "id": "z-1", "request_id": "req-1"})
    e = EngagementFactory(org=enterprise, owner=zap_user, title="Initech renewal", duration_seconds=1800,
                          summary=SUMMARY, action_items=ITEMS)
    engagements_ready(org=enterprise, engagements=[e])
    engagements_ready(org=enterprise, engagements=[e])  # announced again: still one delivery
    # The body is built at send time: what matching (or a person) settled since is in it.
    account = CrmAccount.objects.create(org=enterprise, provider="salesforce", remote_id="001", name="Initech")
    AccountMatch.objects.update_or_create(engagement=e, defaults={"org": enterprise, "account": account,
                                                                  "rule": "domain"})

    d = Delivery.objects.get(target="zapier")
    assert (d.kind, d.idempotency_key, d.payload) == ("new_brief", f"zapier:{hook.id}:{e.id}", {"hook_id": hook.id})
    assert outbox_process()["sent"] == 1
    assert outbox_process()["claimed"] == 0
    assert posted(https_fake) == [{
        "id": str(e.pk), "engagement_id": e.pk, "title": "Initech renewal",
        "started_at": e.started_at.isoformat(), "duration_minutes": 30,
        "recording_url": f"https://chorus.example/recordings/{e.pk}/",
        "owner_email": "rey@acme.example", "owner_name": "Rey Rep", "account_name": "Initech",
        "meeting_summary": SUMMARY,
        "action_items": ITEMS,
        "action_items_text": "• Send the pricing sheet (Rey Rep)\n• Book a security review",
    }]
    request = https_fake.log[0][0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("Chorus-Integrations/")
    d.refresh_from_db()
    assert (d.status, d.remote_id, d.write_attempted_at is not None) == (S.SENT, "req-1", True)


@pytest.mark.parametrize("change", [
    {"duration_seconds": 599},  # seed: no brief for meetings under 10 minutes
    {"summary": ""},
])
def test_short_or_unbriefed_meetings_trigger_nothing(enterprise, zap, change):
    zap()
    zap("new_action_items", "/hooks/catch/1/items/")
    ready(enterprise, **change)
    assert not Delivery.objects.filter(target="zapier").exists()


@pytest.mark.parametrize("change", [{"package": Organization.Package.STANDARD}, {"api_access": False}])
def test_standard_or_api_less_orgs_trigger_nothing(enterprise, zap, change):
    zap()
    for k, v in change.items():
        setattr(enterprise, k, v)
    enterprise.save()
    ready(enterprise)
    assert not Delivery.objects.filter(target="zapier").exists()


def test_action_items_trigger_only_with_items_one_object_each(enterprise, zap, https_fake):
    hook = zap("new_action_items", "/hooks/catch/1/items/")
    https_fake.expect_request("/hooks/catch/1/items/", method="POST").respond_with_json({"status": "success"})
    ready(enterprise, action_items=[])
    ready(enterprise, action_items=[{"text": " ", "speaker": ""}])
    assert not Delivery.objects.filter(target="zapier").exists()
    e = ready(enterprise)
    assert Delivery.objects.get(target="zapier").idempotency_key == f"zapier:{hook.id}:{e.id}"
    assert outbox_process()["sent"] == 1
    [body] = posted(https_fake)
    assert [(i["id"], i["text"], i["speaker"], i["engagement_id"]) for i in body] == [
        (f"{e.pk}-0", "Send the pricing sheet", "Rey Rep", e.pk), (f"{e.pk}-1", "Book a security review", "", e.pk)]


def test_410_gone_ends_the_hook_and_settles_the_delivery(enterprise, zap, https_fake):
    hook = zap()
    other = zap(path="/hooks/catch/2/live/")
    https_fake.expect_request("/hooks/catch/1/abc/", method="POST").respond_with_response(Response(status=410))
    https_fake.expect_request("/hooks/catch/2/live/", method="POST").respond_with_json({"status": "success"})
    first, second = ready(enterprise), ready(enterprise)
    assert outbox_process()["sent"] == 4  # the gone hook's two rows are settled, not failed
    hook.refresh_from_db()
    assert (hook.deleted_at is not None, hook.deleted_reason) == (True, "gone")
    gone = Delivery.objects.filter(idempotency_key__startswith=f"zapier:{hook.id}:")
    assert set(gone.values_list("status", "remote_id")) == {(S.SENT, "gone")}
    assert len([r for r, _ in https_fake.log if r.path == "/hooks/catch/1/abc/"]) == 1  # not POSTed again
    ready(enterprise)
    assert gone.count() == 2  # no more deliveries to it
    assert Delivery.objects.filter(idempotency_key__startswith=f"zapier:{other.id}:").count() == 3
    assert {first.pk, second.pk} <= {i["engagement_id"] for i in posted(https_fake)}


def test_429_waits_exactly_retry_after(enterprise, zap, https_fake):
    zap()
    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_response(
        Response(status=429, headers={"Retry-After": "120"}))
    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_json({"status": "success"})
    ready(enterprise)
    now = timezone.now()
    assert outbox_process(now=now)["deferred"] == 1
    d = Delivery.objects.get(target="zapier")
    assert (d.status, d.waits, d.next_attempt_at) == (S.RETRYING, 1, now + timedelta(seconds=120))
    assert outbox_process(now=now + timedelta(seconds=119))["claimed"] == 0
    assert outbox_process(now=now + timedelta(seconds=120))["sent"] == 1
    assert len(https_fake.log) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_the_same_id(enterprise, zap, https_fake, status):
    zap()
    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_response(
        Response(status=status))
    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_json({"status": "success"})
    e = ready(enterprise)
    now = timezone.now()
    assert outbox_process(now=now)["retrying"] == 1
    d = Delivery.objects.get(target="zapier")
    assert d.status == S.RETRYING and f"Zapier answered {status}" in d.last_error
    assert outbox_process(now=now + timedelta(hours=1))["sent"] == 1
    assert [b["id"] for b in posted(https_fake)] == [str(e.pk), str(e.pk)]


def test_a_timeout_is_retried(enterprise, zap, https_fake, monkeypatch):
    zap()
    monkeypatch.setattr("api.zapier.delivery.TIMEOUT", (2, 0.2))
    import time

    def slow(request):
        time.sleep(0.6)
        return Response("{}", status=200)

    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_handler(slow)
    https_fake.expect_ordered_request("/hooks/catch/1/abc/", method="POST").respond_with_json({"status": "success"})
    ready(enterprise)
    now = timezone.now()
    assert outbox_process(now=now)["retrying"] == 1
    assert "did not answer" in Delivery.objects.get(target="zapier").last_error
    assert outbox_process(now=now + timedelta(hours=1))["sent"] == 1


def test_other_4xx_fail_for_good_with_the_reason(enterprise, zap, https_fake):
    zap()
    https_fake.expect_request("/hooks/catch/1/abc/", method="POST").respond_with_response(
        Response("bad payload", status=400))
    ready(enterprise)
    assert outbox_process()["failed"] == 1
    assert Delivery.objects.get(target="zapier").last_error == "Zapier refused the delivery (400): bad payload"


def test_a_revoked_tokens_hooks_deliver_nothing(enterprise, zap, token, https_fake):
    zap()
    ready(enterprise)  # queued while the token was good
    services.api_token_revoke(token=token)
    ready(enterprise)  # after: not even queued
    assert Delivery.objects.filter(target="zapier").count() == 1
    assert outbox_process()["failed"] == 1
    assert "revoked" in Delivery.objects.get(target="zapier").last_error
    assert https_fake.log == []


def test_an_unsubscribed_hooks_queued_rows_are_not_sent(enterprise, zap, https_fake):
    from api.zapier.services import zapier_hook_unsubscribe

    hook = zap()
    ready(enterprise)
    zapier_hook_unsubscribe(hook=hook)
    assert outbox_process()["failed"] == 1
    assert https_fake.log == []


def test_the_listener_costs_constant_queries(enterprise, zap, zap_user):
    zap()
    zap("new_action_items", "/hooks/catch/1/items/")

    def count(n: int) -> tuple[int, int]:  # one owner: no password hashing per row
        es = [EngagementFactory(org=enterprise, owner=zap_user, duration_seconds=1800, summary=SUMMARY,
                                action_items=ITEMS)
              for _ in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            zapier_ready(org=enterprise, engagements=es)
        sql = [q["sql"].lstrip().upper() for q in ctx.captured_queries]
        return sum(q.startswith("SELECT") for q in sql), sum(q.startswith("INSERT") for q in sql)

    (reads_one, inserts_one), (reads_100, inserts_100) = count(1), count(100)
    assert reads_one == reads_100 == 1  # the hooks
    # One bulk INSERT; SQLite's bound-parameter limit makes Django split 200 rows.
    assert inserts_one == 1 and inserts_100 <= 4
    assert Delivery.objects.filter(target="zapier").count() == 2 * 101
