from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "integrations.storage"
    label = "media_storage"
    verbose_name = "Media storage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.registry import Provider, Section, register_provider, register_section
        from integrations.storage import services
        from integrations.storage.providers import PROVIDER_KEY

        register_provider(
            Provider(key=PROVIDER_KEY, label="Custom Media Bucket", category="storage", enterprise_only=True)
        )
        register_section(
            Section(
                key="custom-media-bucket",
                title="Custom Media Bucket",
                order=90,
                template="storage/section_bucket.html",
                context=services.bucket_section,
            )
        )
