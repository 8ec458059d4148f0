"""Slack: installing the Chorus app in the org's workspace, linking people's Slack
identities, and what Slack tells us through the Events API.

The app is installed with OAuth v2 (``oauth.v2.access``, bot token kept encrypted in
``SlackWorkspace.secrets``); a person's Slack identity comes from Sign in with Slack
(OpenID Connect: ``openid.connect.token`` + ``openid.connect.userInfo``), whose token
is used once and never stored. Both flows carry a ``state`` that is signed, names the
org and the user, and matches a nonce kept in this browser's session (popped on the
callback, so it works once).
"""

from __future__ import annotations

import logging
import secrets as pysecrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.errors import SlackApiError, SlackClientError

from chorus.models import Organization, User
from chorus.services import audit_record
from integrations.registry import IntegrationError
from slack.client import slack_client, web_client
from slack.models import SlackEvent, SlackUserLink, SlackWorkspace

log = logging.getLogger(__name__)

# The *:history scopes let a retry after a lost answer find the message it may have
# posted (slack.delivery) instead of posting it twice.
BOT_SCOPES = ("chat:write", "commands", "channels:read", "groups:read", "im:write", "users:read", "users:read.email",
              "channels:history", "groups:history", "im:history")
IDENTITY_SCOPES = ("openid", "profile")
STATE_SALT = "slack.oauth.state"
STATE_MAX_AGE = 15 * 60  # seconds an authorize round trip may take

ENTERPRISE_ONLY = "The Chorus app for Slack is part of the Chorus Enterprise package."
NOT_VERIFIED = ("The Slack authorization could not be verified (it was started in another browser, used twice "
                "or took too long). Click {button} to try again.")
CANCELLED = "The Slack authorization was cancelled in Slack; nothing was changed."
NO_CODE = "Slack did not send an authorization code. Click {button} to try again."
TEAM_ELSEWHERE = ("The Slack workspace {team} is already connected to another Chorus organization. A Slack "
                  "workspace can be connected to one Chorus organization only: remove the Chorus app from it "
                  "there first, or add Chorus to another workspace.")
NOT_INSTALLED = "Your Chorus admin must add the Chorus app to Slack (Settings > Integrations > Slack) first."
WRONG_TEAM = ("You signed in to the Slack workspace {team}, but your organization's Chorus app is in {expected}. "
              "Sign in to {expected} in Slack and click Connect Slack again.")
SLACK_USER_TAKEN = "This Slack account is already connected to another Chorus user ({email})."
UNINSTALLED = "The Chorus app was removed from the Slack workspace on {when}. Add it to Slack again to reconnect."
BOT_REVOKED = "Slack revoked the Chorus app's token on {when}. Add it to Slack again to reconnect."
SLACK_ERRORS = {
    "invalid_code": "Slack refused the authorization code (it was already used or has expired). Try again.",
    "bad_redirect_uri": "Slack refused the redirect address. Check that the Chorus app's redirect URLs match "
                        "this Chorus site (see the app manifest).",
    "invalid_client_id": "Slack does not know this Chorus app (SLACK_CLIENT_ID). Contact Chorus support.",
    "bad_client_secret": "Slack refused the Chorus app's secret (SLACK_CLIENT_SECRET). Contact Chorus support.",
    "ratelimited": "Slack is busy (rate limited). Wait a minute and try again.",
}


class SlackError(IntegrationError):
    """A refusal from Slack or of a Slack step, as a sentence for the page."""


def _slack_reason(exc: SlackApiError) -> str:
    code = (exc.response.get("error") if exc.response is not None else "") or "unknown_error"
    return SLACK_ERRORS.get(code, f"Slack refused the request ({code}). Try again.")


# --- the org's workspace -----------------------------------------------------------------


def slack_workspace_get(*, org: Organization) -> SlackWorkspace | None:
    return SlackWorkspace.objects.filter(org=org).select_related("installed_by").first()


def slack_workspace_for_team(*, team_id: str) -> SlackWorkspace | None:
    """The org is found from Slack's ``team_id`` (inbound requests carry no other tenant)."""
    return SlackWorkspace.objects.filter(team_id=team_id).select_related("org").first() if team_id else None


