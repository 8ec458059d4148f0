from django.apps import AppConfig


class ChorusConfig(AppConfig):
    name = "chorus"
    verbose_name = "Chorus core"
    default_auto_field = "django.db.models.BigAutoField"
