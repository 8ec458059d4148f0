"""An organisation's identity provider settings, as Settings > SSO and the
``configure_saml`` command save them: validation across fields (metadata import,
Azure tenant id, Okta app id, one IdP per organisation) and the audit record."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chorus.models import Organization, User
from chorus.services import audit_record
from sso.models import SamlConfig
from sso.saml.idp_metadata import (
    MetadataUrlRefused,
    certificates_parse,
    certificates_pem,
    idp_metadata_fetch,
    idp_metadata_parse,
)
from sso.saml.sp import sp_entity_ids

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SAML_FIELDS = ("provider", "customer_url", "app_id", "secondary_id", "certificate", "metadata_url",
               "metadata_xml", "idp_entity_id", "enabled")


def saml_config_get(*, org: Organization) -> SamlConfig:
    """The org's SAML configuration, unsaved (blank) if there is none yet."""
    return SamlConfig.objects.for_org(org).first() or SamlConfig(org=org)


def saml_config_update(*, org: Organization, actor: User | None, data: dict[str, Any]) -> tuple[SamlConfig, list[str]]:
    """Validate and save the org's identity provider. ``data`` holds SAML_FIELDS.

    Metadata XML, when given and new, fills the entity id, sign-on URL and
    certificate. For Azure the tenant id must be a GUID and gives the entity id
    (``https://sts.windows.net/<tenant>/``) and sign-on URL when they are blank;
    for Okta the app id gives the entity id. Returns the config and the names of
    the fields filled from metadata. Raises ValidationError keyed by field; nothing
    is saved then."""
    config = saml_config_get(org=org)
    values = {name: data.get(name, getattr(config, name)) for name in SAML_FIELDS}
    for name in SAML_FIELDS:
        if isinstance(values[name], str):
            values[name] = values[name].strip()
    values["provider"] = values["provider"] or SamlConfig.Provider.GENERIC
    errors: dict[str, list[str]] = {}
    imported: list[str] = []
    warnings: list[str] = []

    if values["provider"] not in SamlConfig.Provider.values:
        errors["provider"] = ["Choose Okta, Azure, JumpCloud or another SAML 2.0 provider."]

    new_xml = values["metadata_xml"] and values["metadata_xml"] != config.metadata_xml
    metadata_field = "metadata_xml"
    if values["metadata_url"] and values["metadata_url"] != config.metadata_url and not new_xml:
        # A new Metadata Url is read at once (pasted XML, when given too, wins).
        metadata_field = "metadata_url"
        try:
            values["metadata_xml"] = idp_metadata_fetch(values["metadata_url"])
            new_xml = True
        except MetadataUrlRefused as exc:
            errors["metadata_url"] = exc.messages
        except ValidationError as exc:
            if not values["certificate"]:
                errors["metadata_url"] = exc.messages
            else:  # configured by hand as well (the seed's Azure mapping): save, and say so
                warnings.append(f"{' '.join(exc.messages)} Chorus uses the certificate you entered.")
    if new_xml:
        try:
            meta = idp_metadata_parse(values["metadata_xml"])
        except ValidationError as exc:
            errors[metadata_field] = exc.messages
        else:
            values["idp_entity_id"] = meta.entity_id
            values["certificate"] = certificates_pem(meta.certificates)
            imported = ["idp_entity_id", "certificate"]
            if meta.sso_url:
                values["customer_url"] = meta.sso_url
                imported.append("customer_url")

    if values["certificate"] and "certificate" not in errors:
        try:
            values["certificate"] = certificates_pem(certificates_parse(values["certificate"]))
        except ValidationError as exc:
            errors["certificate"] = exc.messages

    provider = values["provider"]
    if provider == SamlConfig.Provider.AZURE and values["app_id"]:
        if not GUID_RE.match(values["app_id"]):
            errors["app_id"] = ["For Azure, enter the Tenant ID: the GUID after “tenantId=” in the User access "
                                "URL (for example 738b610e-619f-4e65-89b0-47b1acf3f9aa), not the full URL."]
        else:
            tenant = values["app_id"].lower()
            values["idp_entity_id"] = values["idp_entity_id"] or f"https://sts.windows.net/{tenant}/"
            values["customer_url"] = values["customer_url"] or f"https://login.microsoftonline.com/{tenant}/saml2"
    if provider == SamlConfig.Provider.OKTA and values["app_id"] and not values["idp_entity_id"]:
        values["idp_entity_id"] = f"http://www.okta.com/{values['app_id']}"

    if values["idp_entity_id"] in sp_entity_ids():
        errors["idp_entity_id"] = ["This is Chorus's entity ID. Enter your identity provider's own entity ID "
                                   "(the Issuer of its responses)."]
    elif values["idp_entity_id"] and SamlConfig.objects.exclude(org=org).filter(
            idp_entity_id=values["idp_entity_id"]).exists():
        errors["idp_entity_id"] = ["This identity provider is already connected to another Chorus organization. "
                                   "Use a unique IdP Entity ID for this organization."]

    if values["enabled"]:
        missing = [label for name, label in (("idp_entity_id", "IdP Entity ID"), ("customer_url", "SAML Customer Url"),
                                             ("certificate", "SAML Certificate")) if not values[name]]
        if missing and not errors:
            errors["enabled"] = [f"Before turning SAML sign-in on, fill in {', '.join(missing)} "
                                 "(or paste your identity provider's Metadata XML)."]
    if errors:
        raise ValidationError(errors)

    changed = [name for name in SAML_FIELDS if getattr(config, name) != values[name]]
    for name in SAML_FIELDS:
        setattr(config, name, values[name])
    config.updated_by = actor
    try:
        with transaction.atomic():
            config.save()
            if changed:
                audit_record(org=org, actor=actor, action="sso.saml_configured", target=config.get_provider_display(),
                             changes={name: ["", "changed"] for name in changed})
    except IntegrityError as exc:  # two orgs racing for one IdP entity id
        raise ValidationError({"idp_entity_id": ["This identity provider is already connected to another "
                                                 "Chorus organization."]}) from exc
    config.warnings = warnings  # for the page, not stored
    return config, imported


def saml_config_from_metadata(*, org: Organization, metadata_xml: str, provider: str | None = None,
                              actor: User | None = None, enable: bool = True) -> SamlConfig:
    """The ``configure_saml`` command: import metadata and turn SAML sign-in on."""
    config = saml_config_get(org=org)
    data = {"metadata_xml": metadata_xml, "enabled": enable}
    if provider:
        data["provider"] = provider
    if config.pk and config.metadata_xml == metadata_xml.strip():
        config.metadata_xml = ""  # re-import the same file: fill the fields again
    config, _ = saml_config_update(org=org, actor=actor, data=data)
    return config
