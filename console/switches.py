"""On/off switches for the console's embedded views (Clari's Momentum panel, the
Outreach tile): a :class:`~integrations.models.Connection` of the embed's provider key,
so each has a status and an audit trail like every integration."""

from __future__ import annotations

from django.db import transaction

from chorus.models import Organization, User
from chorus.services import audit_record
from integrations.models import Connection, ConnectionStatus


def switch_enabled(*, org: Organization, provider: str) -> bool:
    return Connection.objects.for_org(org).filter(provider=provider, status=ConnectionStatus.OK).exists()


def switch_set(*, org: Organization, actor: User | None, provider: str, enabled: bool, target: str) -> None:
    """Turn the embed on or off; audited as ``<provider>.enabled`` / ``.disabled``."""
    with transaction.atomic():
        connection = Connection.objects.for_org(org).filter(provider=provider).first()
        status = ConnectionStatus.OK if enabled else ConnectionStatus.DISCONNECTED
        if connection is None:
            if not enabled:
                return
            Connection.objects.create(org=org, provider=provider, status=status, connected_by=actor)
        elif connection.status == status:
            return
        else:
            Connection.objects.filter(pk=connection.pk).update(status=status, connected_by=actor)
        audit_record(org=org, actor=actor, action=f"{provider}.{'enabled' if enabled else 'disabled'}",
                     target=target)
