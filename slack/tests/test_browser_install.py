"""Slack in a real browser: an admin clicks Add to Slack, Slack's consent page (the
fake clicks Allow) sends the browser back to Settings > Integrations, which shows the
workspace; then a rep connects their own Slack account in Personal Settings; after the
rep's next meeting, its post-meeting brief reaches them in Slack."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chorus.models import Engagement, Organization
from integrations.outbox import outbox_process
from integrations.processing.services import processing_queue
from slack.models import SlackUserLink, SlackWorkspace
from testutils.browser import login, screenshot
from testutils.factories import EngagementFactory, UserFactory, role
from testutils.processing import process_queued

MEETING = """WEBVTT

1
00:00:05.000 --> 00:00:20.000
Rey: Thanks for joining, Willy. Today we review the rollout plan and the pricing for your sales team.

2
00:03:00.000 --> 00:03:20.000
Willy Wonka: Our biggest challenge is onboarding new reps quickly before the next quarter starts.

3
00:09:40.000 --> 00:10:30.000
Rey: I'll send you the proposal with the pricing by Friday, and let's schedule a demo next week.
"""

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def test_add_to_slack_then_connect_slack(page, live_server, slack_api, settings, org):
    settings.CHORUS_BASE_URL = live_server.url
    org.package = Organization.Package.ENTERPRISE
    org.save()
    admin = UserFactory(org=org, email="ada@acme.example", first_name="Ada", role=role(org, "Admin"))
    admin.set_password(PASSWORD)
    admin.save()
    rep = UserFactory(org=org, email="rey@acme.example", first_name="Rey")
    rep.set_password(PASSWORD)
    rep.save()
    slack_api.add_workspace("T1", "Acme Sales", bot_token="xoxb-live")
    slack_api.add_user("U42", "rey", team_id="T1", email="rey@acme.example")
    slack_api.add_oauth_code("install-1", team_id="T1", bot_token="xoxb-live")
    slack_api.add_oauth_code("oidc-1", team_id="T1", bot_token=None, authed_user_id="U42", user_token="xoxp-42")

    login(page, live_server.url, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/integrations/#slack")
    section = page.locator("section#slack")
    expect(section).to_contain_text("Add the Chorus app to your Slack workspace")
    screenshot(page, "slack-01-before-install")
    section.get_by_role("button", name="Add to Slack").click()
    page.wait_for_url("**/settings/integrations/**")
    expect(page.get_by_text("Chorus is added to the Slack workspace Acme Sales")).to_be_visible()
    expect(section.get_by_test_id("slack-team")).to_contain_text("Acme Sales")
    expect(section).to_contain_text("ada@acme.example")
    expect(section.get_by_role("button", name="Disconnect")).to_be_visible()
    assert "xoxb-live" not in page.content()
    screenshot(page, "slack-02-installed")
    assert SlackWorkspace.objects.get(org=org).secrets == {"bot_token": "xoxb-live"}

    page.context.clear_cookies()
    login(page, live_server.url, rep.email, PASSWORD)
    page.goto(f"{live_server.url}/settings/personal/#slack-personal")
    personal = page.locator("section#slack-personal")
    expect(personal).to_contain_text("Chorus for Slack Integration")
    personal.get_by_role("button", name="Connect Slack").click()
    page.wait_for_url("**/settings/personal/**")
    expect(page.get_by_text("Your Slack account rey is connected.")).to_be_visible()
    expect(personal.get_by_test_id("slack-identity")).to_have_text("rey")
    screenshot(page, "slack-03-personal-connected")
    assert SlackUserLink.objects.get(user=rep).slack_user_id == "U42"

    # Rey's next meeting (ten minutes, Enterprise): processed, then its brief goes to Rey by DM.
    meeting = EngagementFactory(org=org, owner=rep, title="Wonka rollout review", duration_seconds=630)
    processing_queue(org=org, engagements=[meeting], provider_transcripts={meeting.pk: MEETING})
    process_queued()
    assert Engagement.objects.get(pk=meeting.pk).summary
    assert outbox_process()["sent"] == 1
    [dm] = slack_api.messages
    assert dm["channel"] == "U42"
    assert "Wonka rollout review" in dm["text"]
    said = str(dm["blocks"])
    assert "I'll send you the proposal with the pricing by Friday" in said and "Meeting summary" in said
