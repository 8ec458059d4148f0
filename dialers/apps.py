from django.apps import AppConfig


class DialersConfig(AppConfig):
    name = "dialers"
    verbose_name = "Dialers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from dialers import services
        from dialers.catalogue import DIALERS
        from integrations.scheduler import ScheduledJob, job_register

        job_register(ScheduledJob(name=services.DIALER_IMPORT_JOB, due=services.dialer_import_due_units,
                                  run=services.dialer_import_unit_run))
        from dialers.views import dialers_section
        from integrations.registry import Param, Provider, Section, register_provider, register_section

        for d in DIALERS:
            register_provider(Provider(
                key=d.key, label=d.label, category="dialer",
                params=tuple(Param(name=f.name, label=f.label, secret=f.secret, help=f.help) for f in d.credentials),
                extra={"family": d.family, "crm_field": d.crm_field, "crm_exempt": d.crm_exempt}))
        register_section(Section(key="dialers", title="Dialer Integrations", order=40,
                                 template="dialers/section.html", context=dialers_section))

        # Roles and Permissions > Compliance: recording notification detection.
        from dialers.views import notification_detection_section
        from integrations.registry import ROLES_PAGE

        register_section(Section(key="notification-detection", title="Compliance: recording notification detection",
                                 order=10, template="dialers/section_notification_detection.html",
                                 context=notification_detection_section, page=ROLES_PAGE))

        # Processing listens for the compliance phrases; the ready gate deletes calls
        # without them for roles that ask for it, before anything is pushed.
        from dialers.compliance import dialer_calls_compliance_gate, notification_rules
        from integrations.processing.services import register_notification_rules
        from integrations.ready import register_ready_gate

        register_notification_rules(notification_rules)
        register_ready_gate("dialers.compliance", dialer_calls_compliance_gate, order=10)
