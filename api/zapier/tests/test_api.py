"""The Zapier endpoints: auth test, subscribe/unsubscribe, polling fallbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.zapier.models import ZapierHook
from chorus import services
from chorus.models import Organization
from crm.models import AccountMatch, CrmAccount
from testutils.factories import EngagementFactory, UserFactory

HOOK_URL = "https://hooks.zapier.com/hooks/standard/1/abc/"
pytestmark = pytest.mark.django_db


def details(r) -> dict:
    """The field errors, in the public API's error shape (``{"error": {"details"}}``)
    or DRF's plain one."""
    body = r.json()
    return body["error"].get("details") or {} if "error" in body else body


def message(r) -> str:
    body = r.json()
    return body["error"]["message"] if "error" in body else body["detail"]


def client_for(user) -> APIClient:
    _, raw = services.api_token_create(user=user, name="Zapier")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return c


def test_me_is_the_auth_test(api, zap_user):
    r = api.get("/api/v1/zapier/me/")
    assert r.status_code == 200
    assert r.json() == {"id": zap_user.pk, "email": "rey@acme.example", "name": "Rey Rep", "organization": "Acme"}


def test_auth_test_refuses_bad_token_standard_org_and_no_api(api, enterprise, client):
    assert APIClient().get("/api/v1/zapier/me/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert bad.get("/api/v1/zapier/me/").status_code == 401
    enterprise.package = Organization.Package.STANDARD
    enterprise.save(update_fields=["package"])
    r = api.get("/api/v1/zapier/me/")
    assert r.status_code == 403 and "Enterprise" in message(r)
    enterprise.package, enterprise.api_access = Organization.Package.ENTERPRISE, False
    enterprise.save(update_fields=["package", "api_access"])
    assert api.get("/api/v1/zapier/me/").status_code == 403


def test_a_browser_session_is_not_a_zapier_token(client, zap_user):
    client.force_login(zap_user)
    assert client.get("/api/v1/zapier/me/").status_code in (401, 403)


@pytest.mark.parametrize("event", ["new_brief", "new_action_items"])
def test_subscribe_returns_an_id_and_unsubscribe_by_it(api, token, zap_user, event, settings):
    settings.ZAPIER_HOOKS_ALLOW_PRIVATE = True  # no DNS in tests
    r = api.post("/api/v1/zapier/hooks/", {"event": event, "target_url": HOOK_URL}, format="json")
    assert r.status_code == 201
    hook = ZapierHook.objects.get(pk=r.json()["id"])
    assert (hook.org_id, hook.user_id, hook.token_id, hook.event, hook.target_url) == (
        zap_user.org_id, zap_user.pk, token.pk, event, HOOK_URL)
    again = api.post("/api/v1/zapier/hooks/", {"event": event, "target_url": HOOK_URL}, format="json")
    assert again.json()["id"] == hook.pk  # the same Zap subscribed twice: one hook
    assert api.delete(f"/api/v1/zapier/hooks/{hook.pk}/").status_code == 204
    hook.refresh_from_db()
    assert hook.deleted_at is not None and hook.deleted_reason == "unsubscribed"
    assert api.delete(f"/api/v1/zapier/hooks/{hook.pk}/").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"event": "new_brief", "target_url": "http://hooks.zapier.com/hooks/1/"}, "target_url"),
    ({"event": "new_brief", "target_url": "hooks.zapier.com/x"}, "target_url"),
    ({"event": "new_call", "target_url": HOOK_URL}, "event"),
    ({"event": "new_brief"}, "target_url"),
])
def test_subscribe_refuses_non_https_and_unknown_events(api, body, field, settings):
    settings.ZAPIER_HOOKS_ALLOW_PRIVATE = True
    r = api.post("/api/v1/zapier/hooks/", body, format="json")
    assert r.status_code == 400 and field in details(r)
    assert not ZapierHook.objects.exists()


def test_subscribe_refuses_private_addresses(api):
    r = api.post("/api/v1/zapier/hooks/", {"event": "new_brief", "target_url": "https://127.0.0.1/h"},
                 format="json")
    assert r.status_code == 400 and "private network" in details(r)["target_url"][0]


