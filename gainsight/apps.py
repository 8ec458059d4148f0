"""Gainsight (Enterprise): a Timeline activity in the customer's Gainsight for each
ready engagement matched to a Salesforce account that Gainsight knows."""
from django.apps import AppConfig


class GainsightConfig(AppConfig):
    name = "gainsight"
    verbose_name = "Gainsight"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from gainsight import delivery
        from gainsight.section import gainsight_section
        from integrations.ready import register_ready_listener
        from integrations.registry import (
            Param,
            Provider,
            Section,
            register_provider,
            register_section,
            register_sender,
        )

        register_provider(Provider(
            key="gainsight", label="Gainsight", category="customer_success", enterprise_only=True,
            params=(Param("access_key", "Access Key", secret=True),
                    Param("domain", "Domain Name", help="NAME in https://NAME.gainsightcloud.com/"))))
        register_section(Section(key="gainsight", title="Gainsight Integration", order=75,
                                 template="gainsight/section.html", context=gainsight_section))
        # After crm.matching (10), whose AccountMatch it reads.
        register_ready_listener("gainsight.timeline", delivery.gainsight_ready, order=70)
        register_sender(delivery.TARGET, delivery.GainsightSender())
