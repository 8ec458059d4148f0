"""Personal calendars: connect Google / Microsoft 365 (OAuth) or an ICS feed,
sync now, disconnect. Each user manages only their own calendars. Also the two
console sections conferencing registers: Personal Settings > Calendar and
Organization Settings > Meeting Recording Rules (with its in-place Display As)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from chorus import services as chorus_services
from chorus.forms import DisplayAsForm
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin, form_errors_to
from integrations.conferencing import calendars
from integrations.conferencing.calendars import CalendarError
from integrations.conferencing.models import Calendar, CalendarEvent

SESSION_KEY = "calendar_oauth"
OAUTH_PROVIDERS = (Calendar.Provider.GOOGLE, Calendar.Provider.MICROSOFT)


def calendar_section(request, org) -> dict:
    """Context of Personal Settings > Calendar (``conferencing/section_calendar.html``)."""
    return calendars.calendar_personal_context(request)


def recording_rules_section(request, org) -> dict:
    """Context of Organization Settings > Meeting Recording Rules
    (``conferencing/section_recording_rules.html``)."""
    return {"org": org, "display_form": DisplayAsForm.for_org(org),
            "rules": calendars.recording_rules_context(org=org)}


def personal_url() -> str:
    return reverse("settings-personal") + "#calendar"


def redirect_uri(provider: str) -> str:
    return settings.CHORUS_BASE_URL + reverse("calendar-oauth-callback", args=[provider])


class CalendarConnectView(OrgMemberMixin, View):
    def post(self, request, provider):
        if provider not in OAUTH_PROVIDERS:
            raise Http404
        url, pending = calendars.calendar_oauth_begin(
            user=request.user, provider=provider, redirect_uri=redirect_uri(provider)
        )
        request.session[SESSION_KEY] = pending
        return redirect(url)


class CalendarOAuthCallbackView(OrgMemberMixin, View):
    def get(self, request, provider):
        if provider not in OAUTH_PROVIDERS:
            raise Http404
        try:
            calendar = calendars.calendar_oauth_complete(
                user=request.user,
                provider=provider,
                pending=request.session.pop(SESSION_KEY, None),
                params=request.GET.dict(),
                redirect_uri=redirect_uri(provider),
            )
        except CalendarError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"{calendar.get_provider_display()} is connected. Chorus is reading your meetings now."
            )
        return redirect(personal_url())


class CalendarIcsView(OrgMemberMixin, View):
    def post(self, request):
        try:
            calendars.calendar_connect_ics(user=request.user, url=request.POST.get("url", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Your calendar feed is connected. Chorus is reading your meetings now.")
        return redirect(personal_url())


class CalendarSyncView(OrgMemberMixin, View):
    def post(self, request, pk):
        calendar = get_for_org_or_404(Calendar.objects.filter(user=request.user), self.org, pk=pk)
        Calendar.objects.filter(pk=calendar.pk).exclude(status=Calendar.Status.SYNCING).update(
            status=Calendar.Status.QUEUED
        )
        calendars.calendar_sync_queue(calendar=calendar)
        messages.success(request, "Sync queued.")
        return redirect(personal_url())


class CalendarDisconnectView(OrgMemberMixin, View):
    def post(self, request, pk):
        calendar = get_for_org_or_404(Calendar.objects.filter(user=request.user), self.org, pk=pk)
        label = calendar.get_provider_display()
        calendars.calendar_disconnect(calendar=calendar)
        messages.success(request, f"{label} is disconnected; the Notetaker will not join its meetings.")
        return redirect(personal_url())


class MeetingRecordingView(OrgMemberMixin, View):
    """Personal Settings > Your upcoming meetings: Don't record / Record again."""

    def post(self, request, pk):
        event = get_for_org_or_404(
            CalendarEvent.objects.filter(calendar__user=request.user).select_related("calendar"), self.org, pk=pk
        )
        record = request.POST.get("record") == "1"
        calendars.calendar_event_recording_set(user=request.user, event=event, record=record)
        title = event.title or "(no title)"
        messages.success(
            request,
            f"Chorus will record “{title}” if it is a business meeting." if record
            else f"Chorus won't record “{title}”, and won't push it to the CRM.",
        )
        return redirect(reverse("settings-personal") + "#upcoming-meetings")


class DisplayAsView(OrgAdminMixin, View):
    """Meeting Recording Rules > Display As: edited in place with htmx (and as a
    plain form post without JavaScript)."""

    partial = "conferencing/_display_as.html"

    def get(self, request):
        editing = request.GET.get("edit") == "1"
        return render(request, self.partial, {"org": self.org, "display_form": DisplayAsForm.for_org(self.org),
                                              "editing_display_as": editing})

    def post(self, request):
        form = DisplayAsForm(request.POST)
        if form.is_valid():
            try:
                chorus_services.organization_update_settings(
                    org=self.org, actor=request.user,
                    notetaker_display_name=form.cleaned_data["notetaker_display_name"],
                )
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                if not request.htmx:
                    messages.success(request, "The Notetaker name was saved.")
                    return redirect("settings-organization")
                return render(request, self.partial, {"org": self.org, "saved": True})
        ctx = {"org": self.org, "display_form": form, "editing_display_as": True}
        return render(request, self.partial, ctx, status=400 if not request.htmx else 200)
