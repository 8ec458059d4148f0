"""``/chorus`` slash commands at ``/integrations/slack/commands``: really signed
requests, the fake Slack Web API (``testutils.slack_fake``) for conversations.info,
and an HTTPS fake for ``response_url``."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from chorus.models import AuditEvent, Organization
from crm.models import CrmAccount, CrmOpportunity
from slack import commands, tasks
from slack.models import SlackChannelTracking, SlackUserLink, SlackWorkspace
from testutils import slack_fake
from testutils.factories import UserFactory
from testutils.slack_fake import SIGNING_SECRET, slack_signed_headers

URL = "/integrations/slack/commands"
BASE = "https://chorus.example"
BOT_TOKEN = "xoxb-acme-bot"
RESPONSE_PATH = "/commands/T1/1234/abcd"


@pytest.fixture
def workspace(db, org, settings, slack_api):
    settings.CHORUS_BASE_URL = BASE
    org.package = Organization.Package.ENTERPRISE
    org.save()
    slack_api.add_workspace("T1", "Acme", bot_token=BOT_TOKEN)
    slack_api.add_channel("C1", "deals", team_id="T1")
    return SlackWorkspace.objects.create(org=org, team_id="T1", team_name="Acme", secrets={"bot_token": BOT_TOKEN})


@pytest.fixture
def account(org):
    return CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001A", name="Wonka <Industries>",
                                     website="wonka.example")


@pytest.fixture
def opportunity(org, account):
    return CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id="006A", name="Wonka renewal",
                                         account=account, stage="Negotiation")


def form(text="", **fields) -> dict:
    values = {"token": "legacy-verification-token", "team_id": "T1", "team_domain": "acme", "channel_id": "C1",
              "channel_name": "deals", "user_id": "U1", "user_name": "rey", "command": "/chorus", "text": text,
              "api_app_id": "A1", "response_url": f"https://hooks.slack.example{RESPONSE_PATH}",
              "trigger_id": "1.2.3"}
    values.update(fields)
    return values


def post(client, text="", *, secret=SIGNING_SECRET, timestamp=None, tamper=None, **fields):
    body = urlencode(form(text, **fields)).encode()
    headers = slack_signed_headers(body, secret=secret, timestamp=timestamp)
    if tamper is not None:
        body = tamper(body)
    return client.post(URL, data=body, content_type="application/x-www-form-urlencoded", **headers)


def answer(response) -> str:
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["response_type"] == "ephemeral"
    return data["text"]


def link(kind: str, pk, *, wrap=True) -> str:
    url = f"{BASE}/{kind}/{pk}/"
    return f"<{url}|{url}>" if wrap else url


# --- The request -------------------------------------------------------------------------------------


def test_the_contract_url():
    from django.urls import reverse

    assert reverse("slack-commands") == URL


def test_forged_signature_is_refused_and_nothing_done(client, workspace, account, slack_api):
    response = post(client, f"connect account {link('accounts', account.pk)}", secret="not-the-secret")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Slack signature."}
    assert not SlackChannelTracking.objects.exists() and not slack_api.calls


def test_a_body_changed_after_signing_is_refused(client, workspace, account):
    response = post(client, "show all", tamper=lambda body: body.replace(b"show+all", b"disconnect+all"))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Slack signature."}


def test_a_stale_request_is_refused(client, workspace, account, slack_api):
    response = post(client, f"connect account {link('accounts', account.pk)}", timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert response.json() == {"error": "Stale Slack request timestamp (more than 5 minutes off)."}
    assert not SlackChannelTracking.objects.exists() and not slack_api.calls


def test_a_request_from_the_future_is_refused_too(client, workspace):
    stale = {"error": "Stale Slack request timestamp (more than 5 minutes off)."}
    assert post(client, "help", timestamp=int(time.time()) + 301).json() == stale


def test_unsigned_requests_are_refused(client, workspace):
    response = client.post(URL, data=urlencode(form("help")), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401
    assert response.json() == {"error": "Missing Slack signature headers."}
    response = client.post(URL, data=urlencode(form("help")), content_type="application/x-www-form-urlencoded",
                           HTTP_X_SLACK_SIGNATURE="v0=00", HTTP_X_SLACK_REQUEST_TIMESTAMP="yesterday")
    assert response.json() == {"error": "Bad Slack request timestamp."}


def test_without_a_signing_secret_nothing_is_accepted(client, workspace, settings):
    settings.SLACK_SIGNING_SECRET = ""
    response = post(client, "help")
    assert response.status_code == 503  # the deployment is misconfigured, not the request
    assert response.json() == {"error": "Slack signing secret is not configured."}


def test_a_malformed_command_is_400(client, workspace):
    response = post(client, "help", team_id="")
    assert response.status_code == 400
    assert "team_id" in response.json()["error"]


def test_only_post(client, workspace):
    assert client.get(URL).status_code == 405


# --- Help and unknown commands ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_chorus_and_chorus_help_list_the_commands(client, workspace, slack_api, text):
    text = answer(post(client, text))
    for line in ("/chorus connect account Link_to_account", "/chorus connect opportunity Link_to_opp",
                 "/chorus disconnect all", "/chorus show all", f"{BASE}/accounts/"):
        assert line in text
    assert not slack_api.calls


@pytest.mark.parametrize("text", ["dance", "show", "show everything", "disconnect", "connect", "connect contact x"])
def test_unknown_commands_say_command_not_found_with_the_help(client, workspace, text):
    reply = answer(post(client, text))
    assert reply.startswith("Command not found: `/chorus")
    assert "/chorus show all" in reply


def test_no_slack_integration(client, workspace, account, slack_api):
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}", team_id="T9"))
    assert reply.startswith("No Slack integration")
    assert "Settings > Personal Settings" in reply and "Connect Slack" in reply
    workspace.status = SlackWorkspace.Status.DISCONNECTED
    workspace.save()
    assert answer(post(client, "show all")).startswith("No Slack integration")
    assert not SlackChannelTracking.objects.exists() and not slack_api.calls


def test_outside_the_enterprise_package(client, workspace, org):
    Organization.objects.filter(pk=org.pk).update(package=Organization.Package.STANDARD)
    assert answer(post(client, "show all")) == commands.NOT_ENTERPRISE


# --- Channels only ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [{"channel_id": "D0123", "channel_name": "directmessage"},
                                     {"channel_id": "G0123", "channel_name": "mpdm-rey--ada-1"}])
@pytest.mark.parametrize("text", ["connect account {link}", "show all", "disconnect all"])
def test_direct_messages_are_refused(client, workspace, account, slack_api, channel, text):
    reply = answer(post(client, text.format(link=link("accounts", account.pk)), **channel))
    assert reply.startswith("This feature only works with Slack channels, not with Slack direct messages.")
    assert not SlackChannelTracking.objects.exists() and not slack_api.calls


def test_help_works_in_a_direct_message(client, workspace):
    assert "/chorus show all" in answer(post(client, "help", channel_id="D0123", channel_name="directmessage"))


# --- connect ----------------------------------------------------------------------------------------


def test_connect_account_with_a_slack_wrapped_link(client, workspace, account, slack_api, org):
    rey = UserFactory(org=org, email="rey@acme.example")
    SlackUserLink.objects.create(org=org, user=rey, workspace=workspace, slack_user_id="U1")
    started = time.monotonic()
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}"))
    assert time.monotonic() - started < 3  # Slack's limit
    assert reply.startswith("Successfully connected the account *Wonka &lt;Industries&gt;* to this channel.")
    tracking = SlackChannelTracking.objects.get()
    assert (tracking.org, tracking.workspace, tracking.channel_id, tracking.channel_name, tracking.account,
            tracking.opportunity, tracking.added_by_slack_user_id, tracking.status) == (
        org, workspace, "C1", "deals", account, None, "U1", "ok")
    assert slack_api.calls_to("conversations.info") == [{"channel": "C1"}]
    assert [token for name, _, token in slack_api.calls] == [BOT_TOKEN]
    event = AuditEvent.objects.get(action="slack.channel.connect")
    assert event.actor == rey and event.org == org
    assert event.changes == {"channel_id": "C1", "account": account.pk, "slack_user_id": "U1"}
    assert BOT_TOKEN not in str(event.changes) + event.target and "hooks.slack" not in str(event.changes)


@pytest.mark.parametrize("wrapped", [f"<{BASE}/opportunities/{{pk}}>", f"<{BASE}/opportunities/{{pk}}/|Wonka renewal>",
                                     f"{BASE}/opportunities/{{pk}}", f"{BASE}/opportunities/{{pk}}/?tab=calls#x",
                                     f"<{BASE.upper()}/opportunities/{{pk}}/>"])
def test_connect_opportunity_link_forms(client, workspace, opportunity, wrapped):
    reply = answer(post(client, "connect opportunity " + wrapped.format(pk=opportunity.pk)))
    assert reply.startswith("Successfully connected the opportunity *Wonka renewal*")
    assert SlackChannelTracking.objects.get().opportunity == opportunity


def test_the_seeds_track_account_command(client, workspace, account):
    reply = answer(post(client, link("accounts", account.pk), command="/chorus-track-account"))
    assert reply.startswith("Successfully connected the account")


def test_already_connected(client, workspace, account, slack_api):
    answer(post(client, f"connect account {link('accounts', account.pk)}"))
    reply = answer(post(client, f"connect Account {link('accounts', account.pk, wrap=False)}"))
    assert reply == "Already connected: this channel already tracks the account *Wonka &lt;Industries&gt;*."
    assert SlackChannelTracking.objects.count() == 1
    assert len(slack_api.calls_to("conversations.info")) == 1  # nothing to check the second time


def test_the_same_account_in_another_channel_is_another_tracking(client, workspace, account, slack_api):
    slack_api.add_channel("C2", "wonka", team_id="T1")
    answer(post(client, f"connect account {link('accounts', account.pk)}"))
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}", channel_id="C2",
                        channel_name="wonka"))
    assert reply.startswith("Successfully connected")
    assert sorted(SlackChannelTracking.objects.values_list("channel_id", flat=True)) == ["C1", "C2"]


def test_a_broken_tracking_is_mended_by_connecting_again(client, workspace, account, org):
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", channel_name="deals",
                                        account=account, status="broken", status_reason="The app was removed.")
    assert answer(post(client, f"connect account {link('accounts', account.pk)}")).startswith(
        "Successfully connected")
    tracking = SlackChannelTracking.objects.get()
    assert (tracking.status, tracking.status_reason) == ("ok", "")


@pytest.fixture
def foreign(other_org):
    account = CrmAccount.objects.create(org=other_org, provider="salesforce", remote_id="001Z", name="Globex")
    opportunity = CrmOpportunity.objects.create(org=other_org, provider="salesforce", remote_id="006Z",
                                                name="Globex deal", account=account)
    return {"accounts": account.pk, "opportunities": opportunity.pk}


BAD = [
    ("account", "https://evil.example/accounts/{account}/", "that is not a link to this Chorus."),
    ("account", "https://chorus.example.evil.example/accounts/{account}/", "that is not a link to this Chorus."),
    ("account", "https://chorus.example:8443/accounts/{account}/", "that is not a link to this Chorus."),
    ("account", "https://someone@chorus.example/accounts/{account}/", "that is not a link to this Chorus."),
    ("account", "javascript:alert(1)", "that is not a link to this Chorus."),
    ("account", "Wonka", "that is not a link to this Chorus."),
    ("account", "<mailto:rey@acme.example|rey@acme.example>", "that is not a link to this Chorus."),
    ("account", "https://chorus.example/recordings/1/", "that link is not an account or opportunity page."),
    ("account", "https://chorus.example/accounts/abc/", "that link is not an account or opportunity page."),
    ("account", "https://chorus.example/accounts/", "that link is not an account or opportunity page."),
    ("account", "https://chorus.example/opportunities/{opportunity}/",
     "that is a link to an opportunity; use `/chorus connect opportunity Link_to_opp`."),
    ("account", "https://chorus.example/accounts/999999/", "Chorus has no account at that link."),
    ("account", "https://chorus.example/accounts/{foreign_account}/", "Chorus has no account at that link."),
    ("opportunity", "https://chorus.example/opportunities/{foreign_opportunity}/",
     "Chorus has no opportunity at that link."),
    ("account", "", "add the link to the account after the command."),
]


@pytest.mark.parametrize("kind,url,why", BAD)
def test_bad_url(client, workspace, account, opportunity, foreign, slack_api, kind, url, why):
    url = url.format(account=account.pk, opportunity=opportunity.pk, foreign_account=foreign["accounts"],
                     foreign_opportunity=foreign["opportunities"])
    reply = answer(post(client, f"connect {kind} {url}"))
    assert reply.startswith(f"Bad URL: {why} Copy the link from the account's or opportunity's page in Chorus "
                            f"({BASE}/accounts/… or {BASE}/opportunities/…)")
    assert not SlackChannelTracking.objects.exists() and not slack_api.calls
    assert "Globex" not in reply


def test_another_orgs_id_reads_like_a_missing_one(client, workspace, foreign):
    missing = answer(post(client, "connect account https://chorus.example/accounts/999999/"))
    theirs = answer(post(client, f"connect account https://chorus.example/accounts/{foreign['accounts']}/"))
    assert missing == theirs


# --- Private, archived and unreachable channels ----------------------------------------------------


def test_a_private_channel_without_the_app_asks_to_add_chorus(client, workspace, account, slack_api):
    slack_api.add_channel("G1", "secret-deals", team_id="T1", is_private=True, bot_member=False)
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}", channel_id="G1",
                        channel_name="privategroup"))
    assert reply == commands.ADD_APP
    assert "To use this feature with a private Slack channel" in reply and "add the *Chorus.ai* app" in reply
    assert "*Integrations* > *Add an App*" in reply and "@Chorus.ai" in reply
    assert not SlackChannelTracking.objects.exists()
    assert slack_api.calls_to("conversations.info") == [{"channel": "G1"}]


def test_a_private_channel_with_the_app(client, workspace, account, slack_api):
    slack_api.add_channel("G1", "secret-deals", team_id="T1", is_private=True, bot_member=True)
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}", channel_id="G1",
                        channel_name="secret-deals"))
    assert reply.startswith("Successfully connected")


def test_not_a_member_said_by_slack(client, workspace, account, slack_api, monkeypatch):
    """Slack may describe a private channel the bot is not in (an org-wide app, say)."""
    slack_api.add_channel("G1", "secret-deals", team_id="T1", is_private=True, bot_member=True)
    original = slack_fake.METHODS["conversations.info"]

    def not_member(fake, params, held, token):
        body = original.func(fake, params, held, token)
        body["channel"]["is_member"] = False
        return body

    monkeypatch.setitem(slack_fake.METHODS, "conversations.info", slack_fake._Method(not_member))
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}", channel_id="G1"))
    assert reply == commands.ADD_APP


def test_a_public_channel_chorus_is_not_in_asks_to_add_it_too(client, workspace, account, slack_api):
    """Summaries are posted with chat:write, which needs membership (not_in_channel otherwise)."""
    slack_api.kick("C1")
    assert answer(post(client, f"connect account {link('accounts', account.pk)}")) == commands.ADD_APP
    assert not SlackChannelTracking.objects.exists()


def test_an_archived_channel(client, workspace, account, slack_api):
    slack_api.archive("C1")
    assert answer(post(client, f"connect account {link('accounts', account.pk)}")).startswith(
        "This channel is archived")
    assert not SlackChannelTracking.objects.exists()


def test_a_revoked_bot_token_says_reconnect(client, workspace, account, slack_api):
    slack_api.revoke(BOT_TOKEN)
    assert answer(post(client, f"connect account {link('accounts', account.pk)}")).startswith(
        "No Slack integration")
    assert not SlackChannelTracking.objects.exists()


def test_another_slack_error_changes_nothing(client, workspace, account, slack_api):
    slack_api.fail("conversations.info", "fatal_error")
    reply = answer(post(client, f"connect account {link('accounts', account.pk)}"))
    assert reply.startswith("Slack refused to describe this channel (fatal_error)")
    assert not SlackChannelTracking.objects.exists()


# --- show all / disconnect all ----------------------------------------------------------------------


def test_show_all(client, workspace, account, opportunity, org):
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", channel_name="deals",
                                        account=account)
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", channel_name="deals",
                                        opportunity=opportunity, status="broken",
                                        status_reason="The channel was archived.")
    other = CrmAccount.objects.create(org=org, provider="salesforce", remote_id="001B", name="Elsewhere")
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C2", account=other)
    reply = answer(post(client, "show all"))
    assert reply == (
        "Connected to this channel:\n"
        f"• Account: <{BASE}/accounts/{account.pk}/|Wonka &lt;Industries&gt;>\n"
        f"• Opportunity: <{BASE}/opportunities/{opportunity.pk}/|Wonka renewal>"
        " — :warning: not posting: The channel was archived."
    )


def test_show_all_with_nothing_connected(client, workspace):
    assert answer(post(client, "show all")).startswith("No accounts or opportunities are connected to this channel.")


def test_show_all_stays_short(client, workspace, org):
    for i in range(commands.SHOW_MAX + 3):
        a = CrmAccount.objects.create(org=org, provider="salesforce", remote_id=f"A{i}", name=f"Account {i}")
        SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", account=a)
    reply = answer(post(client, "show all"))
    assert reply.count("\n• ") == commands.SHOW_MAX and reply.endswith("…and 3 more.")


def test_disconnect_all(client, workspace, account, opportunity, org):
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", account=account)
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", opportunity=opportunity)
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C2", account=account)
    reply = answer(post(client, "disconnect all"))
    assert reply == "Disconnected all the accounts and opportunities (2) from this channel."
    assert list(SlackChannelTracking.objects.values_list("channel_id", flat=True)) == ["C2"]
    event = AuditEvent.objects.get(action="slack.channel.disconnect")
    assert event.changes["removed"] == [f"account {account.pk}", f"opportunity {opportunity.pk}"]
    assert answer(post(client, "disconnect all")).startswith("Nothing to disconnect")


def test_another_workspace_never_sees_this_ones_trackings(client, workspace, account, org, other_org, slack_api):
    other_org.package = Organization.Package.ENTERPRISE
    other_org.save()
    SlackWorkspace.objects.create(org=other_org, team_id="T2", secrets={"bot_token": "xoxb-globex"})
    SlackChannelTracking.objects.create(org=org, workspace=workspace, channel_id="C1", account=account)
    assert answer(post(client, "show all", team_id="T2")).startswith("No accounts or opportunities")
    assert answer(post(client, "disconnect all", team_id="T2")).startswith("Nothing to disconnect")
    assert SlackChannelTracking.objects.count() == 1


# --- A slow Slack: the answer comes through response_url -------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    jobs = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: jobs.append((func, a, kw)))
    return jobs


@pytest.fixture
def response_url(https_fake):
    return https_fake.url_for(RESPONSE_PATH)


@pytest.fixture
def slow_conversations_info(monkeypatch, slack_api):
    """Makes the fake's next ``times`` conversations.info answers take ``seconds``.
    Chorus gives up waiting sooner, but the (single-threaded, session-wide) fake server
    still answers them: the test waits for those answers at teardown, so they never
    land on the next test's fake (seen under pytest-xdist, where tests run in another
    order)."""
    original = slack_fake.METHODS["conversations.info"]
    pending = [0]
    left = [0]

    def slow_down(*, seconds: float, times: int = 1):
        left[0] += times
        pending[0] += times

        def slow(fake, params, held, token):
            if left[0] > 0:
                left[0] -= 1
                try:
                    time.sleep(seconds)
                finally:
                    pending[0] -= 1
            return original.func(fake, params, held, token)

        monkeypatch.setitem(slack_fake.METHODS, "conversations.info", slack_fake._Method(slow))

    yield slow_down
    deadline = time.monotonic() + 10
    while pending[0] > 0 and time.monotonic() < deadline:
        time.sleep(0.05)


def run_queued(queued) -> list[dict]:
    answers = []
    for func, args, kwargs in queued:
        assert func == "slack.tasks.slack_command_task" and kwargs == {"group": "slack-commands"}
        tasks.slack_command_task(*args)
        answers.append(args[0])
    return answers


def test_a_slow_slack_answers_through_response_url(client, workspace, account, slack_api, monkeypatch, queued,
                                                   response_url, https_fake, django_capture_on_commit_callbacks,
                                                   slow_conversations_info):
    monkeypatch.setattr(commands, "FAST_WAIT", 0.3)
    slow_conversations_info(seconds=1.0)
    expected = {"response_type": "ephemeral",
                "text": "Successfully connected the account *Wonka &lt;Industries&gt;* to this channel. After each "
                        "meeting involving it, Chorus posts the meeting summary and action items here."}
    https_fake.expect_oneshot_request(RESPONSE_PATH, method="POST", json=expected).respond_with_data("ok")

    with django_capture_on_commit_callbacks(execute=True):
        started = time.monotonic()
        reply = answer(post(client, f"connect account {link('accounts', account.pk)}", response_url=response_url))
        assert time.monotonic() - started < 3
    assert reply == commands.CHECKING
    assert not SlackChannelTracking.objects.exists()  # nothing written on the fast path
    payloads = run_queued(queued)
    assert payloads == [{"team_id": "T1", "channel_id": "C1", "channel_name": "deals", "user_id": "U1",
                         "command": "/chorus", "text": f"connect account {link('accounts', account.pk)}",
                         "response_url": response_url}]  # no legacy token, no trigger id
    https_fake.check_assertions()
    (request, _), = https_fake.log
    assert request.headers["Content-Type"] == "application/json"
    assert SlackChannelTracking.objects.get().account == account
    assert len(slack_api.calls_to("conversations.info")) == 2


def test_a_rate_limited_slack_answers_through_response_url(client, workspace, account, slack_api, queued,
                                                           response_url, https_fake,
                                                           django_capture_on_commit_callbacks):
    slack_api.ratelimit("conversations.info", retry_after=1)
    https_fake.expect_oneshot_request(RESPONSE_PATH, method="POST").respond_with_data("ok")
    with django_capture_on_commit_callbacks(execute=True):
        assert answer(post(client, f"connect account {link('accounts', account.pk)}",
                           response_url=response_url)) == commands.CHECKING
    run_queued(queued)
    (request, _), = https_fake.log
    assert request.get_json()["text"].startswith("Successfully connected")


def test_slack_still_too_slow_changes_nothing_and_says_so(client, workspace, account, slack_api, monkeypatch, queued,
                                                           response_url, https_fake,
                                                           django_capture_on_commit_callbacks,
                                                           slow_conversations_info):
    monkeypatch.setattr(commands, "FAST_WAIT", 0.2)
    monkeypatch.setattr(commands, "SLOW_WAIT", 0.2)
    slow_conversations_info(seconds=0.6, times=2)
    https_fake.expect_oneshot_request(RESPONSE_PATH, method="POST", json={
        "response_type": "ephemeral", "text": commands.SLACK_SLOW}).respond_with_data("ok")
    with django_capture_on_commit_callbacks(execute=True):
        answer(post(client, f"connect account {link('accounts', account.pk)}", response_url=response_url))
    run_queued(queued)
    https_fake.check_assertions()
    assert not SlackChannelTracking.objects.exists()


def test_response_url_must_be_https(workspace, account, slack_api, https_fake):
    payload = commands.SlashCommand.from_form(form(f"connect account {link('accounts', account.pk)}",
                                                   response_url="http://hooks.slack.example/x")).as_dict()
    assert tasks.slack_command_task(payload).startswith("Successfully connected")
    assert not https_fake.log


def test_fast_commands_never_queue(client, workspace, account, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for text in ("help", "show all", "disconnect all", f"connect account {link('accounts', account.pk)}"):
            answer(post(client, text))
    assert queued == []

