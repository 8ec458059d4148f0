"""Native Zoom Integration views and the Zoom webhook. Thin: they check who is
asking, call ``services`` and turn a refusal into a sentence on the page."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from chorus.views import OrgAdminMixin
from integrations.conferencing import services, zoom
from integrations.conferencing.zoom import SignatureError, ZoomError

log = logging.getLogger(__name__)

SESSION_KEY = "zoom_oauth"
SECTION = "native-zoom-integration"
UNEXPECTED = (
    "Something went wrong while talking to Zoom; nothing was changed. Try again in a few minutes, "
    "and contact Chorus support if it keeps happening."
)
ACTIVATED = "The Chorus Zoom integration is activated for {who}."


def section_url() -> str:
    return reverse("settings-integrations") + "#" + SECTION


def redirect_uri() -> str:
    """The redirect URI registered with the Zoom app: ``CHORUS_BASE_URL/integrations/zoom/oauth/``."""
    return settings.CHORUS_BASE_URL + reverse("zoom-oauth-callback")


# --- Install ---------------------------------------------------------------------------------------


class ActivateView(OrgAdminMixin, View):
    """Activate: the Zoom Marketplace install, with a ``state`` bound to this
    browser's session, this org and this admin."""

    def post(self, request):
        url, pending = services.zoom_oauth_begin(org=self.org, user=request.user, redirect_uri=redirect_uri())
        request.session[SESSION_KEY] = pending
        return redirect(url)


class ReactivateView(View):
    """The reactivation link an admin shares with the Zoom admin, who may have no
    Chorus account: the signed link names the org; the install then runs as usual."""

    def get(self, request, token):
        try:
            org = services.reactivation_org(token=token)
        except ZoomError as exc:
            return render(request, "conferencing/reactivate.html", {"error": str(exc)}, status=400)
        return render(request, "conferencing/reactivate.html", {"org": org})

    def post(self, request, token):
        try:
            org = services.reactivation_org(token=token)
        except ZoomError as exc:
            return render(request, "conferencing/reactivate.html", {"error": str(exc)}, status=400)
        url, pending = services.zoom_oauth_begin(org=org, user=None, redirect_uri=redirect_uri())
        request.session[SESSION_KEY] = pending
        return redirect(url)


class OAuthCallbackView(View):
    """``/integrations/zoom/oauth/``: checks the ``state`` this browser was sent with."""

    def get(self, request):
        pending = request.session.pop(SESSION_KEY, None)
        by_link = bool(pending) and pending.get("user") is None
        user = request.user if request.user.is_authenticated else None
        if not by_link:
            if user is None:
                return redirect(f"{reverse('login')}?next={section_url()}")
            if not user.org_id or not user.is_org_admin:
                raise PermissionDenied("Only Chorus admins can activate the Zoom integration.")
            if pending and pending.get("org") != user.org_id:
                raise PermissionDenied("This installation belongs to another organization.")
        try:
            connection = services.zoom_oauth_complete(
                pending=pending, params=request.GET.dict(), redirect_uri=redirect_uri(), user=user
            )
        except ZoomError as exc:
            error = str(exc)
        except PermissionDenied:
            raise
        except Exception:
            log.exception("Zoom activation failed")
            error = UNEXPECTED
        else:
            who = connection.config.get("installed_by_email") or "your Zoom account"
            if by_link:
                return render(request, "conferencing/reactivate.html", {"done": ACTIVATED.format(who=who)})
            messages.success(request, ACTIVATED.format(who=who))
            return redirect(section_url())
        if by_link:
            return render(request, "conferencing/reactivate.html", {"error": error}, status=400)
        messages.error(request, error)
        return redirect(section_url())


# --- Settings ---------------------------------------------------------------------------------------


class ZoomSettingsView(OrgAdminMixin, View):
    """Enable Streaming, Enable Zoom Post Call download and the recording method:
    one form, saved in place by htmx on every change (a Save button without JS)."""

    def render_section(self, status=200, **extra):
        ctx = services.zoom_section(self.request, self.org)
        ctx.update(extra)
        return render(self.request, "conferencing/_zoom_settings.html", {"ctx": ctx}, status=status)

    def get(self, request):
        return self.render_section()

    def post(self, request):
        try:
            services.zoom_settings_update(
                org=self.org,
                actor=request.user,
                streaming=request.POST.get("streaming") == "on",
                post_call_download=request.POST.get("post_call_download") == "on",
                method=request.POST.get("recording_method", ""),
            )
        except ValidationError as exc:
            errors = [m for msgs in exc.message_dict.values() for m in msgs]
            if not request.htmx:
                for e in errors:
                    messages.error(request, e)
                return redirect(section_url())
            return self.render_section(errors=errors)  # 200: htmx swaps only 2xx answers
        if not request.htmx:
            messages.success(request, "Zoom settings saved.")
            return redirect(section_url())
        return self.render_section(saved=True)


class StreamingCheckView(OrgAdminMixin, View):
    """CHECK next to "Verify Streaming is activated"."""

    def post(self, request):
        link = request.POST.get("meeting_link", "").strip()
        try:
            ok, message = services.zoom_streaming_check(org=self.org, link=link)
        except ValidationError as exc:
            ok, message = False, " ".join(exc.messages)
        except ZoomError as exc:
            ok, message = False, str(exc)
        except Exception:
            log.exception("Zoom streaming check failed")
            ok, message = False, UNEXPECTED
        if not request.htmx:
            (messages.success if ok else messages.error)(request, message)
            return redirect(section_url())
        return render(request, "conferencing/_streaming_check.html", {"ok": ok, "message": message, "link": link})


class DisconnectView(OrgAdminMixin, View):
    def post(self, request):
        connection = services.zoom_connection_get(org=self.org)
        if connection is not None and connection.status != "disconnected":
            services.zoom_disconnect(
                connection=connection, actor=request.user, reason=f"Disconnected by {request.user.email}."
            )
            messages.success(request, "The Zoom integration is disconnected. Recordings already in Chorus stay.")
        return redirect(section_url())


# --- Webhook -------------------------------------------------------------------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class ZoomWebhookView(View):
    """``/integrations/zoom/webhook``. Signature and timestamp first (401), then
    the JSON (400), then the tenant by Zoom account id (404). The work is queued:
    Zoom wants an answer within 3 seconds."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        return HttpResponseNotAllowed(["POST"])

    def post(self, request):
        body = request.body
        try:
            zoom.verify_signature(
                timestamp=request.headers.get("x-zm-request-timestamp"),
                signature=request.headers.get("x-zm-signature"),
                body=body,
            )
        except SignatureError as exc:
            log.warning("Zoom webhook refused: %s", exc)
            return JsonResponse({"error": "invalid signature"}, status=401)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
                raise ValueError
        except ValueError:
            return JsonResponse({"error": "malformed JSON event"}, status=400)
        event = payload["event"]
        if event == "endpoint.url_validation":
            plain = (payload.get("payload") or {}).get("plainToken")
            if not isinstance(plain, str) or not plain:
                return JsonResponse({"error": "missing plainToken"}, status=400)
            return JsonResponse(zoom.url_validation_response(plain))
        try:
            accepted = services.zoom_event_accept(payload=payload)
        except services.UnknownZoomAccount:
            if event == "app_deauthorized":  # nothing connected any more: nothing to undo
                return JsonResponse({"status": "ignored"})
            return JsonResponse({"error": "unknown Zoom account"}, status=404)
        return JsonResponse({"status": "queued" if accepted else "duplicate"})
