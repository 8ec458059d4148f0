"""Post-meeting briefs by DM and channel summaries (slack/delivery.py), through the
outbox, against the Slack fake (testutils/slack_fake.py) and the real slack-sdk."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from chorus.models import Organization, Participant, User
from crm.models import AccountMatch, CrmAccount, CrmOpportunity
from integrations.models import Delivery
from integrations.outbox import outbox_process
from integrations.ready import LISTENERS, ReadyListener, engagements_ready
from integrations.registry import SENDERS
from slack.delivery import SlackSender, brief_message, slack_ready
from slack.models import SlackChannelTracking, SlackUserLink, SlackWorkspace
from testutils import slack_fake
from testutils.factories import EngagementFactory, UserFactory, role

TOKEN = "xoxb-acme"
SUMMARY = "Ann Buyer: We need the rollout done before March.\nRey Rep: We can start onboarding next week."
ITEMS = [{"text": "Send the pricing sheet", "speaker": "Rey Rep"}, {"text": "Book a security review", "speaker": ""}]


# --- the scene --------------------------------------------------------------------------------------


@pytest.fixture
def history(slack_api):
    """The messages the Slack fake stored (what ``conversations.history`` finds)."""
    return slack_api.history


@pytest.fixture
def sender(monkeypatch):
    """The sender registered as apps.py registers it; no pacing (a test of its own)."""
    s = SlackSender(sleep=lambda seconds: None)
    s.min_interval = 0.0
    monkeypatch.setitem(SENDERS, "slack", s)
    monkeypatch.setitem(LISTENERS, "slack.briefs", ReadyListener("slack.briefs", slack_ready, 60))
    return s


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save(update_fields=["package"])
    return org


@pytest.fixture
def workspace(enterprise, slack_api, history, sender):
    slack_api.add_workspace("T1", "Acme", bot_token=TOKEN, bot_user_id="UBOT")
    slack_api.add_user("U1", "rey", team_id="T1")
    slack_api.add_user("U2", "sam", team_id="T1")
    for cid, name in (("C1", "initech"), ("C2", "initech-renewal"), ("C3", "globex-deal")):
        slack_api.add_channel(cid, name, team_id="T1")
    return SlackWorkspace.objects.create(org=enterprise, team_id="T1", team_name="Acme", bot_user_id="UBOT",
                                         secrets={"bot_token": TOKEN})


@pytest.fixture
def crm(enterprise):
    account = CrmAccount.objects.create(org=enterprise, provider="salesforce", remote_id="001A", name="Initech")
    other = CrmAccount.objects.create(org=enterprise, provider="salesforce", remote_id="001B", name="Globex")
    opp = CrmOpportunity.objects.create(org=enterprise, provider="salesforce", remote_id="006A", account=account,
                                        name="Initech Renewal")
    return account, other, opp


def track(workspace, channel_id, *, account=None, opportunity=None):
    return SlackChannelTracking.objects.create(org=workspace.org, workspace=workspace, channel_id=channel_id,
                                               channel_name=channel_id.lower(), account=account,
                                               opportunity=opportunity)


def link(workspace, user, slack_user_id):
    return SlackUserLink.objects.create(org=workspace.org, user=user, workspace=workspace,
                                        slack_user_id=slack_user_id)


def meeting(org, owner, *, account=None, opportunity=None, summary=SUMMARY, **kw):
    e = EngagementFactory(org=org, owner=owner, title=kw.pop("title", "Initech rollout"), summary=summary,
                          action_items=kw.pop("action_items", ITEMS), duration_seconds=1800, **kw)
    Participant.objects.create(org=org, engagement=e, name="Rey Rep", email="rep@acme.example", is_internal=True)
    Participant.objects.create(org=org, engagement=e, name="Ann Buyer", email="ann@initech.example")
    if account or opportunity:
        AccountMatch.objects.create(org=org, engagement=e, account=account, opportunity=opportunity, rule="domain")
    return e


def posts(slack_api) -> list[dict]:
    return slack_api.calls_to("chat.postMessage")


def slack_rows(org):
    return list(Delivery.objects.filter(org=org, target="slack").order_by("idempotency_key"))


# --- who gets what -------------------------------------------------------------------------------


def test_dm_goes_to_a_connected_owner_only(workspace, rep_user, slack_api):
    org = workspace.org
    unlinked = UserFactory(org=org)
    link(workspace, rep_user, "U1")
    mine, theirs = meeting(org, rep_user), meeting(org, unlinked)

    engagements_ready(org=org, engagements=[mine, theirs])  # through the ready step, as processing calls it

    assert [(d.kind, d.idempotency_key, d.payload) for d in slack_rows(org)] == [
        ("brief_dm", f"slack:dm:{mine.id}:U1", {"channel": "U1"})]
    assert outbox_process()["sent"] == 1
    assert [m["channel"] for m in slack_api.messages] == ["U1"]
    assert Delivery.objects.get(org=org, target="slack").remote_id.startswith("D1:")


def test_nothing_without_a_brief_or_outside_enterprise(workspace, rep_user, crm, slack_api):
    org = workspace.org
    account, _, _ = crm
    link(workspace, rep_user, "U1")
    track(workspace, "C1", account=account)
    short = meeting(org, rep_user, account=account, summary="")  # < 10 minutes or no brief engine: no summary
    slack_ready(org=org, engagements=[short])
    assert slack_rows(org) == []

    org.package = Organization.Package.STANDARD
    org.save(update_fields=["package"])
    briefed = meeting(org, rep_user, account=account)
    slack_ready(org=org, engagements=[briefed])
    assert slack_rows(org) == []

    org.package = Organization.Package.ENTERPRISE
    org.save(update_fields=["package"])
    SlackWorkspace.objects.filter(pk=workspace.pk).update(status=SlackWorkspace.Status.DISCONNECTED)
    slack_ready(org=org, engagements=[briefed])
    assert slack_rows(org) == []


def test_channel_summaries_go_to_each_tracking_channel_once(workspace, rep_user, crm, slack_api):
    org = workspace.org
    account, other, opp = crm
    track(workspace, "C1", account=account)
    track(workspace, "C1", opportunity=opp)  # the same channel tracks both: one message
    track(workspace, "C2", opportunity=opp)
    track(workspace, "C3", account=other)  # another account: nothing
    broken = track(workspace, "C4", account=account)
    broken.status = SlackChannelTracking.Status.BROKEN
    broken.save()
    e = meeting(org, rep_user, account=account, opportunity=opp)

    slack_ready(org=org, engagements=[e])
    slack_ready(org=org, engagements=[e])  # announced again: still one row per channel

    assert [d.idempotency_key for d in slack_rows(org)] == [f"slack:channel:{e.id}:C1", f"slack:channel:{e.id}:C2"]
    assert outbox_process()["sent"] == 2
    assert outbox_process()["claimed"] == 0
    by_channel = {m["channel"]: m for m in slack_api.messages}
    assert sorted(by_channel) == ["C1", "C2"]
    about = by_channel["C1"]["blocks"][1]["elements"][0]["text"]
    assert about == "Tracked account *Initech* and opportunity *Initech Renewal*"
    assert by_channel["C2"]["blocks"][1]["elements"][0]["text"] == "Tracked opportunity *Initech Renewal*"
    assert by_channel["C1"]["text"].startswith("Tracked account *Initech* and opportunity *Initech Renewal* · ")


def test_another_orgs_trackings_never_get_this_orgs_summary(workspace, rep_user, crm, slack_api, other_org):
    org = workspace.org
    account, _, _ = crm
    slack_api.add_workspace("T2", "Globex", bot_token="xoxb-globex")
    slack_api.add_channel("C9", "their-initech", team_id="T2")
    theirs = SlackWorkspace.objects.create(org=other_org, team_id="T2", secrets={"bot_token": "xoxb-globex"})
    their_account = CrmAccount.objects.create(org=other_org, provider="salesforce", remote_id="001A",
                                              name="Initech")  # the same CRM record id in their CRM
    track(theirs, "C9", account=their_account)
    # Even a tracking row pointing at this org's account (it must never exist) is not read.
    SlackChannelTracking.objects.create(org=other_org, workspace=theirs, channel_id="C9", account=account)
    track(workspace, "C1", account=account)
    e = meeting(org, rep_user, account=account)

    slack_ready(org=org, engagements=[e])
    outbox_process()

    assert [m["channel"] for m in slack_api.messages] == ["C1"]
    assert {token for _, _, token in slack_api.calls} == {TOKEN}
    assert not Delivery.objects.filter(org=other_org).exists()


# --- the message ---------------------------------------------------------------------------------


def test_the_exact_request_slack_receives(workspace, rep_user, crm, slack_api, settings):
    org = workspace.org
    account, _, _ = crm
    settings.CHORUS_BASE_URL = "https://chorus.example"
    link(workspace, rep_user, "U1")
    e = meeting(org, rep_user, title="Initech <rollout> & pricing")
    slack_ready(org=org, engagements=[e])
    e.summary += "\nAnn Buyer: And one more thing, edited later."  # an edit after queueing is not lost
    e.save(update_fields=["summary"])

    outbox_process()

    (params,) = posts(slack_api)
    (_, _, token), = slack_api.calls
    assert token == TOKEN  # Authorization: Bearer
    assert params["channel"] == "U1"
    assert params["metadata"] == {"event_type": "chorus_brief", "event_payload": {"key": f"slack:dm:{e.id}:U1"}}
    ts = int(e.started_at.timestamp())
    utc = e.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    url = f"https://chorus.example/recordings/{e.pk}/"
    assert params["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Initech <rollout> & pricing", "emoji": False}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<!date^{ts}^{{date_short_pretty}} at {{time}}|{utc}> · 30 min"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Attendees:* Ann Buyer, Rey Rep"}},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "*Meeting summary*\n*Ann Buyer:* We need the rollout done before March.\n"
            "*Rey Rep:* We can start onboarding next week.\n*Ann Buyer:* And one more thing, edited later."}},
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "*Action items*\n• Send the pricing sheet — Rey Rep\n• Book a security review"}},
        {"type": "actions", "elements": [{"type": "button", "action_id": "open_in_chorus",
                                          "text": {"type": "plain_text", "text": "Open in Chorus"}, "url": url}]},
    ]
    assert params["text"] == ("Meeting summary: Initech &lt;rollout&gt; &amp; pricing — "
                              "Ann Buyer: We need the rollout done before March.")


def test_recording_url_of_the_engagement_wins(workspace, rep_user):
    e = meeting(workspace.org, rep_user, recording_url="https://zoom.example/rec/1")
    button = brief_message(engagement=e)["blocks"][-1]["elements"][0]
    assert button["url"] == "https://zoom.example/rec/1"


def test_block_kit_limits_are_kept(workspace, rep_user, slack_api):
    org = workspace.org
    link(workspace, rep_user, "U1")
    long_summary = "\n".join(f"Speaker {i}: " + "word " * 300 for i in range(200))
    e = meeting(org, rep_user, title="T" * 400, summary=long_summary,
                action_items=[{"text": "do " * 400, "speaker": "Rey"} for _ in range(300)])
    message = brief_message(engagement=e)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["text"]["text"] == "T" * 149 + "…"
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert any(b["type"] == "section" and b["text"]["text"].startswith("*Action items*") for b in blocks)
    assert blocks[-1]["type"] == "actions"

    slack_ready(org=org, engagements=[e])
    assert outbox_process()["sent"] == 1  # the fake checks Block Kit's limits too


# --- rate limits ---------------------------------------------------------------------------------


def test_ratelimited_waits_exactly_retry_after_then_sends_once(workspace, rep_user, slack_api):
    org = workspace.org
    link(workspace, rep_user, "U1")
    e = meeting(org, rep_user)
    slack_ready(org=org, engagements=[e])
    slack_api.ratelimit("chat.postMessage", retry_after=7)
    now = timezone.now()

    assert outbox_process(now=now)["deferred"] == 1  # nothing sent yet: the whole batch waits
    d = Delivery.objects.get(org=org, target="slack")
    assert (d.status, d.next_attempt_at, d.waits) == ("retrying", now + timedelta(seconds=7), 1)
    assert outbox_process(now=now + timedelta(seconds=6.9))["claimed"] == 0
    assert outbox_process(now=now + timedelta(seconds=7))["sent"] == 1
    assert len(slack_api.messages) == 1
    assert len(posts(slack_api)) == 2  # the refused one and the one that went through


def test_a_429_mid_batch_holds_that_channel_only(workspace, rep_user, crm, slack_api, sender, monkeypatch):
    org = workspace.org
    account, _, opp = crm
    track(workspace, "C1", account=account)
    track(workspace, "C2", opportunity=opp)
    first, second = meeting(org, rep_user, account=account), meeting(org, rep_user, account=account,
                                                                     opportunity=opp)
    slack_ready(org=org, engagements=[first, second])
    rows = {d.idempotency_key: d for d in slack_rows(org)}
    # Round 1 posts one C1 summary and the C2 one; round 2 the other C1 summary — refused.
    real = slack_fake.METHODS["chat.postMessage"].func

    def arm_after_two(fake, params, held, token):
        body = real(fake, params, held, token)
        if len(fake.messages) == 2:
            fake.ratelimit("chat.postMessage", retry_after=3)
        return body

    monkeypatch.setitem(slack_fake.METHODS, "chat.postMessage", slack_fake._Method(arm_after_two))
    batch = list(Delivery.objects.filter(org=org, target="slack").select_related("org", "engagement"))
    results = {r.delivery_id: r for r in sender.send(batch)}
    c1 = [results[rows[f"slack:channel:{e.id}:C1"].id] for e in (first, second)]
    assert sorted((r.ok, r.throttled, r.retry_after) for r in c1) == [(False, True, 3.0), (True, False, None)]
    assert results[rows[f"slack:channel:{second.id}:C2"].id].ok
    assert len(slack_api.messages) == 2


def test_the_sender_paces_one_message_per_second_per_channel(workspace, rep_user, slack_api):
    org = workspace.org
    link(workspace, rep_user, "U1")
    engagements = [meeting(org, rep_user) for _ in range(4)]
    slack_ready(org=org, engagements=engagements)
    clock = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        clock[0] += seconds

    paced = SlackSender(sleep=sleep, clock=lambda: clock[0])
    paced.send_budget = 2.5
    rows = list(Delivery.objects.filter(org=org).select_related("org", "engagement"))
    results = paced.send(rows)

    assert slept == [1.0, 1.0]  # three posts to U1 a second apart; the fourth would pass the budget
    assert [r.ok for r in results].count(True) == 3
    waiting = [r for r in results if not r.ok]
    assert [(r.waiting, r.retry_after, r.permanent) for r in waiting] == [(True, 1.0, False)]


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("break_it, reason", [
    ("archive", "The channel was archived"),
    ("kick", "The Chorus.ai app was removed from the channel: add it again"),
])
def test_a_channel_slack_refuses_is_marked_broken_and_not_retried(workspace, rep_user, crm, slack_api, break_it,
                                                                 reason):
    org = workspace.org
    account, _, opp = crm
    a = track(workspace, "C1", account=account)
    o = track(workspace, "C1", opportunity=opp)
    e = meeting(org, rep_user, account=account)
    slack_ready(org=org, engagements=[e])
    getattr(slack_api, break_it)("C1")

    assert outbox_process()["failed"] == 1
    d = Delivery.objects.get(org=org, target="slack")
    assert (d.status, d.last_error) == ("failed", reason)
    for t in (a, o):
        t.refresh_from_db()
        assert (t.status, t.status_reason) == ("broken", reason)
    assert outbox_process(now=timezone.now() + timedelta(days=1))["claimed"] == 0
    assert len(posts(slack_api)) == 1
    # A broken channel gets nothing queued until it is fixed.
    slack_ready(org=org, engagements=[meeting(org, rep_user, account=account)])
    assert Delivery.objects.filter(org=org, target="slack").count() == 1


def test_a_revoked_token_disconnects_the_workspace(workspace, rep_user, crm, slack_api):
    org = workspace.org
    account, _, _ = crm
    link(workspace, rep_user, "U1")
    track(workspace, "C1", account=account)
    slack_ready(org=org, engagements=[meeting(org, rep_user, account=account)])
    slack_api.revoke(TOKEN)

    assert outbox_process()["failed"] == 2
    workspace.refresh_from_db()
    assert workspace.status == "disconnected"
    assert workspace.status_reason == "The Chorus.ai app was removed from the Slack workspace: install it again."
    assert len(posts(slack_api)) == 1  # the second delivery was not tried against a dead token
    assert {d.status for d in slack_rows(org)} == {"failed"}
    assert SlackChannelTracking.objects.get(channel_id="C1").status == "ok"


def test_a_server_error_is_retried(workspace, rep_user, slack_api):
    org = workspace.org
    link(workspace, rep_user, "U1")
    slack_ready(org=org, engagements=[meeting(org, rep_user)])
    slack_api.fail("chat.postMessage", "internal_error")
    assert outbox_process()["retrying"] == 1
    d = Delivery.objects.get(org=org, target="slack")
    assert d.write_attempted_at is not None
    assert outbox_process(now=d.next_attempt_at)["sent"] == 1
    assert len(slack_api.messages) == 1


# --- exactly once ---------------------------------------------------------------------------------


@pytest.mark.parametrize("applied", [True, False])
def test_a_lost_answer_is_looked_up_before_posting_again(workspace, rep_user, crm, slack_api, history, httpserver,
                                                         applied):
    """Slack stores the post, then the answer is lost (a 503 here; a reset or a timeout
    looks the same to the sender): the retry finds the message by the key in its
    metadata and does not post again. When the post did not land, it is posted once."""
    org = workspace.org
    account, _, _ = crm
    link(workspace, rep_user, "U1")
    track(workspace, "C1", account=account)
    slack_ready(org=org, engagements=[meeting(org, rep_user, account=account)])
    original_handle = slack_api.handle

    lost = []

    def lose_answers(request):
        if request.path.endswith("chat.postMessage"):
            lost.append(request.path)
            if applied:
                original_handle(request)
            return Response("upstream connect error", status=503)
        return original_handle(request)

    httpserver.clear_all_handlers()
    httpserver.expect_request(re.compile(r"^/api/[^/]+$")).respond_with_handler(lose_answers)
    now = timezone.now()
    assert outbox_process(now=now)["retrying"] == 2
    httpserver.clear_all_handlers()
    slack_api.install(httpserver)
    rows = slack_rows(org)
    assert all(d.write_attempted_at for d in rows)

    assert outbox_process(now=max(d.next_attempt_at for d in rows))["sent"] == 2
    assert len(history) == 2  # one message per delivery, whichever way
    assert len(slack_api.calls_to("conversations.history")) == 2
    assert slack_api.calls_to("conversations.history")[0]["include_all_metadata"] in ("1", "true", True)
    assert len(slack_api.calls_to("conversations.open")) == 1  # the DM's own id, for its history
    assert len(lost) == 2
    assert len(posts(slack_api)) == 2  # what reached the fake's method (the lost posts only when applied)
    assert {d.remote_id for d in slack_rows(org)} == {f"{m['channel']}:{m['ts']}" for m in history}


def test_history_without_the_scope_never_risks_a_duplicate(workspace, rep_user, slack_api):
    org = workspace.org
    link(workspace, rep_user, "U1")
    slack_ready(org=org, engagements=[meeting(org, rep_user)])
    Delivery.objects.filter(org=org).update(write_attempted_at=timezone.now())  # an earlier attempt, unknown end
    slack_api.fail("conversations.open", "missing_scope")
    assert outbox_process()["failed"] == 1
    assert posts(slack_api) == []
    assert "history scopes" in Delivery.objects.get(org=org).last_error


# --- query bounds --------------------------------------------------------------------------------


def test_the_listener_reads_in_a_fixed_number_of_queries(workspace, crm, django_assert_max_num_queries):
    org = workspace.org
    account, other, opp = crm
    track(workspace, "C1", account=account)
    track(workspace, "C2", opportunity=opp)
    track(workspace, "C3", account=other)
    engagements = []
    owners = User.objects.bulk_create([User(org=org, email=f"rep{i}@acme.example", role=role(org))
                                       for i in range(100)])  # no password hashing: 100 users, fast
    for i, owner in enumerate(owners):
        if i % 2:
            link(workspace, owner, f"U{i:04d}")
        engagements.append(meeting(org, owner, account=account if i % 3 else other, opportunity=opp if i % 5 else None))
    org = Organization.objects.get(pk=org.pk)

    # workspace, links, matches, trackings, the insert (SQLite splits 230 rows by its
    # 999-variable limit into several INSERTs; PostgreSQL takes one)
    with django_assert_max_num_queries(8):
        slack_ready(org=org, engagements=engagements)
    assert Delivery.objects.filter(org=org, kind="brief_dm").count() == 50
    assert Delivery.objects.filter(org=org, kind="channel_summary").count() == 100 + 80


def test_the_sender_reads_in_a_fixed_number_of_queries(workspace, crm, slack_api, sender,
                                                       django_assert_max_num_queries):
    org = workspace.org
    account, _, _ = crm
    for i in range(40):
        slack_api.add_channel(f"C{100 + i}", f"ch{i}", team_id="T1")
        track(workspace, f"C{100 + i}", account=account)
    owner = UserFactory(org=org)
    slack_ready(org=org, engagements=[meeting(org, owner, account=account) for _ in range(3)])
    rows = list(Delivery.objects.filter(org=org).select_related("org", "engagement"))
    assert len(rows) == 120
    # workspace, trackings, participants, then one write-attempted UPDATE per round (3 rounds)
    with django_assert_max_num_queries(8):
        results = sender.send(rows)
    assert all(r.ok for r in results)
    assert len(slack_api.messages) == 120
