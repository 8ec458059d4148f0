"""django-q2 tasks: thin wrappers that load a row and call a service."""

from crm import services
from crm.providers import crm_keys
from integrations.models import Connection


def crm_sync_task(connection_id: int) -> dict:
    connection = Connection.objects.select_related("org").filter(
        pk=connection_id, provider__in=crm_keys()).first()
    if connection is None:
        return {"skipped": "connection gone"}
    return services.crm_sync(connection=connection)


def crm_sync_due_task() -> int:
    return services.crm_sync_due()
