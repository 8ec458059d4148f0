"""``/chorus`` slash commands: the request check, parsing, and the answers.

Slack wants an answer within 3 seconds, and everything here is a few indexed
queries — except ``connect``, which asks Slack (``conversations.info``) whether the
channel is one the app can post summaries to. That call is made inline with a
short timeout (:data:`FAST_WAIT`, no retries); when Slack is slower than that or
rate-limits it, nothing is written, the request is answered with
:data:`CHECKING` at once and the whole command is run again by a django-q2 task
(``slack.tasks.slack_command_task``) that waits longer and posts its answer to the
command's ``response_url`` (valid 30 minutes, 5 uses). So a fast Slack gets the
answer in the HTTP response, a slow one gets it a moment later, and both answers
come from the same code (:func:`command_run`).

Answers are ephemeral (only the person who typed the command sees them).
User-facing strings are module constants; names are escaped for Slack's mrkdwn.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from urllib.error import URLError
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import Resolver404, resolve

from chorus.services import audit_record
from crm.models import CrmAccount, CrmOpportunity
from slack.models import SlackChannelTracking, SlackUserLink, SlackWorkspace

log = logging.getLogger(__name__)

FAST_WAIT = 1.5  # seconds for conversations.info inside the 3-second answer
SLOW_WAIT = 10.0  # seconds for it in the task, which answers through response_url
RESPONSE_URL_TIMEOUT = (5, 10)
SHOW_MAX = 40  # trackings listed by `show all` (a message stays readable)

# --- What people read ------------------------------------------------------------------------

HELP = (
    "*Chorus commands* — use them in the Slack channel that should receive Post-Meeting Summaries:\n"
    "• `/chorus connect account Link_to_account` — connect a Chorus account to this channel\n"
    "• `/chorus connect opportunity Link_to_opp` — connect a Chorus opportunity to this channel\n"
    "• `/chorus disconnect all` — disconnect all accounts and opportunities from this channel\n"
    "• `/chorus show all` — show the accounts and opportunities connected to this channel\n"
    "Copy the link from the account's or opportunity's page in Chorus ({base}/accounts/… or "
    "{base}/opportunities/…). After each meeting involving them, Chorus posts the meeting summary and "
    "action items here."
)
NOT_FOUND = "Command not found: `{command}`.\n\n"
NO_INTEGRATION = (
    "No Slack integration: this Slack workspace is not connected to Chorus (or the connection was "
    "removed). Reconnect it: in Chorus, go to *Settings > Personal Settings* and under "
    "*Chorus for Slack Integration* click *Connect Slack*."
)
NOT_ENTERPRISE = ("No Slack integration: Post-Meeting Summaries in Slack channels are part of the Chorus "
                  "Enterprise package.")
DIRECT_MESSAGE = ("This feature only works with Slack channels, not with Slack direct messages. "
                  "Type the command in the channel that should receive the summaries.")
ADD_APP = (
    "The Chorus.ai app is not in this channel, so it cannot post summaries here. To use this feature "
    "with a private Slack channel (or any channel Chorus is not in), add the *Chorus.ai* app: click the "
    "channel name, then *Integrations* > *Add an App*, search for *Chorus.ai* and click *Add* (or mention "
    "*@Chorus.ai* here and let Slack add it). Then run the command again."
)
ARCHIVED = "This channel is archived: Chorus cannot post summaries to it. Use an active channel."
BAD_URL = ("Bad URL: {why} Copy the link from the account's or opportunity's page in Chorus "
           "({base}/accounts/… or {base}/opportunities/…), then type "
           "`/chorus connect {kind} Link_to_{short}`.")
WHY_MISSING = "add the link to the {kind} after the command."
WHY_NOT_CHORUS = "that is not a link to this Chorus."
WHY_NOT_PAGE = "that link is not an account or opportunity page."
WHY_OTHER_KIND = "that is a link to an {other}; use `/chorus connect {other} {link}`."
WHY_UNKNOWN = "Chorus has no {kind} at that link."
CONNECTED = ("Successfully connected the {kind} *{name}* to this channel. After each meeting involving it, "
             "Chorus posts the meeting summary and action items here.")
ALREADY = "Already connected: this channel already tracks the {kind} *{name}*."
SHOW_NONE = ("No accounts or opportunities are connected to this channel. Connect one with "
             "`/chorus connect account Link_to_account` or `/chorus connect opportunity Link_to_opp`.")
SHOW_HEAD = "Connected to this channel:"
SHOW_BROKEN = " — :warning: not posting: {reason}"
SHOW_MORE = "…and {n} more."
DISCONNECTED = "Disconnected all the accounts and opportunities ({n}) from this channel."
DISCONNECTED_NONE = "Nothing to disconnect: no accounts or opportunities are connected to this channel."
CHECKING = "Checking this channel with Slack… Chorus answers here in a moment."
SLACK_SLOW = "Slack did not answer in time, so nothing was changed. Try the command again in a minute."
SLACK_ERROR = "Slack refused to describe this channel ({error}), so nothing was changed. Try again in a minute."

TOKEN_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                "missing_scope", "no_permission", "team_access_not_granted"}
HIDDEN_CHANNEL_ERRORS = {"channel_not_found", "not_in_channel"}
KINDS = {"account": "account", "accounts": "account", "opportunity": "opportunity",
         "opportunities": "opportunity", "opp": "opportunity", "opps": "opportunity"}
MODELS = {"account": CrmAccount, "opportunity": CrmOpportunity}
SHORT = {"account": "account", "opportunity": "opp"}
# The seed names `/chorus-track-account` too: one word for `/chorus connect account`.
ALIASES = {"/chorus-track-account": "connect account", "/chorus-track-opportunity": "connect opportunity"}


# --- The request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlashCommand:
    """The fields of a slash-command request Chorus uses (never the legacy token)."""

    team_id: str
    channel_id: str
    channel_name: str
    user_id: str
    command: str
    text: str
    response_url: str

    @classmethod
    def from_form(cls, form) -> SlashCommand:
        """From the urlencoded form; ValueError when a field Chorus needs is missing."""
        values = {name: (form.get(name) or "").strip() for name in cls.__dataclass_fields__}
        missing = [n for n in ("team_id", "channel_id", "user_id", "command") if not values[n]]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_direct_message(self) -> bool:
        # D… are one-to-one DMs; group DMs come as "mpdm-…" (their ids start with G or C).
        return (self.channel_id.startswith("D") or self.channel_name == "directmessage"
                or self.channel_name.startswith("mpdm-"))


class Deferred(Exception):
    """Slack was too slow to answer inside the 3 seconds: run the command again in a task."""


def ephemeral(text: str) -> dict:
    return {"response_type": "ephemeral", "text": text}


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def base_url() -> str:
    return settings.CHORUS_BASE_URL.rstrip("/")


# --- Running a command -----------------------------------------------------------------------


@dataclass
class Context:
    command: SlashCommand
    workspace: SlackWorkspace
    args: list[str]
    wait: float
    deferred: bool


def command_run(*, command: SlashCommand, wait: float | None = None, deferred: bool = False) -> dict:
    """The ephemeral answer to ``command``. In the web request (``deferred=False``)
    raises :class:`Deferred` when Slack is too slow; in the task it answers anyway."""
    text = ALIASES.get(command.command, "") + " " + command.text
    words = text.split()
    name = words[0].lower() if words else "help"
    workspace = (SlackWorkspace.objects.select_related("org")
                 .filter(team_id=command.team_id, status=SlackWorkspace.Status.ACTIVE).first())
    if workspace is None:
        return ephemeral(NO_INTEGRATION)
    if not workspace.org.is_enterprise:
        return ephemeral(NOT_ENTERPRISE)
    handler = HANDLERS.get(name)
    if handler is None:
        return not_found_answer(command)
    ctx = Context(command=command, workspace=workspace, args=words[1:], wait=FAST_WAIT if wait is None else wait,
                  deferred=deferred)
    if handler is not help_answer and command.is_direct_message:
        return ephemeral(DIRECT_MESSAGE)
    return handler(ctx)


def help_text() -> str:
    return HELP.format(base=base_url())


def help_answer(ctx: Context) -> dict:
    return ephemeral(help_text())


def not_found_answer(command: SlashCommand) -> dict:
    typed = mrkdwn_escape(f"{command.command} {command.text}".strip())
    return ephemeral(NOT_FOUND.format(command=typed) + help_text())


def _is_all(ctx: Context) -> bool:
    return len(ctx.args) == 1 and ctx.args[0].lower() == "all"


def show_answer(ctx: Context) -> dict:
    if not _is_all(ctx):
        return not_found_answer(ctx.command)
    trackings = list(
        SlackChannelTracking.objects.filter(workspace=ctx.workspace, channel_id=ctx.command.channel_id)
        .select_related("account", "opportunity").order_by("created_at", "id")
    )
    if not trackings:
        return ephemeral(SHOW_NONE)
    lines = [SHOW_HEAD]
    for t in trackings[:SHOW_MAX]:
        kind, target = ("Account", t.account) if t.account_id else ("Opportunity", t.opportunity)
        url = target_url("account" if t.account_id else "opportunity", target.pk)
        line = f"• {kind}: <{url}|{mrkdwn_escape(target.name)}>"
        if t.status == SlackChannelTracking.Status.BROKEN:
            line += SHOW_BROKEN.format(reason=mrkdwn_escape(t.status_reason or "the app cannot post here"))
        lines.append(line)
    if len(trackings) > SHOW_MAX:
        lines.append(SHOW_MORE.format(n=len(trackings) - SHOW_MAX))
    return ephemeral("\n".join(lines))


def disconnect_answer(ctx: Context) -> dict:
    if not _is_all(ctx):
        return not_found_answer(ctx.command)
    n = channel_trackings_disconnect(workspace=ctx.workspace, channel_id=ctx.command.channel_id,
                                     slack_user_id=ctx.command.user_id)
    return ephemeral(DISCONNECTED.format(n=n) if n else DISCONNECTED_NONE)


def connect_answer(ctx: Context) -> dict:
    if not ctx.args or ctx.args[0].lower() not in KINDS:
        return not_found_answer(ctx.command)
    kind = KINDS[ctx.args[0].lower()]
    link = " ".join(ctx.args[1:])
    target_or_why = link_target(link=link, kind=kind, org=ctx.workspace.org)
    if isinstance(target_or_why, str):
        return ephemeral(BAD_URL.format(why=target_or_why, base=base_url(), kind=kind, short=SHORT[kind]))
    target = target_or_why
    existing = (SlackChannelTracking.objects
                .filter(workspace=ctx.workspace, channel_id=ctx.command.channel_id, **{kind: target}).first())
    if existing is not None and existing.status == SlackChannelTracking.Status.OK:
        return ephemeral(ALREADY.format(kind=kind, name=mrkdwn_escape(target.name)))
    refusal = channel_check(ctx)
    if refusal:
        return ephemeral(refusal)
    created = channel_tracking_connect(workspace=ctx.workspace, channel_id=ctx.command.channel_id,
                                       channel_name=ctx.command.channel_name, target=target,
                                       slack_user_id=ctx.command.user_id)
    if not created and existing is None:  # someone else connected it a moment ago
        return ephemeral(ALREADY.format(kind=kind, name=mrkdwn_escape(target.name)))
    return ephemeral(CONNECTED.format(kind=kind, name=mrkdwn_escape(target.name)))


HANDLERS = {"help": help_answer, "connect": connect_answer, "disconnect": disconnect_answer, "show": show_answer}


# --- Links -----------------------------------------------------------------------------------


def target_url(kind: str, pk: int) -> str:
    """The page a channel's ``show all`` links to: the same URL people paste."""
    return f"{base_url()}/{'accounts' if kind == 'account' else 'opportunities'}/{pk}/"


