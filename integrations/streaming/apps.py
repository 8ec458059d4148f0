from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "integrations.streaming"
    label = "streaming"
    verbose_name = "Zoom Streaming"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.conferencing.services import register_zoom_event_handler
        from integrations.streaming import services

        register_zoom_event_handler("meeting.started", services.meeting_started)
        register_zoom_event_handler("meeting.ended", services.meeting_ended)
