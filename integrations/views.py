from django.views.generic import TemplateView

from chorus.views import OrgAdminMixin
from integrations.registry import sections_in_order
from integrations.selectors import delivery_summary


class IntegrationsView(OrgAdminMixin, TemplateView):
    """Settings > Integrations: one page the admin scrolls through; each
    integration app contributes its section through the registry."""

    template_name = "integrations/integrations.html"

    def get_context_data(self, **kwargs):
        sections = [
            {"section": s, "ctx": s.context(self.request, self.org) if s.context else {}}
            for s in sections_in_order()
        ]
        return super().get_context_data(
            sections=sections, deliveries=delivery_summary(org=self.org), org=self.org, **kwargs
        )
