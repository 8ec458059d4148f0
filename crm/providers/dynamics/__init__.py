"""Everything Chorus needs of one CRM, in one package: ``connect`` (OAuth, the API
session, sync and field import; its ``provider`` object is the CRM's one
description, capabilities included), ``push`` (the outbox sender of CRM Objects
Creation) and ``call_tasks`` (dialer calls logged in the CRM)."""

from crm.providers.dynamics.connect import provider

__all__ = ["provider"]
