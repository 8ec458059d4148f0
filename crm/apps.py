from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crm import services
        from crm.providers import register_crm_providers
        from crm.push.registry import register as register_crm_objects_creation
        from crm.ready import register as register_ready_listeners
        from integrations.registry import Section, register_section
        from integrations.scheduler import ScheduledJob, job_register

        register_crm_providers()
        job_register(ScheduledJob(name=services.CRM_SYNC_JOB, due=services.crm_sync_due_units,
                                  run=services.crm_sync_unit_run))
        register_ready_listeners()
        register_crm_objects_creation()
        register_section(Section(key="crm-connect", title="CRM Connect", order=10,
                                 template="crm/section_connect.html", context=services.crm_connect_section))
        register_section(Section(key="crm-fields",
                                 title="Import CRM Data for Additional Use Cases Like Filtering and Search",
                                 order=30, template="crm/section_fields.html", context=services.crm_fields_section))