def test_another_users_or_orgs_hook_is_a_404(api, enterprise, other_org, token, settings):
    settings.ZAPIER_HOOKS_ALLOW_PRIVATE = True
    colleague = UserFactory(org=enterprise)
    theirs = client_for(colleague).post("/api/v1/zapier/hooks/", {"event": "new_brief", "target_url": HOOK_URL},
                                        format="json").json()["id"]
    other_org.package, other_org.api_access = Organization.Package.ENTERPRISE, True
    other_org.save()
    foreign = client_for(UserFactory(org=other_org)).post(
        "/api/v1/zapier/hooks/", {"event": "new_brief", "target_url": HOOK_URL + "x/"}, format="json").json()["id"]
    assert api.delete(f"/api/v1/zapier/hooks/{theirs}/").status_code == 404
    assert api.delete(f"/api/v1/zapier/hooks/{foreign}/").status_code == 404
    assert ZapierHook.objects.filter(deleted_at__isnull=True).count() == 2


# --- polling ------------------------------------------------------------------------------------


def briefed(org, **kw):
    defaults = {"duration_seconds": 1800, "summary": "Ann: We need it by March.",
                "action_items": [{"text": "Send pricing", "speaker": "Rey"}, {"text": "", "speaker": ""},
                                 "Book a review"]}
    return EngagementFactory(org=org, **{**defaults, **kw})


def test_briefs_poll_newest_first_with_stable_ids_and_zapier_fields(api, enterprise, zap_user, settings):
    settings.CHORUS_BASE_URL = "https://chorus.example"
    now = timezone.now()
    old = briefed(enterprise, title="Kickoff", owner=zap_user, started_at=now - timedelta(days=2),
                  created_at=now - timedelta(days=2))
    new = briefed(enterprise, title="Renewal", owner=zap_user, started_at=now - timedelta(hours=1),
                  created_at=now - timedelta(hours=1), recording_url="https://zoom.example/rec/1")
    briefed(enterprise, duration_seconds=599)  # < 10 minutes: no brief
    briefed(enterprise, summary="")
    account = CrmAccount.objects.create(org=enterprise, provider="salesforce", remote_id="001", name="Initech")
    AccountMatch.objects.create(org=enterprise, engagement=old, account=account, rule="domain")

    items = api.get("/api/v1/zapier/briefs/").json()
    assert [i["id"] for i in items] == [str(new.pk), str(old.pk)]
    assert items[1] == {
        "id": str(old.pk), "engagement_id": old.pk, "title": "Kickoff",
        "started_at": old.started_at.isoformat(), "duration_minutes": 30,
        "recording_url": f"https://chorus.example/recordings/{old.pk}/",
        "owner_email": "rey@acme.example", "owner_name": "Rey Rep", "account_name": "Initech",
        "meeting_summary": "Ann: We need it by March.",
        "action_items": [{"text": "Send pricing", "speaker": "Rey"}, {"text": "Book a review", "speaker": ""}],
        "action_items_text": "• Send pricing (Rey)\n• Book a review",
    }
    assert items[0]["recording_url"] == "https://zoom.example/rec/1" and items[0]["account_name"] == ""
    assert api.get("/api/v1/zapier/briefs/").json() == items  # stable


def test_action_items_poll_one_item_each_with_stable_ids(api, enterprise):
    now = timezone.now()
    old = briefed(enterprise, created_at=now - timedelta(days=1))
    new = briefed(enterprise, created_at=now, action_items=["Call back"])
    briefed(enterprise, created_at=now, action_items=[])
    items = api.get("/api/v1/zapier/action-items/").json()
    assert [i["id"] for i in items] == [f"{new.pk}-0", f"{old.pk}-0", f"{old.pk}-2"]
    assert {k: items[2][k] for k in ("engagement_id", "text", "speaker")} == {
        "engagement_id": old.pk, "text": "Book a review", "speaker": ""}


def test_polling_sees_only_its_org_and_nothing_on_standard(api, enterprise, other_org):
    briefed(other_org)
    assert api.get("/api/v1/zapier/briefs/").json() == []
    briefed(enterprise)
    assert len(api.get("/api/v1/zapier/briefs/").json()) == 1
