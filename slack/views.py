"""Slack views: Add to Slack and its OAuth callback, Disconnect, Connect Slack
(Personal Settings) and its callback, the app manifest, and the Events API endpoint.
Thin: they check who is asking, call ``services`` and turn a refusal into a sentence."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View

from chorus.views import OrgAdminMixin, OrgMemberMixin
from slack import services
from slack.manifest import manifest_text
from slack.services import SlackError
from slack.signing import SlackSignedView

log = logging.getLogger(__name__)

INSTALL_SESSION_KEY = "slack_install"
IDENTITY_SESSION_KEY = "slack_identity"
SECTION = "slack"
PERSONAL_SECTION = "slack-personal"
UNEXPECTED = ("Something went wrong while talking to Slack; nothing was changed. Try again in a few minutes, "
              "and contact Chorus support if it keeps happening.")


def section_url() -> str:
    return reverse("settings-integrations") + "#" + SECTION


def personal_url() -> str:
    return reverse("settings-personal") + "#" + PERSONAL_SECTION


def install_redirect_uri() -> str:
    return settings.CHORUS_BASE_URL + reverse("slack-oauth-callback")


def identity_redirect_uri() -> str:
    return settings.CHORUS_BASE_URL + reverse("slack-identity-callback")


class InstallView(OrgAdminMixin, View):
    """Add to Slack."""

    def post(self, request):
        try:
            url, pending = services.slack_install_begin(org=self.org, user=request.user,
                                                        redirect_uri=install_redirect_uri())
        except SlackError as exc:
            messages.error(request, str(exc))
            return redirect(section_url())
        request.session[INSTALL_SESSION_KEY] = pending
        return redirect(url)


class InstallCallbackView(OrgAdminMixin, View):
    """``/integrations/slack/oauth/``: the state must be the one this browser was sent with."""

    def get(self, request):
        pending = request.session.pop(INSTALL_SESSION_KEY, None)
        try:
            workspace, replaced = services.slack_install_complete(
                org=self.org, user=request.user, pending=pending, params=request.GET.dict(),
                redirect_uri=install_redirect_uri())
        except SlackError as exc:
            messages.error(request, str(exc))
        except Exception:
            log.exception("Slack install failed")
            messages.error(request, UNEXPECTED)
        else:
            note = " The previous workspace's connected people and channels were removed." if replaced else ""
            messages.success(request, f"Chorus is added to the Slack workspace {workspace.team_name}.{note}")
        return redirect(section_url())


class DisconnectView(OrgAdminMixin, View):
    def post(self, request):
        workspace = services.slack_workspace_get(org=self.org)
        if workspace is not None and workspace.is_active:
            services.slack_workspace_disconnect(workspace=workspace, actor=request.user,
                                                reason=f"Disconnected by {request.user.email}.")
            messages.success(request, "Slack is disconnected. Add to Slack again to reconnect.")
        return redirect(section_url())


class ManifestView(OrgAdminMixin, View):
    """The Slack app manifest for this Chorus site (what support pastes into Slack)."""

    def get(self, request):
        return HttpResponse(manifest_text(), content_type="text/yaml; charset=utf-8")


class IdentityConnectView(OrgMemberMixin, View):
    """Personal Settings > Chorus for Slack Integration > Connect Slack."""

    def post(self, request):
        try:
            url, pending = services.slack_identity_begin(org=self.org, user=request.user,
                                                         redirect_uri=identity_redirect_uri())
        except SlackError as exc:
            messages.error(request, str(exc))
            return redirect(personal_url())
        request.session[IDENTITY_SESSION_KEY] = pending
        return redirect(url)


class IdentityCallbackView(OrgMemberMixin, View):
    """``/integrations/slack/oauth/user/``."""

    def get(self, request):
        pending = request.session.pop(IDENTITY_SESSION_KEY, None)
        try:
            link = services.slack_identity_complete(org=self.org, user=request.user, pending=pending,
                                                    params=request.GET.dict(), redirect_uri=identity_redirect_uri())
        except SlackError as exc:
            messages.error(request, str(exc))
        except Exception:
            log.exception("Slack identity link failed")
            messages.error(request, UNEXPECTED)
        else:
            messages.success(request, f"Your Slack account {link.slack_name or link.slack_user_id} is connected.")
        return redirect(personal_url())


class IdentityDisconnectView(OrgMemberMixin, View):
    def post(self, request):
        if services.slack_identity_disconnect(org=self.org, user=request.user):
            messages.success(request, "Your Slack account is disconnected from Chorus.")
        return redirect(personal_url())


# --- Events API ---------------------------------------------------------------------------------


def _refuse(reason: str, status: int = 401) -> JsonResponse:
    return JsonResponse({"ok": False, "error": reason}, status=status)


class EventsView(SlackSignedView):
    """``POST /integrations/slack/events``: signature and timestamp first
    (docs.slack.dev/authentication/verifying-requests-from-slack), then the payload,
    then the tenant from ``team_id``. Answers 200 fast; replays do nothing twice."""

    def refusal(self, reason: str) -> dict:
        return {"ok": False, "error": reason}

    def handle(self, request):
        body = request.body
        try:
            payload = json.loads(body)
        except ValueError:
            return _refuse("The body is not JSON.", status=400)
        if not isinstance(payload, dict):
            return _refuse("The body is not a JSON object.", status=400)
        kind = payload.get("type")
        if kind == "url_verification":
            return JsonResponse({"challenge": str(payload.get("challenge", ""))})
        if kind != "event_callback":
            return JsonResponse({"ok": True, "ignored": True})
        outcome = services.slack_event_handle(payload=payload)
        log.info("Slack event %s (%s): %s", payload.get("event_id"), (payload.get("event") or {}).get("type"),
                 outcome)
        return JsonResponse({"ok": True, "result": outcome})
