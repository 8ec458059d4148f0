from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "integrations.processing"
    label = "processing"
    verbose_name = "Conversation processing"
    default_auto_field = "django.db.models.BigAutoField"
