from django.apps import AppConfig


class DialersConfig(AppConfig):
    name = "dialers"
    verbose_name = "Dialers"
    default_auto_field = "django.db.models.BigAutoField"
