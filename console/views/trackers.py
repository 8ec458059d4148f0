"""Settings > Trackers: an organisation's trackers (name + the phrases Chorus listens
for), added, edited and deleted by admins; the Chorus defaults can be put back.
Thin views over ``chorus.trackers``; a refused form is shown again with its input."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views import View

from chorus.models import Tracker
from chorus.tenancy import get_for_org_or_404
from chorus.trackers import (
    DEFAULT_TRACKERS,
    NAME_MAX,
    phrases_from_text,
    tracker_create,
    tracker_delete,
    tracker_update,
    trackers_seed_defaults,
)
from chorus.views import OrgAdminMixin, form_errors_to


class TrackerForm(forms.Form):
    # Not required here: the service says what is missing, in the page's words.
    name = forms.CharField(label="Name", required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": NAME_MAX}))
    phrases = forms.CharField(
        label="Words and phrases", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, or separated by commas. Matching ignores case and plurals.",
    )

    @classmethod
    def for_tracker(cls, tracker: Tracker) -> TrackerForm:
        return cls(initial={"name": tracker.name, "phrases": "\n".join(tracker.keywords)})

    def fields_for_service(self) -> dict:
        return {"name": self.cleaned_data["name"], "phrases": phrases_from_text(self.cleaned_data["phrases"])}


class TrackerListView(OrgAdminMixin, View):
    template_name = "console/settings_trackers.html"

    def render(self, form: TrackerForm, status: int = 200):
        trackers = list(Tracker.objects.for_org(self.org).annotate(moment_count=Count("moments")).order_by("name"))
        have = {t.name.casefold() for t in trackers}
        ctx = {
            "trackers": trackers,
            "form": form,
            "missing_defaults": [name for name in DEFAULT_TRACKERS if name.casefold() not in have],
        }
        return render(self.request, self.template_name, ctx, status=status)

    def get(self, request):
        return self.render(TrackerForm())

    def post(self, request):
        form = TrackerForm(request.POST)
        if form.is_valid():
            try:
                tracker = tracker_create(org=self.org, actor=request.user, **form.fields_for_service())
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                messages.success(request, f"Tracker “{tracker.name}” added. Chorus listens for it in engagements "
                                          "processed from now on.")
                return redirect("settings-trackers")
        return self.render(form, status=400)


class TrackerEditView(OrgAdminMixin, View):
    template_name = "console/settings_tracker.html"

    def render(self, tracker: Tracker, form: TrackerForm, status: int = 200):
        ctx = {"tracker": tracker, "form": form, "moment_count": tracker.moments.count()}
        return render(self.request, self.template_name, ctx, status=status)

    def get(self, request, pk):
        tracker = get_for_org_or_404(Tracker, self.org, pk=pk)
        return self.render(tracker, TrackerForm.for_tracker(tracker))

    def post(self, request, pk):
        tracker = get_for_org_or_404(Tracker, self.org, pk=pk)
        form = TrackerForm(request.POST)
        if form.is_valid():
            try:
                tracker = tracker_update(tracker=tracker, actor=request.user, **form.fields_for_service())
            except ValidationError as exc:
                tracker.refresh_from_db()  # the heading shows the saved name, not the refused one
                form_errors_to(form, exc)
            else:
                messages.success(request, f"Tracker “{tracker.name}” saved. The change applies to engagements "
                                          "processed from now on.")
                return redirect("settings-trackers")
        return self.render(tracker, form, status=400)


class TrackerDeleteView(OrgAdminMixin, View):
    def post(self, request, pk):
        tracker = get_for_org_or_404(Tracker, self.org, pk=pk)
        name = tracker.name
        moments = tracker_delete(tracker=tracker, actor=request.user)
        gone = f" and its {moments} Moment{'s' if moments != 1 else ''}" if moments else ""
        messages.success(request, f"Tracker “{name}”{gone} deleted.")
        return redirect("settings-trackers")


class TrackerRestoreDefaultsView(OrgAdminMixin, View):
    def post(self, request):
        added = trackers_seed_defaults(org=self.org, actor=request.user)
        if added:
            messages.success(request, f"Added {len(added)} default tracker{'s' if len(added) != 1 else ''}: "
                                      f"{', '.join(added)}.")
        else:
            messages.info(request, "Every default tracker is already here.")
        return redirect("settings-trackers")
