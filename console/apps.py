from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The pages people use: Recordings, Deals, Analytics, the engagement page and
    the settings pages, each settings page composed of the sections apps register
    (``integrations.registry``). The top layer: it may import every app; none
    imports it."""

    name = "console"
    verbose_name = "Console"
    default_auto_field = "django.db.models.BigAutoField"
