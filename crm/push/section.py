"""The CRM Objects Creation section of Settings > Integrations."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from crm.providers import get_provider
from crm.push.forms import CrmObjectsForm
from crm.push.models import CELLS, COLUMN_LABELS, COLUMNS, CrmPushState, RequiredCrmField
from crm.push.required_fields import required_field_choices
from crm.push.services import crm_connection_for_push, crm_objects_history, crm_objects_settings_get

SECTION_KEY = "crm-objects"
SECTION_TITLE = "CRM Objects Creation"


def crm_objects_context(*, org, form: CrmObjectsForm | None = None, saved: bool = False) -> dict[str, Any]:
    connection = crm_connection_for_push(org=org)
    provider = connection.provider if connection else None
    if form is None:
        row = crm_objects_settings_get(org=org)
        form = CrmObjectsForm(initial={name: getattr(row, name) for name in CELLS}, provider=provider)
    states = list(CrmPushState.objects.for_org(org).filter(provider=provider)) if provider else []
    required = set(RequiredCrmField.objects.for_org(org).values_list("field_id", flat=True))
    return {
        "required_choices": [{"field": f, "checked": f.id in required} for f in required_field_choices(org=org)],
        "connection": connection, "provider": provider, "crm": get_provider(provider) if provider else None,
        "form": form, "matrix": form.matrix(),
        "columns": [COLUMN_LABELS[c] for c in COLUMNS], "history": crm_objects_history(org=org),
        "saved": saved, "push_state": states[0] if states else None,
        # What the CRM lacks that some objects need (HubSpot: a scope, custom objects).
        "setup_problems": sorted(set((connection.config.get("push_setup_problems") or {}).values()))
        if connection else [],
        # Which limit stopped pushes, and until when (while it still holds).
        "paused_until": next((s.paused_until for s in states if s.paused_until and s.paused_until > timezone.now()),
                             None),
    }


def crm_objects_section(request, org) -> dict[str, Any]:
    return crm_objects_context(org=org, form=getattr(request, "_crm_objects_form", None),
                               saved=request.GET.get("saved") == SECTION_KEY)
