"""Account and opportunity pages (``/accounts/<pk>/``, ``/opportunities/<pk>/``):
what the CRM says, the conversations matched to them, and which Slack channels
track them. Their addresses are what people paste into ``/chorus connect …``.

Thin views, scoped to the user's org (another org's id is a 404); every list is a
fixed number of queries whatever its length."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.views.generic import TemplateView

from chorus.models import Engagement
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgMemberMixin
from console.views.recordings import query_without_page
from crm.models import CrmAccount, CrmOpportunity
from integrations.registry import PROVIDERS
from slack.models import SlackChannelTracking

PAGE_SIZE = 25
CONTACTS_SHOWN = 100


def provider_label(key: str) -> str:
    provider = PROVIDERS.get(key)
    return provider.label if provider else key


def engagements_page(request, org, **match):
    """The conversations matched to an account or opportunity, newest first."""
    qs = (Engagement.objects.for_org(org)
          .filter(**{f"account_match__{name}": value for name, value in match.items()})
          .select_related("owner", "account_match__account", "account_match__opportunity")
          .order_by("-started_at", "-id"))
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def slack_trackings(org, **target) -> list[SlackChannelTracking]:
    return list(SlackChannelTracking.objects.for_org(org).filter(**target)
                .select_related("workspace").order_by("channel_name", "id"))


class CrmRecordView(OrgMemberMixin, TemplateView):
    def common_context(self, record, **target) -> dict:
        return {
            "provider": provider_label(record.provider),
            "page": engagements_page(self.request, self.org, **target),
            "query": query_without_page(self.request),
            "trackings": slack_trackings(self.org, **target),
            # The address to copy into `/chorus connect …`: this deployment's, as Slack checks it.
            "page_url": settings.CHORUS_BASE_URL.rstrip("/") + self.request.path,
        }


class AccountDetailView(CrmRecordView):
    template_name = "console/account_detail.html"

    def get_context_data(self, pk, **kwargs):
        account = get_for_org_or_404(CrmAccount.objects.all(), self.org, pk=pk)
        opportunities = CrmOpportunity.objects.for_org(self.org).filter(account=account)
        return super().get_context_data(
            account=account,
            contacts=list(account.contacts.order_by("name", "email", "id")[:CONTACTS_SHOWN]),
            contact_count=account.contacts.count(),
            opportunities=list(opportunities.filter(is_closed=False).order_by("close_date", "name", "id")),
            closed_count=opportunities.filter(is_closed=True).count(),
            **self.common_context(account, account=account),
            **kwargs,
        )


class OpportunityDetailView(CrmRecordView):
    template_name = "console/opportunity_detail.html"

    def get_context_data(self, pk, **kwargs):
        opportunity = get_for_org_or_404(CrmOpportunity.objects.select_related("account"), self.org, pk=pk)
        return super().get_context_data(
            opportunity=opportunity,
            **self.common_context(opportunity, opportunity=opportunity),
            **kwargs,
        )
