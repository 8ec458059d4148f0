from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "integrations.processing"
    label = "processing"
    verbose_name = "Conversation processing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.processing import services
        from integrations.scheduler import ScheduledJob, job_register

        job_register(ScheduledJob(name=services.PROCESSING_JOB, due=services.processing_due_units,
                                  run=services.processing_unit_run))
