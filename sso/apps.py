from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "SSO (SAML and SCIM)"
    default_auto_field = "django.db.models.BigAutoField"
