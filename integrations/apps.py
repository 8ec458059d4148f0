from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.outbox import OUTBOX_JOB, outbox_due_units, outbox_unit_run
        from integrations.scheduler import ScheduledJob, job_register

        job_register(ScheduledJob(name=OUTBOX_JOB, due=outbox_due_units, run=outbox_unit_run))
