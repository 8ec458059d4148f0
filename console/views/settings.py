"""The settings pages. Each is composed of the sections apps register for it
(``integrations.registry.Section``, ``page=``): Settings > Integrations wholly;
Organization Settings, Roles and Permissions and Personal Settings around the
console's own cards (the organisation, the roles, the profile and API tokens).
Thin views: they take the org from ``request.user`` and write through services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from chorus import services
from chorus.forms import ApiTokenForm, ComplianceForm, OrganizationForm, RoleCreateForm
from chorus.models import AuditEvent, PersonalApiToken, Role
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin, form_errors_to
from integrations.registry import (
    INTEGRATIONS_PAGE,
    ORGANIZATION_PAGE,
    PERSONAL_PAGE,
    ROLES_PAGE,
    sections_in_order,
)
from integrations.selectors import delivery_summary


def settings_home(request):
    if request.user.is_authenticated and request.user.is_org_admin:
        return redirect("settings-integrations")
    return redirect("settings-personal")


def page_sections(page: str, request, org) -> list[dict]:
    """The sections apps registered for ``page``, in order, each with its context.
    A section whose context is ``None`` is left out (an Enterprise-only one, say)."""
    sections = []
    for section in sections_in_order(page):
        ctx = section.context(request, org) if section.context else {}
        if ctx is not None:
            sections.append({"section": section, "ctx": ctx})
    return sections


class SectionsMixin:
    """A page made (partly) of registered sections, rendered by ``console/_sections.html``."""

    page: str

    def sections(self) -> list[dict]:
        return page_sections(self.page, self.request, self.org)


# --- Settings > Integrations -----------------------------------------------------------


class IntegrationsView(OrgAdminMixin, SectionsMixin, TemplateView):
    """Settings > Integrations: one page the admin scrolls through; each
    integration app contributes its section through the registry."""

    template_name = "console/integrations.html"
    page = INTEGRATIONS_PAGE

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            sections=self.sections(), deliveries=delivery_summary(org=self.org), org=self.org, **kwargs
        )


# --- Organization Settings -------------------------------------------------------------


class OrganizationSettingsView(OrgAdminMixin, SectionsMixin, View):
    template_name = "console/settings_organization.html"
    page = ORGANIZATION_PAGE

    def render(self, form, status=200):
        ctx = {
            "form": form,
            "org": self.org,
            "sections": self.sections(),
            "audit": AuditEvent.objects.for_org(self.org).select_related("actor")[:10],
        }
        return render(self.request, self.template_name, ctx, status=status)

    def get(self, request):
        return self.render(OrganizationForm.for_org(self.org))

    def post(self, request):
        form = OrganizationForm(request.POST)
        if form.is_valid():
            try:
                services.organization_update_settings(org=self.org, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                messages.success(request, "Organization settings saved.")
                return redirect("settings-organization")
        return self.render(form, status=400)


# --- Roles and Permissions -------------------------------------------------------------


class RoleListView(OrgAdminMixin, SectionsMixin, View):
    template_name = "console/settings_roles.html"
    page = ROLES_PAGE

    def render(self, form, status=200):
        roles = Role.objects.for_org(self.org).annotate(
            member_count=Count("users", filter=Q(users__is_active=True))
        )
        ctx = {"roles": roles, "form": form, "sections": self.sections()}
        return render(self.request, self.template_name, ctx, status=status)

    def get(self, request):
        return self.render(RoleCreateForm())

    def post(self, request):
        form = RoleCreateForm(request.POST)
        if form.is_valid():
            try:
                role = services.role_create(org=self.org, name=form.cleaned_data["name"], actor=request.user)
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                messages.success(request, f"Role “{role.name}” created. Identity providers can now assign it.")
                return redirect("settings-role", pk=role.pk)
        return self.render(form, status=400)


class RoleDetailView(OrgAdminMixin, View):
    template_name = "console/settings_role.html"
    partial = "console/_compliance.html"

    def context(self, role, form, saved=False):
        return {
            "role": role, "form": form, "saved": saved, "org": self.org,
            "members": role.users.filter(is_active=True).order_by("first_name", "last_name")[:100],
        }

    def get(self, request, pk):
        role = get_for_org_or_404(Role, self.org, pk=pk)
        return render(request, self.template_name, self.context(role, ComplianceForm.for_role(role)))

    def post(self, request, pk):
        role = get_for_org_or_404(Role, self.org, pk=pk)
        form = ComplianceForm.for_role(role, request.POST)
        saved = False
        if form.is_valid():
            try:
                role = services.role_update_compliance(role=role, actor=request.user, **form.cleaned_data)
                saved = True
                form = ComplianceForm.for_role(role)
            except ValidationError as exc:
                form_errors_to(form, exc)
        template = self.partial if request.htmx else self.template_name
        if saved and not request.htmx:
            messages.success(request, f"Compliance settings for “{role.name}” saved.")
            return redirect("settings-role", pk=role.pk)
        status = 200 if saved or request.htmx else 400
        return render(request, template, self.context(role, form, saved=saved), status=status)


# --- Personal Settings -----------------------------------------------------------------


class PersonalSettingsView(OrgMemberMixin, SectionsMixin, View):
    template_name = "console/settings_personal.html"
    page = PERSONAL_PAGE
    NEW_TOKEN_KEY = "new_api_token"

    def render(self, form, status=200):
        tokens = PersonalApiToken.objects.for_org(self.org).filter(user=self.request.user, revoked_at__isnull=True)
        # The raw token is shown once: on the page right after it was made.
        new_token = self.request.session.pop(self.NEW_TOKEN_KEY, None)
        ctx = {"form": form, "tokens": tokens, "new_token": new_token, "me": self.request.user,
               "sections": self.sections()}
        response = render(self.request, self.template_name, ctx, status=status)
        if new_token:
            response["Cache-Control"] = "no-store"
        return response

    def get(self, request):
        return self.render(ApiTokenForm())

    def post(self, request):
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            try:
                _token, raw = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                # Post/redirect/get, so a reload cannot make a second token; the
                # value waits in the server-side session only until that GET.
                request.session[self.NEW_TOKEN_KEY] = raw
                return redirect(reverse("settings-personal") + "#api-tokens")
        return self.render(form, status=400)


class ApiTokenRevokeView(OrgMemberMixin, View):
    def post(self, request, pk):
        token = get_for_org_or_404(PersonalApiToken.objects.filter(user=request.user), self.org, pk=pk)
        services.api_token_revoke(token=token)
        messages.success(request, f"Token “{token.name}” revoked. Anything using it stops working now.")
        return redirect(reverse("settings-personal") + "#api-tokens")
