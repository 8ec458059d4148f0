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
        # Clari — Momentum by Chorus is the console's own pages, embedded in Clari.
        from console.clari import PROVIDER, clari_section
        from integrations.registry import Provider, Section, register_provider, register_section

        register_provider(Provider(key=PROVIDER, label="Clari", category="revenue", enterprise_only=True))
        register_section(Section(key="clari", title="Clari Integration", order=85,
                                 template="console/_section_clari.html", context=clari_section))
