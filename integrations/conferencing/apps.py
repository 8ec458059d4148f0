from django.apps import AppConfig


class ConferencingConfig(AppConfig):
    name = "integrations.conferencing"
    label = "conferencing"
    verbose_name = "Conferencing"
    default_auto_field = "django.db.models.BigAutoField"
