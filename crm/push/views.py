"""Saving the CRM Objects Creation matrix (htmx swaps the section in place)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from chorus.models import Engagement
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin, form_errors_to
from crm.push.forms import CrmObjectsForm
from crm.push.required_fields import crm_field_answers_submit, crm_field_requests_pending, required_fields_set
from crm.push.section import SECTION_KEY, crm_objects_context
from crm.push.services import crm_connection_for_push, crm_objects_settings_update, engagement_push_again
from integrations.pages import integrations_page

PARTIAL = "crm_push/section.html"


class CrmObjectsSaveView(OrgAdminMixin, View):
    def post(self, request):
        connection = crm_connection_for_push(org=self.org)
        form = CrmObjectsForm(request.POST, provider=connection.provider if connection else None)
        saved = False
        if form.is_valid():
            try:
                crm_objects_settings_update(org=self.org, actor=request.user, cells=form.cells)
                saved = True
            except ValidationError as exc:
                form_errors_to(form, exc)
        if request.htmx:
            ctx = crm_objects_context(org=self.org, form=None if saved else form, saved=saved)
            # 200 even with errors: htmx only swaps successful responses in.
            return render(request, PARTIAL, {"ctx": ctx})
        if saved:
            return redirect(reverse("settings-integrations") + f"?saved={SECTION_KEY}#{SECTION_KEY}")
        # Without JavaScript: the whole page again, this section with its errors.
        request._crm_objects_form = form
        return integrations_page.render_again(request, status=422)


class RequiredFieldsSaveView(OrgAdminMixin, View):
    """The admin's choice of CRM picklists reps must fill in after calls."""

    def post(self, request):
        try:
            ids = [int(i) for i in request.POST.getlist("required_fields")]
            required_fields_set(org=self.org, actor=request.user, field_ids=ids)
            messages.success(request, "Required CRM fields saved.")
        except (ValueError, ValidationError):
            messages.error(request, "Choose picklists of Opportunities or Tasks imported from your CRM.")
        return redirect(reverse("settings-integrations") + f"#{SECTION_KEY}")


class CrmFieldRequestsView(OrgMemberMixin, View):
    """A rep's pending CRM fields after their meetings and calls."""

    template_name = "crm_push/pending_fields.html"

    def get(self, request, form_errors=None, status=200):
        pending = list(crm_field_requests_pending(user=request.user))
        return render(request, self.template_name, {
            "pending": pending, "errors": form_errors or {}, "posted": request.POST if form_errors else {}},
            status=status)

    def post(self, request):
        answers = {}
        for key, value in request.POST.items():
            if key.startswith("answer_") and key[7:].isdigit():
                answers[int(key[7:])] = value
        try:
            answered = crm_field_answers_submit(user=request.user, answers=answers)
        except ValidationError as exc:
            return self.get(request, form_errors={k: v[0] for k, v in exc.message_dict.items()}, status=422)
        if answered:
            messages.success(request, f"Saved {len(answered)} answer{'s' if len(answered) != 1 else ''}; "
                                      "Chorus writes them to your CRM.")
        return redirect("crm-field-requests")


class PushAgainView(OrgAdminMixin, View):
    """The engagement page's "Push again" (admins)."""

    def post(self, request, pk):
        engagement = get_for_org_or_404(Engagement.objects.all(), self.org, pk=pk)
        count = engagement_push_again(engagement=engagement, actor=request.user)
        messages.success(request, f"Chorus pushes {count} CRM object{'s' if count != 1 else ''} again now."
                         if count else "Nothing is waiting or failed: there is nothing to push again.")
        return redirect(reverse("recording", args=[engagement.pk]) + "#crm-push")
