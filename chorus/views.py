"""The settings console and the Recordings / Deals pages. Thin views: they take the
org from ``request.user``, read through ``for_org`` and write through services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from chorus import services
from chorus.filters import RecordingFilter
from chorus.forms import (
    ApiTokenForm,
    ComplianceForm,
    DisplayAsForm,
    EmailLoginForm,
    OrganizationForm,
    RoleCreateForm,
)
from chorus.models import AuditEvent, Engagement, Moment, Participant, PersonalApiToken, Role
from chorus.tenancy import get_for_org_or_404
from crm.filters import (
    ENGAGEMENT_PATHS,
    OPPORTUNITY_PATHS,
    OpportunityFilter,
    crm_fields_of,
    crm_filterset_class,
)
from crm.models import AccountMatch, CrmOpportunity
from crm.push.services import engagement_push_status
from dialers.forms import NotificationDetectionForm
from dialers.services import compliance_settings
from integrations.conferencing.calendars import calendar_personal_context, recording_rules_context


class OrgMemberMixin(LoginRequiredMixin):
    """Signed in and belonging to an organisation. Support staff without an org
    work in the Django admin."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.user.org_id is None:
            raise PermissionDenied("Support accounts have no organisation: use the Django admin.")
        self.org = request.user.org
        return super().dispatch(request, *args, **kwargs)


