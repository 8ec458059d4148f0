"""What the CRM app does when engagements become ready (``integrations.ready``):
tie each to its CRM account and opportunity (seed: "Account Matching"), then queue
the CRM objects the org's CRM Objects Creation matrix asks for.

Both run in the announcing source's transaction. Matching runs in a savepoint and a
failure is logged, not raised: it never loses an import, and the next CRM sync
re-matches. The push preparation only writes outbox rows, so it is not guarded: if
it fails, the source's transaction rolls back and the source retries as a whole.

What each engagement kind gets is decided in ``crm.push.services.push_plan``: a
dialer call gets the Recording column of the matrix except a task or an event (the
dialer logged the call in the CRM already); tracker metadata, the Engagement custom
object, contacts, accounts and the transcript follow the matrix.
"""

from __future__ import annotations

import logging

from django.db import transaction

from chorus.models import Engagement, Organization
from crm.matching import engagements_match_batch
from crm.push.services import engagements_push_prepare
from integrations.ready import register_ready_listener

log = logging.getLogger(__name__)


def crm_match_ready(*, org: Organization, engagements: list[Engagement]) -> None:
    try:
        with transaction.atomic():
            engagements_match_batch(org=org, engagements=engagements)
    except Exception:  # noqa: BLE001 (see the module docstring)
        log.exception("Account matching failed for %s engagements of org %s", len(engagements), org.pk)


def crm_push_ready(*, org: Organization, engagements: list[Engagement]) -> None:
    engagements_push_prepare(org=org, engagements=engagements)


def register() -> None:
    register_ready_listener("crm.matching", crm_match_ready, order=10)
    register_ready_listener("crm.push", crm_push_ready, order=50)
