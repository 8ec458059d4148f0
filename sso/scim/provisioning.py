"""The SCIM provisioning switch of Settings > SSO: SCIM requests are served only
while support has activated the feature and the organisation's admin turned it on."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from chorus.models import Organization, User
from chorus.services import audit_record
from sso.models import ScimSettings


def scim_provisioning_active(*, org: Organization) -> bool:
    """SCIM requests are served only when support activated the feature and the
    org's admin turned it on."""
    if not org.scim_provisioning_allowed:
        return False
    return ScimSettings.objects.for_org(org).filter(enabled=True).exists()


def scim_provisioning_set(*, org: Organization, actor: User | None, enabled: bool) -> ScimSettings:
    if enabled and not org.scim_provisioning_allowed:
        raise ValidationError("SCIM provisioning is not activated for your organization yet: contact Chorus support.")
    row, _ = ScimSettings.objects.get_or_create(org=org)
    if row.enabled != enabled:
        row.enabled, row.updated_by = enabled, actor
        with transaction.atomic():
            row.save()
            audit_record(org=org, actor=actor, action="sso.scim_enabled" if enabled else "sso.scim_disabled")
    return row
