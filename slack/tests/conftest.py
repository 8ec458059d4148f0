import pytest
import requests

from slack.models import SlackWorkspace
from testutils.factories import UserFactory, role


@pytest.fixture
def enterprise(org):
    org.package = org.Package.ENTERPRISE
    org.save(update_fields=["package"])
    return org


@pytest.fixture
def workspace(enterprise, admin_user):
    return SlackWorkspace.objects.create(org=enterprise, team_id="T1", team_name="Acme", bot_user_id="UBOT",
                                         secrets={"bot_token": "xoxb-1"}, installed_by=admin_user)


@pytest.fixture
def other_admin(other_org):
    other_org.package = other_org.Package.ENTERPRISE
    other_org.save(update_fields=["package"])
    return UserFactory(org=other_org, email="admin@globex.example", role=role(other_org, "Admin"))


def follow_authorize(client, response):
    """The browser's trip through Slack's authorize page (the fake clicks Allow) and
    back to Chorus's callback, through the Django test client."""
    assert response.status_code == 302, response
    slack = requests.get(response["Location"], allow_redirects=False)
    assert slack.status_code == 302, slack.text
    callback = slack.headers["Location"]
    return client.get(callback.split("testserver", 1)[-1] if "testserver" in callback else callback)
