"""django-q2 tasks: thin wrappers that load a row and call a service."""

from dialers import services
from dialers.catalogue import CATALOGUE
from integrations.models import Connection
from integrations.scheduler import connection_unit, scheduler_run


def dialer_import_task(connection_id: int) -> dict:
    """"Import now" and the first import: under the connection's lease, like the schedule's runs."""
    connection = Connection.objects.filter(pk=connection_id, provider__in=list(CATALOGUE)).first()
    if connection is None:
        return {"skipped": "connection gone"}
    return scheduler_run(services.DIALER_IMPORT_JOB, connection_unit(connection))


def dialer_imports_due_task() -> int:
    return services.dialer_imports_due()