def unwrap_link(text: str) -> str:
    """Slack sends a pasted link as ``<https://…|label>`` or ``<https://…>``."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].split("|", 1)[0]
    return text.strip()


def _port(parts) -> int | None:
    try:
        return parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return -1


def link_target(*, link: str, kind: str, org) -> CrmAccount | CrmOpportunity | str:
    """The account or opportunity a pasted Chorus link points at, or why not (a
    sentence for :data:`BAD_URL`). Only this deployment's host (``CHORUS_BASE_URL``)
    and only the org's own rows: another org's id reads exactly like a missing one."""
    url = unwrap_link(link)
    if not url:
        return WHY_MISSING.format(kind=kind)
    parts, base = urlsplit(url), urlsplit(base_url())
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.hostname != base.hostname
            or _port(parts) != _port(base) or parts.username or parts.password):
        return WHY_NOT_CHORUS
    path = parts.path
    prefix = base.path.rstrip("/")
    if prefix:
        if not path.startswith(prefix + "/"):
            return WHY_NOT_PAGE
        path = path[len(prefix):]
    try:
        match = resolve(path if path.endswith("/") else path + "/")
    except Resolver404:
        return WHY_NOT_PAGE
    if match.url_name not in MODELS or "pk" not in match.kwargs:
        return WHY_NOT_PAGE
    if match.url_name != kind:
        return WHY_OTHER_KIND.format(other=match.url_name, link=f"Link_to_{SHORT[match.url_name]}")
    target = MODELS[kind].objects.for_org(org).filter(pk=match.kwargs["pk"]).first()
    return target if target is not None else WHY_UNKNOWN.format(kind=kind)


# --- Slack: can the app post here? -----------------------------------------------------------


def channel_check(ctx: Context) -> str:
    """Empty when summaries can be posted to the channel, else the sentence to answer.
    The bot sees a private channel only once the Chorus.ai app is added to it
    (``channel_not_found`` before); it posts only where it is a member (the app asks
    for ``chat:write``, not ``chat:write.public``), so a public channel needs the app
    too. Raises :class:`Deferred` (fast path) when Slack is slow."""
    from slack_sdk.errors import SlackApiError

    from slack.client import slack_client

    client = slack_client(ctx.workspace)
    client.timeout = ctx.wait
    client.retry_handlers = []  # one try inside the 3 seconds; the task is the retry
    try:
        channel = client.conversations_info(channel=ctx.command.channel_id)["channel"]
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in HIDDEN_CHANNEL_ERRORS:
            return ADD_APP
        if error in TOKEN_ERRORS:
            log.warning("Slack refused the bot token of team %s: %s", ctx.workspace.team_id, error)
            return NO_INTEGRATION
        if error == "ratelimited" or exc.response.status_code >= 500:
            return _slow(ctx, error)
        return SLACK_ERROR.format(error=mrkdwn_escape(error))
    except (TimeoutError, URLError, OSError) as exc:
        return _slow(ctx, type(exc).__name__)
    if channel.get("is_archived"):
        return ARCHIVED
    if not channel.get("is_member"):
        return ADD_APP
    return ""


def _slow(ctx: Context, why: str) -> str:
    log.info("Slack slow for /chorus in team %s (%s)%s", ctx.workspace.team_id, why,
             "" if ctx.deferred else ": answering through response_url")
    if not ctx.deferred:
        raise Deferred(why)
    return SLACK_SLOW


# --- Writes ----------------------------------------------------------------------------------


def _actor(workspace: SlackWorkspace, slack_user_id: str):
    link = SlackUserLink.objects.filter(workspace=workspace, slack_user_id=slack_user_id).select_related("user").first()
    return link.user if link else None


def channel_tracking_connect(*, workspace: SlackWorkspace, channel_id: str, channel_name: str,
                             target: CrmAccount | CrmOpportunity, slack_user_id: str) -> bool:
    """Track ``target`` in the channel (a broken tracking is mended). True when it
    was created or mended, False when it already tracked it. Audited (ids and names
    only)."""
    kind = "account" if isinstance(target, CrmAccount) else "opportunity"
    with transaction.atomic():
        tracking = (SlackChannelTracking.objects.select_for_update()
                    .filter(workspace=workspace, channel_id=channel_id, **{kind: target}).first())
        if tracking is not None and tracking.status == SlackChannelTracking.Status.OK:
            return False
        if tracking is not None:
            tracking.status, tracking.status_reason = SlackChannelTracking.Status.OK, ""
            tracking.channel_name = channel_name or tracking.channel_name
            tracking.save(update_fields=["status", "status_reason", "channel_name"])
        else:
            try:
                with transaction.atomic():
                    SlackChannelTracking.objects.create(
                        org=workspace.org, workspace=workspace, channel_id=channel_id, channel_name=channel_name,
                        added_by_slack_user_id=slack_user_id, **{kind: target})
            except IntegrityError:  # the same command twice at once
                return False
        audit_record(org=workspace.org, actor=_actor(workspace, slack_user_id), action="slack.channel.connect",
                     target=f"#{channel_name or channel_id} → {target.name}"[:200],
                     changes={"channel_id": channel_id, kind: target.pk, "slack_user_id": slack_user_id})
    return True


def channel_trackings_disconnect(*, workspace: SlackWorkspace, channel_id: str, slack_user_id: str) -> int:
    """Stop tracking everything in the channel; how many trackings were removed."""
    with transaction.atomic():
        trackings = SlackChannelTracking.objects.filter(workspace=workspace, channel_id=channel_id)
        names = [str(t.account_id and f"account {t.account_id}" or f"opportunity {t.opportunity_id}")
                 for t in trackings]
        n, _ = trackings.delete()
        if n:
            audit_record(org=workspace.org, actor=_actor(workspace, slack_user_id), action="slack.channel.disconnect",
                         target=f"#{channel_id}", changes={"removed": names, "slack_user_id": slack_user_id})
    return n


# --- The slow path ---------------------------------------------------------------------------


def command_defer(*, command: SlashCommand) -> None:
    """Queue the command for :func:`command_finish` once the request's transaction ends."""
    from django_q.tasks import async_task

    payload = command.as_dict()
    transaction.on_commit(lambda: async_task("slack.tasks.slack_command_task", payload, group="slack-commands"))


def command_finish(*, payload: dict) -> dict:
    """The task's half: run the command with a longer wait and post the answer to
    its ``response_url`` (JSON, ephemeral). Returns the answer."""
    command = SlashCommand(**payload)
    answer = command_run(command=command, wait=SLOW_WAIT, deferred=True)
    response_url_post(url=command.response_url, answer=answer)
    return answer


def response_url_post(*, url: str, answer: dict) -> None:
    """POST an answer to a command's ``response_url``. It comes from a request whose
    signature was checked, so it is Slack's; still only https (and never logged: it
    is a credential for 30 minutes)."""
    from integrations.http import http_session

    if urlsplit(url).scheme != "https":
        log.warning("Slack command response_url is not https; answer dropped")
        return
    response = http_session(timeout=RESPONSE_URL_TIMEOUT).post(url, json=answer)
    if response.status_code >= 400:
        log.warning("Slack refused the /chorus answer: HTTP %s", response.status_code)
