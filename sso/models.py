"""SSO configuration per organisation: the SAML identity provider, SCIM bearer
tokens, and the assertion ids already used (replay protection)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Organization, User
from chorus.tenancy import OrgManager


class SamlConfig(models.Model):
    """One identity provider per organisation. Field names follow the seed's SAML
    setup page ("SAML Customer Url", "SAML App ID / Tenant ID", …)."""

    class Provider(models.TextChoices):
        OKTA = "okta", "Okta"
        AZURE = "azure", "Azure (Entra ID)"
        JUMPCLOUD = "jumpcloud", "JumpCloud"
        GENERIC = "generic", "Other SAML 2.0 provider"

    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="saml_config")
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.GENERIC)
    customer_url = models.URLField("SAML Customer Url", max_length=1000, blank=True,
                                   help_text="The identity provider's sign-on (Login) URL.")
    app_id = models.CharField("SAML App ID / Tenant ID", max_length=255, blank=True)
    secondary_id = models.CharField("SAML Secondary ID (Azure App Id)", max_length=255, blank=True)
    certificate = models.TextField("SAML Certificate", blank=True, help_text="PEM or Base64 X.509 certificate.")
    metadata_url = models.URLField("Metadata Url", max_length=1000, blank=True)
    metadata_xml = models.TextField("Metadata XML", blank=True)
    # The IdP's entity id (the Issuer of its Responses): how an incoming Response
    # finds its org. Unique so one IdP entity can never sign users into two orgs.
    idp_entity_id = models.CharField(max_length=1000, blank=True)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = OrgManager()

    class Meta:
        verbose_name = "SAML configuration"
        constraints = [
            models.UniqueConstraint(
                fields=["idp_entity_id"], condition=~models.Q(idp_entity_id=""), name="saml_idp_entity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.org} · {self.get_provider_display()}"


class ScimToken(models.Model):
    """A SCIM bearer token. Stored hashed (SHA-256), shown once; several may be
    active at once so an admin can rotate without downtime."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.org} · {self.prefix}…"


class UsedAssertion(models.Model):
    """SAML assertion ids already accepted, kept until they expire, so a captured
    Response cannot be replayed (IdP-initiated logins have no InResponseTo)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=255, unique=True)
    not_on_or_after = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    def __str__(self) -> str:
        return self.assertion_id


class ScimSettings(models.Model):
    """Whether the organisation's admin has turned SCIM provisioning on. Support
    must first activate the feature (``Organization.scim_provisioning_allowed``,
    seed: "Before you configure provisioning you must reach out to the Chorus
    support team"); provisioning works only while both are true."""

    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="scim_settings")
    enabled = models.BooleanField("SCIM provisioning enabled", default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = OrgManager()

    class Meta:
        verbose_name = "SCIM settings"
        verbose_name_plural = "SCIM settings"

    def __str__(self) -> str:
        return f"{self.org} · SCIM {'on' if self.enabled else 'off'}"
