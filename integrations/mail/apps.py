from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "integrations.mail"
    label = "mail"
    verbose_name = "Emails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The import is scheduled by migration 0002 (every 10 minutes); what people see
        # is one section of Personal Settings, below Calendar.
        from integrations.mail import sync
        from integrations.mail.pages import emails_section
        from integrations.scheduler import ScheduledJob, job_register

        job_register(ScheduledJob(name=sync.MAILBOX_SYNC_JOB, due=sync.mailbox_due_units, run=sync.mailbox_unit_run))
        from integrations.registry import PERSONAL_PAGE, Section, register_section

        register_section(Section(key="emails-section", title="Emails", order=15,
                                 template="mail/section_emails.html", context=emails_section, page=PERSONAL_PAGE))
