"""Tenancy helpers: every tenant-owned row has ``org`` and is read through ``for_org``.

Views take the org from ``request.user``; other entry points (SCIM token, Slack
team id, Zoom account id, API token) resolve it first and then use the same
querysets. A lookup by id always goes through ``for_org`` so another
organisation's id is a 404, never a leak.
"""

from __future__ import annotations

from django.db import models
from django.shortcuts import get_object_or_404


class OrgQuerySet(models.QuerySet):
    def for_org(self, org):
        if org is None:
            return self.none()
        return self.filter(org=org)


class OrgManager(models.Manager.from_queryset(OrgQuerySet)):
    pass


def get_for_org_or_404(model_or_qs, org, **lookup):
    qs = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    return get_object_or_404(qs.filter(org=org) if org is not None else qs.none(), **lookup)
