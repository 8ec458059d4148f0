from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The pages people use: Recordings, Deals, Analytics, the engagement page and
    the settings pages, each settings page composed of the sections apps register
    (``integrations.registry``). The top layer: it may import every app; none
    imports it."""

    name = "console"
    verbose_name = "Console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from console.clari import PROVIDER as CLARI
        from console.clari import clari_section
        from console.outreach import PROVIDER as OUTREACH_TILE
        from console.outreach import outreach_section
        from integrations.registry import Provider, Section, register_provider, register_section

        # Clari — Momentum by Chorus is the console's own pages, embedded in Clari.
        register_provider(Provider(key=CLARI, label="Clari", category="revenue", enterprise_only=True))
        register_section(Section(key="clari", title="Clari Integration", order=85,
                                 template="console/_section_clari.html", context=clari_section))
        # Sync Outreach and Chorus — the Chorus tile on Outreach's Account page (between
        # Dialer Integrations and Slack).
        register_provider(Provider(key=OUTREACH_TILE, label="Outreach tile", category="revenue"))
        register_section(Section(key="outreach", title="Sync Outreach and Chorus", order=45,
                                 template="console/_section_outreach.html", context=outreach_section))