def slack_section(request, org: Organization) -> dict[str, Any]:
    """Context of Settings > Integrations > Slack. The token is never in it."""
    workspace = slack_workspace_get(org=org)
    return {"org": org, "enterprise": org.is_enterprise, "workspace": workspace,
            "active": bool(workspace and workspace.is_active),
            "linked": SlackUserLink.objects.filter(workspace=workspace).count() if workspace else 0,
            "configured": bool(settings.SLACK_CLIENT_ID), "enterprise_only": ENTERPRISE_ONLY}


def slack_personal_section(request, org: Organization) -> dict[str, Any] | None:
    """Context of Personal Settings > Chorus for Slack Integration (hidden outside Enterprise)."""
    if not org.is_enterprise:
        return None
    workspace = slack_workspace_get(org=org)
    link = SlackUserLink.objects.filter(org=org, user=request.user).select_related("workspace").first()
    return {"workspace": workspace, "active": bool(workspace and workspace.is_active), "link": link,
            "not_installed": NOT_INSTALLED}


# --- state ---------------------------------------------------------------------------------


def _state_begin(*, org: Organization, user: User, flow: str) -> tuple[str, dict]:
    nonce = pysecrets.token_urlsafe(24)
    state = signing.dumps({"o": org.pk, "u": user.pk, "f": flow, "n": nonce}, salt=STATE_SALT, compress=True)
    return state, {"nonce": nonce, "org": org.pk, "user": user.pk, "flow": flow}


