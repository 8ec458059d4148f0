"""The Gainsight Integration section of Settings > Integrations."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from chorus.secrets import mask
from gainsight.forms import GainsightForm
from gainsight.services import gainsight_connection, salesforce_problem
from gainsight.views import REQUEST_FORM
from integrations.models import Delivery

TARGET = "gainsight"


def gainsight_section(request, org) -> dict[str, Any] | None:
    action = reverse("gainsight-connect")
    form = getattr(request, REQUEST_FORM, None)
    connection = gainsight_connection(org=org)
    problems = []
    if connection is not None:
        problems = list(Delivery.objects.for_org(org).filter(target=TARGET, status=Delivery.Status.FAILED)
                        .exclude(last_error="").select_related("engagement").order_by("-next_attempt_at", "-id")[:5])
    return {
        "enterprise": org.is_enterprise,
        "salesforce_problem": salesforce_problem(org=org),
        "connection": connection,
        "access_key_masked": mask((connection.secrets or {}).get("access_key")) if connection else "",
        "form": form or GainsightForm(),
        "open": form is not None or request.GET.get("gainsight") == "add",
        "action": action,
        "remove_action": reverse("gainsight-remove"),
        "problems": problems,
    }
