from django.apps import AppConfig


class ConferencingConfig(AppConfig):
    name = "integrations.conferencing"
    label = "conferencing"
    verbose_name = "Conferencing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.conferencing import services
        from integrations.registry import Provider, Section, register_provider, register_section

        register_provider(Provider(key=services.PROVIDER, label="Zoom", category="conferencing"))
        register_section(
            Section(
                key="native-zoom-integration",
                title="Native Zoom Integration",
                order=50,
                template="conferencing/section_zoom.html",
                context=services.zoom_section,
            )
        )