def _state_check(*, pending: dict | None, params: dict, org: Organization, user: User, flow: str,
                 button: str) -> None:
    refused = SlackError(NOT_VERIFIED.format(button=button))
    if not pending or not params.get("state"):
        raise refused
    try:
        data = signing.loads(params["state"], salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature as exc:
        raise refused from exc
    if not (isinstance(data, dict) and data.get("f") == flow == pending.get("flow")
            and pysecrets.compare_digest(str(data.get("n")), str(pending.get("nonce")))):
        raise refused
    if data.get("o") != org.pk or pending.get("org") != org.pk:
        raise PermissionDenied("This Slack authorization belongs to another organization.")
    if data.get("u") != user.pk or pending.get("user") != user.pk:
        raise PermissionDenied("This Slack authorization was started by another Chorus user.")
    if params.get("error"):
        raise SlackError(CANCELLED)
    if not params.get("code"):
        raise SlackError(NO_CODE.format(button=button))


# --- install ---------------------------------------------------------------------------------


def slack_install_begin(*, org: Organization, user: User, redirect_uri: str) -> tuple[str, dict]:
    """Add to Slack: the authorize URL and what the session keeps to check the callback."""
    if not org.is_enterprise:
        raise SlackError(ENTERPRISE_ONLY)
    state, pending = _state_begin(org=org, user=user, flow="install")
    query = urlencode({"client_id": settings.SLACK_CLIENT_ID, "scope": ",".join(BOT_SCOPES),
                       "redirect_uri": redirect_uri, "state": state})
    return f"{settings.SLACK_OAUTH_URL}/oauth/v2/authorize?{query}", pending


def slack_install_complete(*, org: Organization, user: User, pending: dict | None, params: dict[str, str],
                           redirect_uri: str) -> tuple[SlackWorkspace, bool]:
    """The callback: exchange the code, then write the workspace in one go. Returns
    the workspace and whether an earlier workspace of this org was replaced."""
    _state_check(pending=pending, params=params, org=org, user=user, flow="install", button="Add to Slack")
    if not org.is_enterprise:
        raise SlackError(ENTERPRISE_ONLY)
    try:
        answer = web_client().oauth_v2_access(client_id=settings.SLACK_CLIENT_ID,
                                              client_secret=settings.SLACK_CLIENT_SECRET,
                                              code=params["code"], redirect_uri=redirect_uri)
    except SlackApiError as exc:
        raise SlackError(_slack_reason(exc)) from None
    team = answer.get("team") or {}
    team_id, token = str(team.get("id") or ""), str(answer.get("access_token") or "")
    if not team_id or not token or answer.get("token_type") != "bot":
        raise SlackError("Slack did not return a bot token for a workspace. Click Add to Slack to try again.")
    scopes = [s for s in str(answer.get("scope") or "").split(",") if s]
    with transaction.atomic():
        other = SlackWorkspace.objects.select_for_update().filter(team_id=team_id).exclude(org=org).first()
        if other is not None:
            raise SlackError(TEAM_ELSEWHERE.format(team=team.get("name") or team_id))
        workspace = SlackWorkspace.objects.select_for_update().filter(org=org).first()
        replaced = bool(workspace and workspace.team_id != team_id)
        if replaced:
            # Another workspace: the old one's people and channels mean nothing there.
            audit_record(org=org, actor=user, action="slack.replaced", target=workspace.team_name or workspace.team_id)
            workspace.delete()
            workspace = None
        workspace = workspace or SlackWorkspace(org=org, team_id=team_id)
        workspace.team_name = str(team.get("name") or "")
        workspace.app_id = str(answer.get("app_id") or "")
        workspace.bot_user_id = str(answer.get("bot_user_id") or "")
        workspace.scopes = scopes
        workspace.secrets = {"bot_token": token}
        workspace.status, workspace.status_reason = SlackWorkspace.Status.ACTIVE, ""
        workspace.installed_by, workspace.installed_at = user, timezone.now()
        workspace.save()
        audit_record(org=org, actor=user, action="slack.installed", target=workspace.team_name or team_id,
                     changes={"team_id": [None, team_id], "scopes": [None, scopes]})
    return workspace, replaced


def slack_workspace_disconnect(*, workspace: SlackWorkspace, actor: User | None, reason: str,
                               revoke: bool = True) -> None:
    """Revoke the bot token at Slack (``auth.revoke``; a token Slack already dropped
    is fine) and forget it. People's links and channel trackings stay so a reinstall
    in the same workspace picks up where it was."""
    token = (workspace.secrets or {}).get("bot_token")
    if revoke and token:
        try:
            slack_client(workspace).auth_revoke()
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else ""
            if code not in ("invalid_auth", "token_revoked", "account_inactive", "not_authed"):
                log.warning("Slack auth.revoke for team %s failed: %s", workspace.team_id, code)
        except SlackClientError:
            log.warning("Slack auth.revoke for team %s could not reach Slack", workspace.team_id)
        except OSError:
            log.warning("Slack auth.revoke for team %s could not reach Slack", workspace.team_id)
    with transaction.atomic():
        workspace.secrets = {}
        workspace.status, workspace.status_reason = SlackWorkspace.Status.DISCONNECTED, reason
        workspace.save(update_fields=["secrets", "status", "status_reason", "updated_at"])
        audit_record(org=workspace.org, actor=actor, action="slack.disconnected",
                     target=workspace.team_name or workspace.team_id, changes={"reason": [None, reason]})


# --- people ----------------------------------------------------------------------------------


def slack_identity_begin(*, org: Organization, user: User, redirect_uri: str) -> tuple[str, dict]:
    """Connect Slack: Sign in with Slack (OpenID Connect), preselecting the org's workspace."""
    workspace = slack_workspace_get(org=org)
    if workspace is None or not workspace.is_active:
        raise SlackError(NOT_INSTALLED)
    state, pending = _state_begin(org=org, user=user, flow="identity")
    query = urlencode({"response_type": "code", "scope": " ".join(IDENTITY_SCOPES),
                       "client_id": settings.SLACK_CLIENT_ID, "redirect_uri": redirect_uri, "state": state,
                       "nonce": pending["nonce"], "team": workspace.team_id})
    return f"{settings.SLACK_OAUTH_URL}/openid/connect/authorize?{query}", pending


def slack_identity_complete(*, org: Organization, user: User, pending: dict | None, params: dict[str, str],
                            redirect_uri: str) -> SlackUserLink:
    _state_check(pending=pending, params=params, org=org, user=user, flow="identity", button="Connect Slack")
    workspace = slack_workspace_get(org=org)
    if workspace is None or not workspace.is_active:
        raise SlackError(NOT_INSTALLED)
    try:
        tokens = web_client().openid_connect_token(client_id=settings.SLACK_CLIENT_ID,
                                                   client_secret=settings.SLACK_CLIENT_SECRET,
                                                   code=params["code"], redirect_uri=redirect_uri)
        info = web_client(token=tokens["access_token"]).openid_connect_userInfo()
    except SlackApiError as exc:
        raise SlackError(_slack_reason(exc)) from None
    team_id = str(info.get("https://slack.com/team_id") or "")
    slack_user_id = str(info.get("https://slack.com/user_id") or info.get("sub") or "")
    if not team_id or not slack_user_id:
        raise SlackError("Slack did not say who you are. Click Connect Slack to try again.")
    if team_id != workspace.team_id:
        raise SlackError(WRONG_TEAM.format(team=info.get("https://slack.com/team_name") or team_id,
                                           expected=workspace.team_name or workspace.team_id))
    name = str(info.get("name") or "")
    with transaction.atomic():
        taken = (SlackUserLink.objects.filter(workspace=workspace, slack_user_id=slack_user_id)
                 .exclude(user=user).select_related("user").first())
        if taken is not None:
            raise SlackError(SLACK_USER_TAKEN.format(email=taken.user.email))
        link, _ = SlackUserLink.objects.update_or_create(
            user=user, defaults={"org": org, "workspace": workspace, "slack_user_id": slack_user_id,
                                 "slack_name": name, "connected_at": timezone.now()})
        audit_record(org=org, actor=user, action="slack.user_connected", target=f"{name} ({slack_user_id})")
    return link


def slack_identity_disconnect(*, org: Organization, user: User) -> bool:
    with transaction.atomic():
        link = SlackUserLink.objects.filter(org=org, user=user).first()
        if link is None:
            return False
        link.delete()
        audit_record(org=org, actor=user, action="slack.user_disconnected",
                     target=f"{link.slack_name} ({link.slack_user_id})")
    return True


# --- Events API ------------------------------------------------------------------------------

EventHandler = Callable[..., None]
EVENT_HANDLERS: dict[str, EventHandler] = {}


def register_event_handler(event_type: str, handler: EventHandler) -> None:
    """``handler(*, workspace, event)`` for one Events API ``event.type``."""
    EVENT_HANDLERS[event_type] = handler


def _when() -> str:
    return timezone.localtime().strftime("%b %-d, %Y %H:%M")


def _app_uninstalled(*, workspace: SlackWorkspace, event: dict) -> None:
    if workspace.is_active:
        slack_workspace_disconnect(workspace=workspace, actor=None, reason=UNINSTALLED.format(when=_when()),
                                   revoke=False)


def _tokens_revoked(*, workspace: SlackWorkspace, event: dict) -> None:
    """``tokens.bot`` lists bot users whose tokens were revoked; people's OIDC tokens
    are never kept, so ``tokens.oauth`` changes nothing."""
    bots = (event.get("tokens") or {}).get("bot") or []
    if workspace.is_active and bots and (not workspace.bot_user_id or workspace.bot_user_id in bots):
        slack_workspace_disconnect(workspace=workspace, actor=None, reason=BOT_REVOKED.format(when=_when()),
                                   revoke=False)


register_event_handler("app_uninstalled", _app_uninstalled)
register_event_handler("tokens_revoked", _tokens_revoked)


def slack_event_handle(*, payload: dict) -> str:
    """One ``event_callback`` (already verified). Returns what happened, for logs and
    tests: ``handled``, ``replay``, ``unknown_team``, ``ignored``."""
    event = payload.get("event") or {}
    event_type = str(event.get("type") or "")
    event_id = str(payload.get("event_id") or "")
    team_id = str(payload.get("team_id") or event.get("team_id") or "")
    workspace = slack_workspace_for_team(team_id=team_id)
    if workspace is None:
        return "unknown_team"
    handler = EVENT_HANDLERS.get(event_type)
    if handler is None:
        return "ignored"
    with transaction.atomic():
        if event_id:
            try:
                with transaction.atomic():
                    SlackEvent.objects.create(event_id=event_id, team_id=team_id, type=event_type)
            except IntegrityError:
                return "replay"
        workspace = SlackWorkspace.objects.select_for_update().get(pk=workspace.pk)
        handler(workspace=workspace, event=event)
    return "handled"
