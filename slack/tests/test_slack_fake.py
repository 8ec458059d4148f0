"""The fake itself, through slack-sdk: the rules others rely on."""

import json
import time

import pytest
import requests
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from slack.client import web_client
from testutils.slack_fake import parse_query, slack_signed_headers


@pytest.fixture
def bot(slack_api):
    slack_api.add_workspace("T1", "Acme", bot_token="xoxb-1")
    slack_api.add_channel("C1", "deals", team_id="T1")
    slack_api.add_channel("C2", "secret", team_id="T1", is_private=True, bot_member=False)
    slack_api.add_channel("C3", "general", team_id="T1", bot_member=False)
    slack_api.add_user("U1", "ada", team_id="T1", email="ada@acme.example")
    return web_client(token="xoxb-1")


def error_of(call):
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response


def test_post_message_rules(slack_api, bot):
    assert bot.chat_postMessage(channel="C1", text="hi")["channel"] == "C1"
    assert slack_api.messages == [{"channel": "C1", "text": "hi"}]
    assert bot.chat_postMessage(channel="U1", text="dm")["channel"] == "D1"
    assert error_of(lambda: bot.chat_postMessage(channel="C2", text="x"))["error"] == "channel_not_found"
    assert error_of(lambda: bot.chat_postMessage(channel="C3", text="x"))["error"] == "not_in_channel"
    assert error_of(lambda: bot.chat_postMessage(channel="C1"))["error"] == "no_text"
    too_many = [{"type": "divider"}] * 51
    assert error_of(lambda: bot.chat_postMessage(channel="C1", text="x", blocks=too_many))["error"] == "invalid_blocks"
    long = [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]
    assert error_of(lambda: bot.chat_postMessage(channel="C1", text="x", blocks=long))["error"] == "invalid_blocks"
    slack_api.archive("C1")
    assert error_of(lambda: bot.chat_postMessage(channel="C1", text="x"))["error"] == "is_archived"
    assert len(slack_api.messages) == 2


def test_faults_and_tokens(slack_api, bot):
    slack_api.ratelimit("chat.postMessage", retry_after=7)
    response = error_of(lambda: bot.chat_postMessage(channel="C1", text="x"))
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    slack_api.fail("conversations.info", "internal_error")
    assert error_of(lambda: bot.conversations_info(channel="C1"))["error"] == "internal_error"
    assert bot.conversations_info(channel="C1")["channel"]["is_member"] is True
    assert error_of(lambda: bot.api_call("nope.nope"))["error"] == "unknown_method"
    assert error_of(lambda: web_client(token="xoxb-x").auth_test())["error"] == "invalid_auth"
    assert error_of(lambda: web_client().auth_test())["error"] == "not_authed"
    assert bot.users_info(user="U1")["user"]["profile"]["email"] == "ada@acme.example"
    slack_api.revoke("xoxb-1")
    assert error_of(lambda: bot.auth_test())["error"] == "token_revoked"


def test_oauth_round_trip(slack_api, settings):
    slack_api.add_oauth_code("c1", team_id="T9", bot_token="xoxb-9", scopes="chat:write,commands")
    redirect = "http://testserver/integrations/slack/oauth/"
    answer = requests.get(f"{settings.SLACK_OAUTH_URL}/oauth/v2/authorize", allow_redirects=False, params={
        "client_id": settings.SLACK_CLIENT_ID, "scope": "chat:write", "redirect_uri": redirect, "state": "s"})
    assert answer.status_code == 302
    query = parse_query(answer.headers["Location"])
    assert query == {"code": "c1", "state": "s"}
    client = web_client()
    bad = error_of(lambda: client.oauth_v2_access(client_id=settings.SLACK_CLIENT_ID,
                                                 client_secret=settings.SLACK_CLIENT_SECRET, code="c1",
                                                 redirect_uri="http://elsewhere/"))
    assert bad["error"] == "bad_redirect_uri"
    ok = client.oauth_v2_access(client_id=settings.SLACK_CLIENT_ID, client_secret=settings.SLACK_CLIENT_SECRET,
                                code="c1", redirect_uri=redirect)
    assert ok["access_token"] == "xoxb-9" and ok["team"]["id"] == "T9"
    again = error_of(lambda: client.oauth_v2_access(client_id=settings.SLACK_CLIENT_ID,
                                                   client_secret=settings.SLACK_CLIENT_SECRET, code="c1",
                                                   redirect_uri=redirect))
    assert again["error"] == "invalid_code"
    assert web_client(token="xoxb-9").auth_test()["team_id"] == "T9"


def test_signed_headers_verify(settings, slack_api):
    body = json.dumps({"type": "url_verification"}).encode()
    headers = slack_signed_headers(body, secret=settings.SLACK_SIGNING_SECRET)
    verifier = SignatureVerifier(settings.SLACK_SIGNING_SECRET)
    assert verifier.is_valid(body, headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"], headers["HTTP_X_SLACK_SIGNATURE"])
    stale = slack_signed_headers(body, secret=settings.SLACK_SIGNING_SECRET, timestamp=int(time.time()) - 301)
    assert not verifier.is_valid(body, stale["HTTP_X_SLACK_REQUEST_TIMESTAMP"], stale["HTTP_X_SLACK_SIGNATURE"])
