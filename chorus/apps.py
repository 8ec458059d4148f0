from django.apps import AppConfig


class ChorusConfig(AppConfig):
    name = "chorus"
    verbose_name = "Chorus core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from chorus.worker import worker_started

        # A django-q2 worker process, once spawned, freezes what start-up built (see chorus/worker.py).
        post_spawn.connect(worker_started, dispatch_uid="chorus.worker_started")
