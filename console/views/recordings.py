"""Recordings, the engagement page, Deals and Analytics. Thin views: they take the
org from ``request.user`` and read through ``for_org``; the console is the top
layer, so it reads the CRM's and the outbox's rows directly."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.views.generic import TemplateView

from chorus.filters import RecordingFilter
from chorus.models import Engagement, Moment, Participant
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgMemberMixin
from crm.filters import (
    ENGAGEMENT_PATHS,
    OPPORTUNITY_PATHS,
    OpportunityFilter,
    crm_fields_of,
    crm_filterset_class,
)
from crm.models import AccountMatch, CrmOpportunity
from crm.push.services import engagement_push_status


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.org_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("recordings")


def recording_filterset(request, org, queryset):
    cls = crm_filterset_class(RecordingFilter, org=org, paths=ENGAGEMENT_PATHS)
    return cls(request.GET or None, queryset=queryset, org=org)


def query_without_page(request) -> str:
    """The list's filters, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class RecordingListView(OrgMemberMixin, TemplateView):
    template_name = "console/recordings.html"
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
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query_without_page(self.request), **kwargs)


class RecordingDetailView(OrgMemberMixin, TemplateView):
    """The engagement page."""

    template_name = "console/recording_detail.html"

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

    template_name = "console/deals.html"

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
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query_without_page(self.request), has_crm=base.exists(), **kwargs)


class AnalyticsView(OrgMemberMixin, TemplateView):
    """Conversations counted by opportunity stage and by tracker, under the same
    filters as Recordings."""

    template_name = "console/analytics.html"

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
