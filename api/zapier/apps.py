from django.apps import AppConfig


class ZapierConfig(AppConfig):
    """Zapier's backend: its own app (label ``zapier``) so its model and migrations
    live beside its code, under the public API it authenticates with."""

    name = "api.zapier"
    label = "zapier"
    verbose_name = "Zapier"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from api.zapier.delivery import LISTENER, TARGET, ZapierSender, zapier_ready
        from integrations.ready import register_ready_listener
        from integrations.registry import register_sender

        register_ready_listener(LISTENER, zapier_ready, order=70)
        register_sender(TARGET, ZapierSender())
