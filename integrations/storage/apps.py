from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "integrations.storage"
    label = "media_storage"
    verbose_name = "Media storage"
    default_auto_field = "django.db.models.BigAutoField"