class OrgAdminMixin(OrgMemberMixin):
    """Admin-only settings pages answer 403 to everyone else."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.org_id and not request.user.is_org_admin:
            raise PermissionDenied("Only Chorus admins can change these settings.")
        return super().dispatch(request, *args, **kwargs)


def form_errors_to(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.org_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("recordings")


def settings_home(request):
    if request.user.is_authenticated and request.user.is_org_admin:
        return redirect("settings-integrations")
    return redirect("settings-personal")


# --- Recordings and Deals --------------------------------------------------------------


class RecordingListView(OrgMemberMixin, TemplateView):
    template_name = "chorus/recordings.html"
    page_size = 25

    def get_context_data(self, **kwargs):
        base = Engagement.objects.for_org(self.org)
        filterset = recording_filterset(self.request, self.org, base)
        qs = (
            (filterset.qs if filterset.is_bound else base)
            .select_related("owner", "account_match__account", "account_match__opportunity")
            .annotate(participant_count=Count("participants", distinct=True))
            .order_by("-started_at", "-id")
            .prefetch_related(
                Prefetch("participants", queryset=Participant.objects.filter(is_internal=False), to_attr="externals"),
                Prefetch("moments", queryset=Moment.objects.select_related("tracker"), to_attr="hits"),
            )
        )
        page = Paginator(qs, self.page_size).get_page(self.request.GET.get("page"))
        for engagement in page.object_list:
            engagement.tracker_names = sorted({m.tracker.name for m in engagement.hits})
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query.urlencode(), **kwargs)


def recording_filterset(request, org, queryset):
    cls = crm_filterset_class(RecordingFilter, org=org, paths=ENGAGEMENT_PATHS)
    return cls(request.GET or None, queryset=queryset, org=org)


class RecordingDetailView(OrgMemberMixin, TemplateView):
    template_name = "chorus/recording_detail.html"

    def get_context_data(self, pk, **kwargs):
        engagement = get_for_org_or_404(
            Engagement.objects.select_related("owner", "account_match__account", "account_match__opportunity"),
            self.org, pk=pk,
        )
        return super().get_context_data(
            engagement=engagement,
            has_media=engagement.recording_files.exists(),
            participants=engagement.participants.all(),
            moments=engagement.moments.select_related("tracker"),
            push=engagement_push_status(engagement=engagement),
            **kwargs,
        )


class DealListView(OrgMemberMixin, TemplateView):
    """Deals: the CRM's opportunities with the conversations matched to them,
    filterable by the Custom CRM Filters."""

    template_name = "chorus/deals.html"

    def get_context_data(self, **kwargs):
        matches = AccountMatch.objects.filter(opportunity=OuterRef("pk"))
        base = CrmOpportunity.objects.for_org(self.org)
        cls = crm_filterset_class(OpportunityFilter, org=self.org, paths=OPPORTUNITY_PATHS)
        filterset = cls(self.request.GET or None, queryset=base, org=self.org)
        deals = (
            (filterset.qs if filterset.is_bound else base)
            .select_related("account")
            .annotate(
                conversations=Coalesce(Subquery(matches.values("opportunity").annotate(n=Count("id")).values("n")), 0),
                last_activity=Subquery(matches.order_by("-engagement__started_at").values("engagement__started_at")[:1]),
            )
            .order_by("is_closed", "close_date", "name")
        )
        page = Paginator(deals, 50).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query.urlencode(), has_crm=base.exists(), **kwargs)


class AnalyticsView(OrgMemberMixin, TemplateView):
    """Conversations counted by opportunity stage and by tracker, under the same
    filters as Recordings."""

    template_name = "chorus/analytics.html"

    def get_context_data(self, **kwargs):
        base = Engagement.objects.for_org(self.org)
        filterset = recording_filterset(self.request, self.org, base)
        engagements = filterset.qs if filterset.is_bound else base
        by_stage = list(
            engagements.values(stage=F("account_match__opportunity__stage")).annotate(n=Count("id")).order_by("-n")
        )
        by_tracker = list(
            Moment.objects.for_org(self.org).filter(engagement__in=engagements.values("pk"))
            .values(name=F("tracker__name")).annotate(n=Count("engagement", distinct=True)).order_by("-n")[:30]
        )
        for rows in (by_stage, by_tracker):
            top = max((r["n"] for r in rows), default=1)
            for r in rows:
                r["pct"] = round(100 * r["n"] / top)
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), by_stage=by_stage,
                                        by_tracker=by_tracker, total=engagements.count(), **kwargs)


# --- Organization Settings -------------------------------------------------------------


class OrganizationSettingsView(OrgAdminMixin, View):
    template_name = "chorus/settings_organization.html"

    def render(self, form, display_form=None, editing=False, status=200):
        ctx = {
            "form": form,
            "display_form": display_form or DisplayAsForm.for_org(self.org),
            "editing_display_as": editing,
            "org": self.org,
            "audit": AuditEvent.objects.for_org(self.org).select_related("actor")[:10],
            "rules": recording_rules_context(org=self.org),
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


class DisplayAsView(OrgAdminMixin, View):
    """Meeting Recording Rules > Display As: edited in place with htmx (and as a
    plain form post without JavaScript)."""

    partial = "chorus/_display_as.html"

    def get(self, request):
        editing = request.GET.get("edit") == "1"
        return render(request, self.partial, {"org": self.org, "display_form": DisplayAsForm.for_org(self.org),
                                              "editing_display_as": editing})

    def post(self, request):
        form = DisplayAsForm(request.POST)
        if form.is_valid():
            try:
                services.organization_update_settings(
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


# --- Roles and Permissions -------------------------------------------------------------


class RoleListView(OrgAdminMixin, View):
    template_name = "chorus/settings_roles.html"
    detection_form = None  # set when the dialers' detection form comes back with errors

    def render(self, form, status=200):
        roles = Role.objects.for_org(self.org).annotate(
            member_count=Count("users", filter=Q(users__is_active=True))
        )
        detection = self.detection_form
        if detection is None and self.org.is_enterprise:
            detection = NotificationDetectionForm.for_settings(compliance_settings(org=self.org))
        ctx = {"roles": roles, "form": form, "detection_form": detection}
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
    template_name = "chorus/settings_role.html"
    partial = "chorus/_compliance.html"

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


class PersonalSettingsView(OrgMemberMixin, View):
    template_name = "chorus/settings_personal.html"
    NEW_TOKEN_KEY = "new_api_token"

    def render(self, form, status=200):
        tokens = PersonalApiToken.objects.for_org(self.org).filter(user=self.request.user, revoked_at__isnull=True)
        # The raw token is shown once: on the page right after it was made.
        new_token = self.request.session.pop(self.NEW_TOKEN_KEY, None)
        ctx = {"form": form, "tokens": tokens, "new_token": new_token, "me": self.request.user,
               "cal": calendar_personal_context(self.request)}
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
