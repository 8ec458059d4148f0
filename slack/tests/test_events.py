"""POST /integrations/slack/events with really signed requests."""

import json
import time

import pytest
from django.urls import reverse

from slack.models import SlackEvent
from testutils.slack_fake import SIGNING_SECRET, slack_signed_headers

pytestmark = pytest.mark.django_db
URL = "/integrations/slack/events"


def send(client, payload, *, secret=SIGNING_SECRET, timestamp=None, headers=None):
    body = json.dumps(payload).encode()
    signed = headers if headers is not None else slack_signed_headers(body, secret=secret, timestamp=timestamp)
    return client.post(URL, data=body, content_type="application/json", **signed)


def callback(event, *, team_id="T1", event_id="Ev1"):
    return {"type": "event_callback", "team_id": team_id, "api_app_id": "A1", "event": event, "event_id": event_id,
            "event_time": int(time.time())}


def test_url_is_the_contract():
    assert reverse("slack-events") == URL


def test_url_verification(client, slack_api):
    answer = send(client, {"type": "url_verification", "challenge": "3eZbrw1aB"})
    assert answer.status_code == 200 and answer.json() == {"challenge": "3eZbrw1aB"}


@pytest.mark.parametrize("case", ["forged", "stale", "missing", "future"])
def test_refused_before_anything(client, slack_api, workspace, case):
    payload = callback({"type": "app_uninstalled"})
    if case == "forged":
        answer = send(client, payload, secret="not-the-secret")
        reason = "Invalid Slack signature."
    elif case == "stale":
        answer = send(client, payload, timestamp=int(time.time()) - 301)
        reason = "Stale Slack request timestamp (more than 5 minutes off)."
    elif case == "future":
        answer = send(client, payload, timestamp=int(time.time()) + 400)
        reason = "Stale Slack request timestamp (more than 5 minutes off)."
    else:
        answer = send(client, payload, headers={})
        reason = "Missing Slack signature headers."
    assert answer.status_code == 401 and answer.json()["error"] == reason
    workspace.refresh_from_db()
    assert workspace.is_active and not SlackEvent.objects.exists()


def test_tampered_body(client, slack_api, workspace):
    body = json.dumps(callback({"type": "app_uninstalled"})).encode()
    headers = slack_signed_headers(body, secret=SIGNING_SECRET)
    answer = client.post(URL, data=body.replace(b"T1", b"T2"), content_type="application/json", **headers)
    assert answer.status_code == 401


def test_not_json(client, slack_api):
    body = b"nope"
    headers = slack_signed_headers(body, secret=SIGNING_SECRET)
    answer = client.post(URL, data=body, content_type="application/json", **headers)
    assert answer.status_code == 400


def test_app_uninstalled_disconnects_once(client, slack_api, workspace, admin_client):
    assert send(client, callback({"type": "app_uninstalled"})).json()["result"] == "handled"
    workspace.refresh_from_db()
    assert workspace.status == "disconnected" and workspace.secrets == {}
    assert "removed from the Slack workspace" in workspace.status_reason
    assert slack_api.calls_to("auth.revoke") == []  # the token is gone already
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "removed from the Slack workspace" in page
    # Slack retries: the same event_id does nothing twice.
    workspace.status_reason = "kept"
    workspace.save()
    again = send(client, callback({"type": "app_uninstalled"}))
    assert again.status_code == 200 and again.json()["result"] == "replay"
    workspace.refresh_from_db()
    assert workspace.status_reason == "kept" and SlackEvent.objects.count() == 1


def test_tokens_revoked_bot(client, slack_api, workspace):
    send(client, callback({"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": ["UBOT"]}}, event_id="Ev2"))
    workspace.refresh_from_db()
    assert workspace.status == "disconnected" and "revoked" in workspace.status_reason


def test_tokens_revoked_user_only_keeps_the_app(client, slack_api, workspace):
    send(client, callback({"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}}, event_id="Ev3"))
    workspace.refresh_from_db()
    assert workspace.is_active


def test_unknown_team_is_ignored(client, slack_api, workspace):
    answer = send(client, callback({"type": "app_uninstalled"}, team_id="T999"))
    assert answer.status_code == 200 and answer.json()["result"] == "unknown_team"
    workspace.refresh_from_db()
    assert workspace.is_active
