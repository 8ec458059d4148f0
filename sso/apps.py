from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "SSO (SAML and SCIM)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.scheduler import ScheduledJob, job_register
        from sso.saml import idp_metadata

        job_register(ScheduledJob(name=idp_metadata.SAML_METADATA_JOB, due=idp_metadata.saml_metadata_due_units,
                                  run=idp_metadata.saml_metadata_unit_run))
