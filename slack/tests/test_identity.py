"""Personal Settings > Chorus for Slack Integration > Connect Slack (Sign in with Slack)."""

import pytest
from django.urls import reverse

from chorus.models import AuditEvent
from slack.models import SlackUserLink
from slack.tests.conftest import follow_authorize
from testutils.factories import UserFactory
from testutils.slack_fake import parse_query

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.CHORUS_BASE_URL = "http://testserver"


@pytest.fixture
def slack_team(slack_api, workspace):
    slack_api.add_workspace("T1", "Acme", bot_token="xoxb-1")
    slack_api.add_user("U42", "rey", team_id="T1", email="rep@acme.example")
    return slack_api


def connect(client):
    return client.post(reverse("slack-identity-connect"))


def test_connect_slack(slack_team, rep_client, rep_user, enterprise):
    slack_team.add_oauth_code("oidc-1", team_id="T1", bot_token=None, authed_user_id="U42", user_token="xoxp-42")
    start = connect(rep_client)
    query = parse_query(start["Location"])
    assert start["Location"].startswith(f"{slack_team.base_url}/openid/connect/authorize?")
    assert query["scope"] == "openid profile" and query["team"] == "T1" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/integrations/slack/oauth/user/"
    done = follow_authorize(rep_client, start)
    assert done["Location"].endswith("#slack-personal")
    link = SlackUserLink.objects.get(user=rep_user)
    assert (link.slack_user_id, link.slack_name, link.org, link.workspace.team_id) == ("U42", "rey", enterprise, "T1")
    assert AuditEvent.objects.filter(action="slack.user_connected").exists()
    page = rep_client.get(reverse("settings-personal")).content.decode()
    assert "Connected as" in page and "U42" in page and "xoxp-42" not in page
    rep_client.post(reverse("slack-identity-disconnect"))
    assert not SlackUserLink.objects.exists()


def test_other_workspace_is_refused(slack_team, rep_client):
    slack_team.add_workspace("T2", "Elsewhere", bot_token="xoxb-2")
    slack_team.add_user("U7", "rey", team_id="T2")
    slack_team.add_oauth_code("oidc-2", team_id="T2", bot_token=None, authed_user_id="U7", user_token="xoxp-7")
    done = follow_authorize(rep_client, connect(rep_client))
    page = rep_client.get(done["Location"]).content.decode()
    assert "You signed in to the Slack workspace Elsewhere" in page and not SlackUserLink.objects.exists()


def test_slack_user_of_another_chorus_user(slack_team, rep_client, admin_user, workspace, enterprise):
    SlackUserLink.objects.create(org=enterprise, user=admin_user, workspace=workspace, slack_user_id="U42")
    slack_team.add_oauth_code("oidc-3", team_id="T1", bot_token=None, authed_user_id="U42", user_token="xoxp-42")
    done = follow_authorize(rep_client, connect(rep_client))
    assert "already connected to another Chorus user" in rep_client.get(done["Location"]).content.decode()


def test_without_installed_app(slack_api, enterprise, rep_client):
    page = rep_client.get(reverse("settings-personal")).content.decode()
    assert "Chorus for Slack Integration" in page and "must add the Chorus app to Slack" in page
    answer = connect(rep_client)
    assert answer["Location"].endswith("#slack-personal")


def test_hidden_outside_enterprise(org, rep_client):
    assert "Chorus for Slack Integration" not in rep_client.get(reverse("settings-personal")).content.decode()


def test_disconnect_only_own_link(slack_team, workspace, enterprise, rep_client, rep_user):
    other = UserFactory(org=enterprise, email="x@acme.example")
    SlackUserLink.objects.create(org=enterprise, user=other, workspace=workspace, slack_user_id="U9")
    rep_client.post(reverse("slack-identity-disconnect"))
    assert SlackUserLink.objects.filter(user=other).exists()
