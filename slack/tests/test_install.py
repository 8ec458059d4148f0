"""Add to Slack, the OAuth callback through the fake, reinstall, refusals, Disconnect."""

import logging

import pytest
from django.core import signing
from django.urls import reverse

from chorus.models import AuditEvent
from slack.models import SlackWorkspace
from slack.services import STATE_SALT
from slack.tests.conftest import follow_authorize
from testutils.slack_fake import parse_query

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.CHORUS_BASE_URL = "http://testserver"


def add_to_slack(client):
    return client.post(reverse("slack-install"))


def test_add_to_slack_round_trip(slack_api, enterprise, admin_client, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    slack_api.add_oauth_code("code-1", team_id="T1", bot_token="xoxb-secret-1",
                             scopes="chat:write,commands,channels:read,groups:read,im:write,users:read,users:read.email")
    slack_api.add_workspace("T1", "Acme Sales", bot_token="xoxb-old")
    start = add_to_slack(admin_client)
    query = parse_query(start["Location"])
    assert start["Location"].startswith(f"{slack_api.base_url}/oauth/v2/authorize?")
    assert query["client_id"] == "slack-client-id" and query["redirect_uri"] == "http://testserver/integrations/slack/oauth/"
    assert set(query["scope"].split(",")) == {"chat:write", "commands", "channels:read", "groups:read", "im:write",
                                              "users:read", "users:read.email", "channels:history",
                                              "groups:history", "im:history"}
    assert signing.loads(query["state"], salt=STATE_SALT)["o"] == enterprise.pk
    done = follow_authorize(admin_client, start)
    assert done.status_code == 302 and done["Location"].endswith("#slack")
    access = slack_api.calls_to("oauth.v2.access")
    assert access == [{"code": "code-1", "redirect_uri": "http://testserver/integrations/slack/oauth/"}]
    ws = SlackWorkspace.objects.get(org=enterprise)
    assert (ws.team_id, ws.team_name, ws.bot_user_id, ws.status) == ("T1", "Acme Sales", "UBOT", "active")
    assert ws.secrets == {"bot_token": "xoxb-secret-1"} and ws.installed_by == admin_user
    assert AuditEvent.objects.filter(org=enterprise, action="slack.installed").exists()
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Acme Sales" in page and "Chorus is added to the Slack workspace Acme Sales" in page
    assert "admin@acme.example" in page and "Disconnect" in page
    assert "xoxb-secret-1" not in page and "xoxb-secret-1" not in caplog.text


def test_reinstall_replaces_the_token(slack_api, workspace, admin_client):
    slack_api.add_oauth_code("code-2", team_id="T1", bot_token="xoxb-2")
    follow_authorize(admin_client, add_to_slack(admin_client))
    workspace.refresh_from_db()
    assert workspace.secrets == {"bot_token": "xoxb-2"} and SlackWorkspace.objects.count() == 1


def test_team_of_another_org_is_refused(slack_api, enterprise, admin_client, other_admin):
    theirs = SlackWorkspace.objects.create(org=other_admin.org, team_id="T1", team_name="Globex",
                                           secrets={"bot_token": "xoxb-g"})
    slack_api.add_oauth_code("code-3", team_id="T1", bot_token="xoxb-3")
    done = follow_authorize(admin_client, add_to_slack(admin_client))
    page = admin_client.get(done["Location"]).content.decode()
    assert "already connected to another Chorus organization" in page
    assert not SlackWorkspace.objects.filter(org=enterprise).exists()
    theirs.refresh_from_db()
    assert theirs.secrets == {"bot_token": "xoxb-g"}


def test_denied_in_slack(slack_api, enterprise, admin_client):
    slack_api.deny_authorize()
    done = follow_authorize(admin_client, add_to_slack(admin_client))
    assert "cancelled in Slack" in admin_client.get(done["Location"]).content.decode()
    assert not SlackWorkspace.objects.exists() and slack_api.calls_to("oauth.v2.access") == []


def test_invalid_code(slack_api, enterprise, admin_client):
    slack_api.add_oauth_code("code-4", team_id="T1", bot_token="xoxb-4")
    slack_api.fail("oauth.v2.access", "invalid_code")
    done = follow_authorize(admin_client, add_to_slack(admin_client))
    assert "Slack refused the authorization code" in admin_client.get(done["Location"]).content.decode()
    assert not SlackWorkspace.objects.exists()


def test_state_mismatch_and_single_use(slack_api, enterprise, admin_client):
    slack_api.add_oauth_code("code-5", team_id="T1", bot_token="xoxb-5")
    start = add_to_slack(admin_client)
    state = parse_query(start["Location"])["state"]
    forged = admin_client.get(reverse("slack-oauth-callback"), {"code": "code-5", "state": state + "x"})
    assert "could not be verified" in admin_client.get(forged["Location"]).content.decode()
    # The session's nonce was used up by that attempt: the genuine state no longer works either.
    again = admin_client.get(reverse("slack-oauth-callback"), {"code": "code-5", "state": state})
    assert "could not be verified" in admin_client.get(again["Location"]).content.decode()
    assert not SlackWorkspace.objects.exists() and slack_api.calls_to("oauth.v2.access") == []


def test_state_of_another_org_is_refused(slack_api, enterprise, admin_client, other_admin, client_factory=None):
    from django.test import Client

    theirs = Client()
    theirs.force_login(other_admin)
    start = theirs.post(reverse("slack-install"))
    state = parse_query(start["Location"])["state"]
    add_to_slack(admin_client)
    answer = admin_client.get(reverse("slack-oauth-callback"), {"code": "c", "state": state})
    assert answer.status_code in (302, 403)
    assert not SlackWorkspace.objects.exists()


def test_standard_package_cannot_install(slack_api, org, admin_client):
    answer = add_to_slack(admin_client)
    assert answer["Location"].endswith("#slack")
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "part of the Chorus Enterprise package" in page


def test_non_admin_refused(slack_api, workspace, rep_client):
    assert rep_client.post(reverse("slack-install")).status_code == 403
    assert rep_client.get(reverse("slack-oauth-callback"), {"code": "x", "state": "y"}).status_code == 403
    assert rep_client.post(reverse("slack-disconnect")).status_code == 403
    assert rep_client.get(reverse("slack-manifest")).status_code == 403
    workspace.refresh_from_db()
    assert workspace.is_active


def test_disconnect_revokes(slack_api, workspace, admin_client):
    slack_api.add_workspace("T1", "Acme", bot_token="xoxb-1")
    admin_client.post(reverse("slack-disconnect"))
    assert slack_api.calls_to("auth.revoke") == [{}] and slack_api.tokens["xoxb-1"].revoked
    workspace.refresh_from_db()
    assert workspace.status == "disconnected" and workspace.secrets == {}
    assert "Disconnected by admin@acme.example." in workspace.status_reason
    assert AuditEvent.objects.filter(action="slack.disconnected").exists()
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert "Disconnected by admin@acme.example." in page and "Add to Slack" in page


def test_disconnect_touches_only_own_org(slack_api, workspace, other_admin, client):
    client.force_login(other_admin)
    client.post(reverse("slack-disconnect"))
    workspace.refresh_from_db()
    assert workspace.is_active and slack_api.calls_to("auth.revoke") == []


def test_manifest(admin_client, settings):
    settings.CHORUS_BASE_URL = "https://chorus.example"
    text = admin_client.get(reverse("slack-manifest")).content.decode()
    assert "url: https://chorus.example/integrations/slack/commands" in text
    assert "request_url: https://chorus.example/integrations/slack/events" in text
    assert "- https://chorus.example/integrations/slack/oauth/user/" in text
    for scope in ("chat:write", "commands", "channels:read", "groups:read", "im:write", "users:read",
                  "users:read.email", "channels:history", "im:history", "app_uninstalled", "tokens_revoked"):
        assert f"- {scope}\n" in text
