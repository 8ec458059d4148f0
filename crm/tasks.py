"""django-q2 tasks: thin wrappers that load a row and call a service."""

from crm import services
from crm.providers import crm_keys
from integrations.models import Connection, ConnectionStatus
from integrations.scheduler import connection_unit, scheduler_run


def crm_sync_task(connection_id: int) -> dict:
    """"Sync now" and the first sync: under the connection's lease, like the schedule's runs."""
    connection = Connection.objects.filter(pk=connection_id, provider__in=crm_keys()).first()
    if connection is None:
        return {"skipped": "connection gone"}
    if connection.status == ConnectionStatus.DISCONNECTED:
        return {"skipped": "already syncing or disconnected"}
    return scheduler_run(services.CRM_SYNC_JOB, connection_unit(connection))


def crm_sync_due_task() -> int:
    return services.crm_sync_due()
