from django.conf import settings
from django.views.generic import TemplateView

from chorus.views import OrgAdminMixin


class SsoSettingsView(OrgAdminMixin, TemplateView):
    """Settings > SSO: the values the admin copies into the identity provider."""

    template_name = "sso/settings_sso.html"

    def get_context_data(self, **kwargs):
        base = settings.CHORUS_BASE_URL
        return super().get_context_data(
            org=self.org,
            sp={
                "entity_id": base,
                "acs_url": f"{base}/login/saml",
                "metadata_url": f"{base}/login/saml/metadata",
                "relay_state": "cmVkaXJlY3Q9Lw==",
                "scim_base_url": f"{base}/api/scim/v2",
            },
            **kwargs,
        )
