"""Post-meeting briefs in Slack: a DM to the meeting's owner and a summary in every
channel that tracks the meeting's account or opportunity (seed: "Post-Meeting Briefs
in Slack", "Add Post-Meeting Summaries in Slack Channels"; Enterprise only).

Two halves, joined by the outbox:

* :func:`slack_ready`, a ready listener (after ``crm.matching``, which it reads),
  runs in the transaction that made the engagements ready and only writes outbox
  rows — one per (engagement, recipient), keyed ``slack:dm:{engagement}:{user}`` and
  ``slack:channel:{engagement}:{channel}`` (a channel tracking both the account and
  the opportunity of a meeting gets one message). Four queries whatever the batch
  size: the workspace, the owners' links, the matches, the trackings; plus the insert.
* :class:`SlackSender` posts them with ``chat.postMessage``. The message is built
  at send time from the engagement as it is then, so an edit made in between is not
  lost; the row only says where it goes.

Exactly once, without an idempotency key on Slack's side. ``chat.postMessage`` has
none, and a lost answer (a reset connection, a timeout, a 5xx after Slack stored the
message) is an unknown outcome. So:

* every message carries its outbox key in Slack *message metadata*
  (``event_type: "chorus_brief"``, ``event_payload: {"key": …}``; Slack documents
  metadata as app-to-app data on the message, docs.slack.dev/messaging/message-metadata);
* ``Delivery.write_attempted_at`` is persisted before a post is sent (one UPDATE
  per round of posts, see below);
* a delivery whose ``write_attempted_at`` is set is looked up before it is posted
  again: ``conversations.history`` of its channel since that moment (minus a margin
  for clock skew) with ``include_all_metadata=true``; a message of ours carrying the
  key settles it as sent. A DM is posted with the user's id as ``channel``; history
  needs the DM's own id, which ``conversations.open`` returns. This costs the
  ``channels:history``, ``groups:history``, ``im:history`` and ``im:write`` scopes;
  without them the look-up fails with ``missing_scope`` and the delivery fails with
  a sentence asking for the app to be reinstalled — a duplicate is never risked.
  slack_sdk's default retry handler re-sends a request after a connection error,
  which for a post is exactly the duplicate this avoids: the sender's client has no
  retry handlers.

Rate limits. ``chat.postMessage`` is in Slack's "special" tier: about one message
per second per channel, with short bursts tolerated and a workspace-wide cap
(docs.slack.dev/apis/web-api/rate-limits). The sender paces itself: the batch is
posted in rounds of at most one message per channel, a round starting no sooner
than ``min_interval`` after the previous post to any of its channels, within a
``send_budget`` of seconds well under the outbox lease; what does not fit waits
(``SendResult(waiting=True)``, not counted as a failure). A 429 anyway settles that
delivery and the rest of the same channel as throttled for exactly the
``Retry-After`` Slack sent (or, when nothing was settled yet, raises
:class:`RateLimited` for the batch).

Refusals. A channel that was archived, deleted or that removed the app fails its
summary for good and marks the channel's trackings broken with a sentence the
``/chorus show all`` list and the account page show. A revoked token or an
uninstalled app marks the workspace disconnected (with the reason) and fails the
batch's other deliveries for good. Network errors and 5xx are retried by the outbox.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
import urllib.error
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.urls import reverse
from slack_sdk.errors import SlackApiError

from crm.models import AccountMatch
from integrations.models import Delivery
from integrations.outbox import deliveries_write_attempted
from integrations.registry import RateLimited, SendResult
from slack.models import SlackChannelTracking, SlackUserLink, SlackWorkspace

log = logging.getLogger(__name__)

TARGET = "slack"
KIND_DM = "brief_dm"
KIND_CHANNEL = "channel_summary"
METADATA_EVENT = "chorus_brief"

# Block Kit limits (docs.slack.dev/reference/block-kit/blocks): 50 blocks a message,
# 3,000 characters a section's text, 150 a header's plain text.
MAX_BLOCKS = 50
SECTION_MAX = 3000
HEADER_MAX = 150
CONTEXT_MAX = 2000
TEXT_FALLBACK_MAX = 3000
MAX_ATTENDEES = 12
LOOKUP_MARGIN = timedelta(minutes=5)  # our clock and Slack's may differ

# Sentences for people (the channel list of `/chorus show all`, the account page,
# the outbox's last error).
CHANNEL_ERRORS = {
    "is_archived": "The channel was archived",
    "channel_is_archived": "The channel was archived",
    "not_in_channel": "The Chorus.ai app was removed from the channel: add it again",
    "channel_not_found": "The channel was deleted, or it is private and the Chorus.ai app is not in it: add the "
                         "app to the channel and connect it again",
}
DM_ERRORS = {
    "channel_not_found": "Slack does not know this person any more (deactivated or removed from the workspace).",
    "user_not_found": "Slack does not know this person any more (deactivated or removed from the workspace).",
    "user_disabled": "This person's Slack account is deactivated.",
    "cannot_dm_bot": "The linked Slack account is a bot.",
    "not_in_channel": "Slack did not let the Chorus.ai app message this person.",
    "is_archived": "Slack did not let the Chorus.ai app message this person.",
    "channel_is_archived": "Slack did not let the Chorus.ai app message this person.",
}
AUTH_ERRORS = {
    "invalid_auth": "Slack no longer accepts Chorus's token: install the Chorus.ai app again.",
    "not_authed": "Slack no longer accepts Chorus's token: install the Chorus.ai app again.",
    "token_revoked": "The Chorus.ai app was removed from the Slack workspace: install it again.",
    "token_expired": "Chorus's Slack token expired: install the Chorus.ai app again.",
    "account_inactive": "The Slack account that installed the Chorus.ai app is deactivated: install the app again.",
    "team_access_not_granted": "The Chorus.ai app no longer has access to this Slack workspace: install it again.",
}
RATE_LIMIT_ERRORS = {"ratelimited", "rate_limited"}
TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
MISSING_SCOPE = ("Chorus could not check whether this brief was already posted: the Chorus.ai app lacks a Slack "
                 "permission (it needs the history scopes). Install the app again.")
NOT_CONNECTED = "Slack is not connected for this organisation: install the Chorus.ai app and Chorus posts again."
DISCONNECTED = "The Slack workspace is disconnected ({reason}) — install the Chorus.ai app again."
NO_LONGER_TRACKED = "The channel no longer tracks this meeting's account or opportunity."
NO_BRIEF = "The meeting has no brief any more."
PACING = "Waiting: Slack takes about one message per second in a channel."


# --- The ready listener --------------------------------------------------------------------------


def slack_ready(*, org, engagements) -> None:
    """Queue a DM to each connected owner and a summary to each tracking channel for
    the engagements that have a brief. Outbox rows only; never calls Slack."""
    if not org.is_enterprise:
        return
    briefed = [e for e in engagements if (e.summary or "").strip()]
    if not briefed:
        return
    workspace = SlackWorkspace.objects.filter(org=org, status=SlackWorkspace.Status.ACTIVE).first()
    if workspace is None:
        return
    ids = [e.id for e in briefed]
    owner_ids = {e.owner_id for e in briefed if e.owner_id}
    links = dict(SlackUserLink.objects.filter(org=org, workspace=workspace, user_id__in=owner_ids)
                 .values_list("user_id", "slack_user_id")) if owner_ids else {}
    matches = {eid: (acc, opp) for eid, acc, opp in AccountMatch.objects.filter(org=org, engagement_id__in=ids)
               .values_list("engagement_id", "account_id", "opportunity_id")}
    accounts = {a for a, _ in matches.values() if a}
    opportunities = {o for _, o in matches.values() if o}
    by_account: dict[int, list[tuple[int, str]]] = defaultdict(list)
    by_opportunity: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if accounts or opportunities:
        for tid, channel, acc, opp in SlackChannelTracking.objects.filter(
                Q(account_id__in=accounts) | Q(opportunity_id__in=opportunities),
                org=org, workspace=workspace, status=SlackChannelTracking.Status.OK,
        ).order_by("id").values_list("id", "channel_id", "account_id", "opportunity_id"):
            (by_account[acc] if acc else by_opportunity[opp]).append((tid, channel))

    rows: list[Delivery] = []
    for e in briefed:
        slack_user = links.get(e.owner_id)
        if slack_user:
            rows.append(Delivery(org=org, target=TARGET, kind=KIND_DM, engagement=e,
                                 idempotency_key=f"slack:dm:{e.id}:{slack_user}",
                                 payload={"channel": slack_user}))
        acc, opp = matches.get(e.id, (None, None))
        channels: dict[str, list[int]] = {}
        for tid, channel in by_account.get(acc, []) + by_opportunity.get(opp, []):
            channels.setdefault(channel, []).append(tid)
        for channel, tracking_ids in channels.items():
            rows.append(Delivery(org=org, target=TARGET, kind=KIND_CHANNEL, engagement=e,
                                 idempotency_key=f"slack:channel:{e.id}:{channel}",
                                 payload={"channel": channel, "tracking_ids": tracking_ids}))
    if rows:
        # A key queued already (the engagement announced again) stays the one row.
        with transaction.atomic(savepoint=False):
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)


# --- The message ---------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _esc(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _recording_url(engagement) -> str:
    return engagement.recording_url or settings.CHORUS_BASE_URL + reverse("recording", args=[engagement.pk])


def _when(engagement) -> str:
    """Slack's date token shows the time in each reader's own time zone; the
    fallback (UTC) is for clients that cannot."""
    started = engagement.started_at
    ts = int(started.timestamp())
    fallback = started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = max(1, round((engagement.duration_seconds or 0) / 60))
    return f"<!date^{ts}^{{date_short_pretty}} at {{time}}|{fallback}> · {minutes} min"


def _attendees(engagement) -> str:
    people = [p for p in engagement.participants.all() if not p.is_ignored]
    people.sort(key=lambda p: p.is_internal)  # external (prospects) first; stable otherwise
    names = [_esc(p.name or p.email) for p in people if (p.name or p.email)]
    if not names:
        return ""
    shown = ", ".join(names[:MAX_ATTENDEES])
    if len(names) > MAX_ATTENDEES:
        shown += f" and {len(names) - MAX_ATTENDEES} more"
    return "*Attendees:* " + shown


def _sections(title: str, lines: list[str], room: int) -> list[dict]:
    """``lines`` under a bold ``title`` in as few sections (≤ 3,000 chars each) as
    they need, at most ``room`` of them; what does not fit is cut with "…"."""
    blocks: list[dict] = []
    current = f"*{title}*"
    for line in lines:
        line = _clip(line, SECTION_MAX - 10)
        if len(current) + 1 + len(line) <= SECTION_MAX:
            current += "\n" + line
            continue
        if len(blocks) + 1 >= room:
            current = _clip(current + "\n" + line, SECTION_MAX)
            break
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
        current = line
    if room > len(blocks):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": current}})
    return blocks


def _summary_lines(summary: str) -> list[str]:
    out = []
    for line in (summary or "").splitlines():
        line = line.strip()
        if not line:
            continue
        speaker, sep, said = line.partition(": ")
        out.append(f"*{_esc(speaker)}:* {_esc(said)}" if sep and 0 < len(speaker) <= 80 else _esc(line))
    return out


def brief_message(*, engagement, about: str = "") -> dict:
    """The ``chat.postMessage`` arguments (without ``channel`` and ``metadata``) for an
    engagement's brief: Block Kit plus the plain ``text`` notifications show.
    ``about`` names the tracked account/opportunity in a channel summary."""
    title = engagement.display_title
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_MAX),
                                                      "emoji": False}}]
    context = [_when(engagement)]
    if about:
        context.insert(0, about)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(t, CONTEXT_MAX)}
                                                    for t in context]})
    attendees = _attendees(engagement)
    if attendees:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(attendees, SECTION_MAX)}})
    url = _recording_url(engagement)
    tail = [{"type": "actions", "elements": [{"type": "button", "action_id": "open_in_chorus",
                                               "text": {"type": "plain_text", "text": "Open in Chorus"},
                                               "url": url}]}]
    items = [f"• {_esc(a['text'])}" + (f" — {_esc(a['speaker'])}" if a["speaker"] else "")
             for a in engagement.action_item_items if a["text"]]
    room = MAX_BLOCKS - len(blocks) - len(tail) - (1 if items else 0)  # keep a block for the action items
    summary = _sections("Meeting summary", _summary_lines(engagement.summary), room)
    blocks += summary
    if items:
        blocks += [{"type": "divider"}] if len(blocks) + len(tail) < MAX_BLOCKS - 1 else []
        blocks += _sections("Action items", items, MAX_BLOCKS - len(blocks) - len(tail))
    blocks += tail
    lead = f"{about} · " if about else ""
    first_line = (engagement.summary or "").strip().splitlines()[:1]
    text = _clip(f"{lead}Meeting summary: {_esc(title)} — {_esc(''.join(first_line))}", TEXT_FALLBACK_MAX)
    return {"text": text, "blocks": blocks[:MAX_BLOCKS], "unfurl_links": False, "unfurl_media": False}


def _about(trackings: list[SlackChannelTracking]) -> str:
    parts = []
    for t in trackings:
        if t.account_id and t.account:
            parts.append(f"account *{_esc(t.account.name)}*")
        elif t.opportunity_id and t.opportunity:
            parts.append(f"opportunity *{_esc(t.opportunity.name)}*")
    return ("Tracked " + " and ".join(parts)) if parts else ""


# --- The sender ----------------------------------------------------------------------------------


class _Refused(Exception):
    """Slack refused for good: ``str(exc)`` is the sentence; ``scope`` says what is
    broken (``channel``, ``workspace`` or just this ``delivery``)."""

    def __init__(self, message: str, scope: str = "delivery"):
        super().__init__(message)
        self.scope = scope


class _Throttled(Exception):
    def __init__(self, retry_after: float):
        super().__init__(f"Slack rate limit: retrying after {retry_after:g} s")
        self.retry_after = retry_after


class _Transient(Exception):
    """Timeout, dropped connection, 5xx: unknown outcome, retried (and looked up)."""


NETWORK_ERRORS = (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException,
                  OSError)


def _classify(exc: Exception, *, dm: bool) -> Exception:
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = str(data.get("error") or "")
        if status == 429 or error in RATE_LIMIT_ERRORS:
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            try:
                retry_after = float(headers.get("retry-after", ""))
            except ValueError:
                retry_after = 30.0
            return _Throttled(retry_after)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return _Transient(f"Slack answered {status} ({error or 'server error'}); Chorus retries.")
        if error in AUTH_ERRORS:
            return _Refused(AUTH_ERRORS[error], "workspace")
        if error == "missing_scope":
            return _Refused(MISSING_SCOPE)
        if dm and error in DM_ERRORS:
            return _Refused(DM_ERRORS[error])
        if error in CHANNEL_ERRORS:
            return _Refused(CHANNEL_ERRORS[error], "channel")
        return _Refused(f"Slack refused the message ({error or status}).")
    if isinstance(exc, NETWORK_ERRORS):
        return _Transient(f"Slack did not answer ({type(exc).__name__}: {exc}); Chorus checks and retries.")
    return exc


def _slack_ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


class SlackSender:
    """Posts queued briefs with ``chat.postMessage``; see the module docstring."""

    target = TARGET
    batch_size = 500
    min_interval = 1.0  # seconds between two posts to one channel (Slack's "special" tier)
    send_budget = 60.0  # seconds one send may spend pacing; far below OUTBOX_LEASE_SECONDS
    history_pages = 5

    def __init__(self, *, sleep=time.sleep, clock=time.monotonic):
        self.sleep, self.clock = sleep, clock
        self._last_post: dict[tuple[int, str], float] = {}

    def client(self, workspace):
        from slack.client import slack_client

        client = slack_client(workspace)
        # slack_sdk re-sends a request after a connection error by default: for a
        # post whose answer was lost that is a second message. slack_client turns
        # that off; this sender depends on it, so it says so here too.
        client.retry_handlers = []
        return client

    # -- the batch --------------------------------------------------------------------------

    def send(self, deliveries: list[Delivery]) -> list[SendResult]:
        org = deliveries[0].org
        results: dict[int, SendResult] = {}
        workspace = SlackWorkspace.objects.filter(org=org).first()
        if workspace is None:
            return [SendResult(d.id, ok=False, permanent=True, error=NOT_CONNECTED) for d in deliveries]
        if not workspace.is_active:
            error = DISCONNECTED.format(reason=workspace.status_reason or "no reason given")
            return [SendResult(d.id, ok=False, permanent=True, error=error) for d in deliveries]

        trackings = self._trackings(deliveries)
        prefetch_related_objects([d.engagement for d in deliveries if d.engagement], "participants")
        todo: list[tuple[Delivery, dict]] = []
        for d in deliveries:
            e = d.engagement
            if e is None or not (e.summary or "").strip():
                results[d.id] = SendResult(d.id, ok=False, permanent=True, error=NO_BRIEF)
                continue
            about = ""
            if d.kind == KIND_CHANNEL:
                ts = [trackings[t] for t in d.payload.get("tracking_ids", []) if t in trackings]
                broken = [t for t in ts if t.status != SlackChannelTracking.Status.OK]
                ok = [t for t in ts if t.status == SlackChannelTracking.Status.OK]
                if not ok:
                    error = broken[0].status_reason if broken and broken[0].status_reason else NO_LONGER_TRACKED
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=error)
                    continue
                about = _about(ok)
            todo.append((d, about))

        # Which deliveries an earlier attempt may have posted: read before this
        # attempt marks its own.
        earlier = {d.id for d in deliveries if d.write_attempted_at is not None}
        client = self.client(workspace)
        self._post_all(client, workspace, todo, results, earlier)
        return [results.get(d.id) or SendResult(d.id, ok=False, error="Not sent.") for d in deliveries]

    @staticmethod
    def _trackings(deliveries: list[Delivery]) -> dict[int, SlackChannelTracking]:
        ids = {t for d in deliveries if d.kind == KIND_CHANNEL for t in d.payload.get("tracking_ids", [])}
        if not ids:
            return {}
        return {t.id: t for t in SlackChannelTracking.objects.filter(org_id=deliveries[0].org_id, id__in=ids)
                .select_related("account", "opportunity")}

    def _rounds(self, todo: list[tuple[Delivery, dict]]) -> list[list[tuple[Delivery, str]]]:
        """Round-robin over channels: round *i* holds each channel's *i*-th message."""
        per_channel: dict[str, list] = defaultdict(list)
        for item in todo:
            per_channel[item[0].payload["channel"]].append(item)
        rounds: list[list] = []
        for items in per_channel.values():
            for i, item in enumerate(items):
                if i == len(rounds):
                    rounds.append([])
                rounds[i].append(item)
        return rounds

    def _post_all(self, client, workspace, todo, results: dict[int, SendResult], earlier: set[int]) -> None:
        started = self.clock()
        throttled: dict[str, _Throttled] = {}
        broken: dict[str, str] = {}
        disconnected: str | None = None
        rounds = self._rounds(todo)
        for n, round_items in enumerate(rounds):
            open_items = [(d, about) for d, about in round_items
                          if d.id not in results and d.payload["channel"] not in throttled
                          and d.payload["channel"] not in broken and disconnected is None]
            for d, _ in round_items:
                channel = d.payload["channel"]
                if d.id in results:
                    continue
                if disconnected is not None:
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=disconnected)
                elif channel in broken:
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=broken[channel])
                elif channel in throttled:
                    exc = throttled[channel]
                    results[d.id] = SendResult(d.id, ok=False, error=str(exc), retry_after=exc.retry_after,
                                               throttled=True)
            if not open_items:
                continue
            wait = self._pace(workspace, open_items)
            if self.clock() + wait - started > self.send_budget:
                for later in rounds[n:]:
                    for d, _ in later:
                        if d.id not in results:
                            results[d.id] = SendResult(d.id, ok=False, waiting=True, error=PACING,
                                                       retry_after=self.min_interval)
                return
            if wait > 0:
                self.sleep(wait)
            deliveries_write_attempted(deliveries=[d for d, _ in open_items])
            for d, about in open_items:
                channel = d.payload["channel"]
                if disconnected is not None:
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=disconnected)
                    continue
                try:
                    results[d.id] = self._deliver(client, d, about, look_up=d.id in earlier)
                except _Throttled as exc:
                    if not results:
                        raise RateLimited(exc.retry_after, "Slack rate limit (chat.postMessage)") from None
                    throttled[channel] = exc
                    results[d.id] = SendResult(d.id, ok=False, error=str(exc), retry_after=exc.retry_after,
                                               throttled=True)
                except _Transient as exc:
                    results[d.id] = SendResult(d.id, ok=False, error=str(exc)[:2000])
                except _Refused as exc:
                    message = str(exc)
                    results[d.id] = SendResult(d.id, ok=False, permanent=True, error=message)
                    if exc.scope == "channel" and d.kind == KIND_CHANNEL:
                        broken[channel] = message
                        SlackChannelTracking.objects.filter(workspace=workspace, channel_id=channel).update(
                            status=SlackChannelTracking.Status.BROKEN, status_reason=message)
                    elif exc.scope == "workspace":
                        disconnected = DISCONNECTED.format(reason=message)
                        results[d.id].error = message
                        SlackWorkspace.objects.filter(pk=workspace.pk).update(
                            status=SlackWorkspace.Status.DISCONNECTED, status_reason=message)
                        workspace.status, workspace.status_reason = SlackWorkspace.Status.DISCONNECTED, message
                finally:
                    self._last_post[(workspace.pk, channel)] = self.clock()

    def _pace(self, workspace, items) -> float:
        now = self.clock()
        last = [self._last_post.get((workspace.pk, d.payload["channel"])) for d, _ in items]
        return max([0.0] + [t + self.min_interval - now for t in last if t is not None])

    # -- one message ------------------------------------------------------------------------

    def _deliver(self, client, d: Delivery, about: str, *, look_up: bool) -> SendResult:
        dm = d.kind == KIND_DM
        channel = d.payload["channel"]
        if look_up:
            found = self._look_up(client, d)
            if found:
                return SendResult(d.id, ok=True, remote_id=found)
        message = brief_message(engagement=d.engagement, about=about)
        try:
            response = client.chat_postMessage(
                channel=channel, metadata={"event_type": METADATA_EVENT, "event_payload": {"key": d.idempotency_key}},
                **message)
        except Exception as exc:  # noqa: BLE001 - sorted into throttled / transient / refused
            raise _classify(exc, dm=dm) from exc
        return SendResult(d.id, ok=True, remote_id=f"{response.get('channel') or channel}:{response.get('ts')}")

    def _look_up(self, client, d: Delivery) -> str:
        """The ``channel:ts`` of our message carrying ``d``'s key, posted since the
        earlier attempt began, or "" when there is none."""
        dm = d.kind == KIND_DM
        channel = d.payload["channel"]
        try:
            if dm:
                channel = client.conversations_open(users=channel)["channel"]["id"]
            oldest = _slack_ts(d.write_attempted_at - LOOKUP_MARGIN)
            cursor = None
            for _ in range(self.history_pages):
                page = client.conversations_history(channel=channel, oldest=oldest, limit=200,
                                                    include_all_metadata=True, cursor=cursor)
                for m in page.get("messages", []):
                    meta = m.get("metadata") or {}
                    if meta.get("event_type") == METADATA_EVENT and \
                            (meta.get("event_payload") or {}).get("key") == d.idempotency_key:
                        return f"{channel}:{m.get('ts')}"
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    return ""
        except Exception as exc:  # noqa: BLE001
            raise _classify(exc, dm=dm) from exc
        raise _Transient("Slack's history is longer than Chorus reads to check for an earlier post; Chorus retries.")
