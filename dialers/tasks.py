"""django-q2 tasks: thin wrappers that load a row and call a service."""

from dialers import services
from dialers.catalogue import CATALOGUE
from dialers.import_run import dialer_import_run
from integrations.models import Connection


def dialer_import_task(connection_id: int) -> dict:
    connection = Connection.objects.select_related("org").filter(pk=connection_id, provider__in=list(CATALOGUE)).first()
    if connection is None:
        return {"skipped": "connection gone"}
    return dialer_import_run(connection=connection)


def dialer_imports_due_task() -> int:
    return services.dialer_imports_due()
