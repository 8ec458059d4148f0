from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Public API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the OpenAPI description of the personal token scheme.
        from api import schema  # noqa: F401
