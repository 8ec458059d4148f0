"""Custom CRM Filters (seed: "On the Recordings, Deals, or Analytics pages, your
users will see the new filters under Custom CRM Filters").

The standard five — Account Name, Opportunity Name, Opportunity Stage, Opportunity
Size, Close Date — plus one filter per imported CRM field (Settings > Integration
Settings > Select CRM Fields) of the Account and Opportunity objects, each with the
widget its type calls for: a range for numbers and dates, a multi-select for
picklists, yes/no for booleans, text for strings and formulas.

Filters are built per request from the org's selected ``CrmField`` rows, and apply
to any queryset through a path prefix (``account_match__`` for engagements, none
for opportunities), so Recordings, Deals and Analytics share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import django_filters
from django import forms
from django.db.models import FloatField, Q, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast

from crm.models import CrmAccount, CrmField, CrmOpportunity
from crm.providers.base import NUMERIC_TYPES

DATE_RANGE_WIDGET = django_filters.widgets.DateRangeWidget


@dataclass(frozen=True)
class Paths:
    """Where the account and the opportunity are, seen from the filtered model."""

    account: str
    opportunity: str


ENGAGEMENT_PATHS = Paths(account="account_match__account__", opportunity="account_match__opportunity__")
OPPORTUNITY_PATHS = Paths(account="account__", opportunity="")


def _stage_choices(org):
    stages = (
        CrmOpportunity.objects.for_org(org).exclude(stage="").order_by("stage").values_list("stage", flat=True)
        .distinct()[:200]
    )
    return [(s, s) for s in stages]


def _value_filter(base: str, key: str, field_type: str, alias: str):
    """A filter method comparing one key of a ``custom`` JSON column. Keys are
    used whole (Salesforce names end in ``__c``, which a lookup path would split)."""
    # Cast: KeyTransform's own lookups treat the right-hand side as JSON on SQLite.
    text = Cast(KeyTextTransform(key, f"{base}custom"), TextField())

    def apply(qs, _name, value):
        if value in (None, "", [], ()):
            return qs
        if isinstance(value, slice):  # ranges: numbers, dates
            expr = Cast(text, FloatField()) if field_type in NUMERIC_TYPES else text
            qs = qs.alias(**{alias: expr})
            if value.start is not None:
                qs = qs.filter(**{f"{alias}__gte": _plain(value.start)})
            if value.stop is not None:
                qs = qs.filter(**{f"{alias}__lte": _plain(value.stop)})
            return qs
        if field_type == "Boolean":
            return qs.alias(**{alias: KeyTransform(key, f"{base}custom")}).filter(**{alias: bool(value)})
        qs = qs.alias(**{alias: text})
        if field_type in ("Picklist", "Multipicklist"):
            q = Q()
            for v in value:
                # A multipicklist is a JSON list: match one whole element, quotes included.
                q |= Q(**{f"{alias}__icontains": f'"{v}"'}) if field_type == "Multipicklist" else Q(**{alias: v})
            return qs.filter(q)
        return qs.filter(**{f"{alias}__icontains": value})

    return apply


def _plain(v):
    return v.isoformat() if hasattr(v, "isoformat") else float(v)


def imported_filters(org, paths: Paths) -> dict[str, django_filters.Filter]:
    """One filter per selected, still-present Account / Opportunity field."""
    out: dict[str, django_filters.Filter] = {}
    fields = CrmField.objects.for_org(org).filter(
        selected=True, supported=True, missing_since__isnull=True, object_name__in=["Account", "Opportunity"]
    )
    for f in fields:
        base = paths.account if f.object_name == "Account" else paths.opportunity
        name = f"crm_{f.object_name.lower()}_{f.api_name}".lower()
        kwargs = {"label": f"{f.label} ({f.object_name})",
                  "method": _value_filter(base, f.api_name, f.field_type, alias=f"_{name}")}
        if f.field_type in ("Picklist", "Multipicklist"):
            out[name] = django_filters.MultipleChoiceFilter(choices=[(v, v) for v in f.picklist_values], **kwargs)
        elif f.field_type in NUMERIC_TYPES:
            out[name] = django_filters.RangeFilter(**kwargs)
        elif f.field_type == "Date":
            out[name] = django_filters.DateFromToRangeFilter(widget=DATE_RANGE_WIDGET(attrs={"type": "date"}), **kwargs)
        elif f.field_type == "Boolean":
            out[name] = django_filters.BooleanFilter(**kwargs)
        else:  # String, Formula
            out[name] = django_filters.CharFilter(**kwargs)
    return out


def standard_filters(org, paths: Paths) -> dict[str, django_filters.Filter]:
    return {
        "account_name": django_filters.CharFilter(
            label="Account Name", field_name=f"{paths.account}name", lookup_expr="icontains"
        ),
        "opportunity_name": django_filters.CharFilter(
            label="Opportunity Name", field_name=f"{paths.opportunity}name", lookup_expr="icontains"
        ),
        "opportunity_stage": django_filters.MultipleChoiceFilter(
            label="Opportunity Stage", field_name=f"{paths.opportunity}stage", choices=_stage_choices(org)
        ),
        "opportunity_size": django_filters.RangeFilter(
            label="Opportunity Size", field_name=f"{paths.opportunity}amount"
        ),
        "close_date": django_filters.DateFromToRangeFilter(
            label="Close Date", field_name=f"{paths.opportunity}close_date",
            widget=DATE_RANGE_WIDGET(attrs={"type": "date"}),
        ),
    }


def crm_filterset_class(base: type[django_filters.FilterSet], *, org, paths: Paths):
    """``base`` extended with the Custom CRM Filters of ``org`` (none until its CRM
    data has been synced)."""
    has_crm = CrmAccount.objects.for_org(org).exists()
    crm = {**standard_filters(org, paths), **imported_filters(org, paths)} if has_crm else {}
    cls = type(f"Crm{base.__name__}", (base,), {})
    cls.base_filters = {**base.base_filters, **crm}
    cls.crm_filter_names = tuple(crm)
    return cls


class OpportunityFilter(django_filters.FilterSet):
    class Meta:
        model = CrmOpportunity
        fields: list[str] = []

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)


def crm_fields_of(filterset) -> list[forms.BoundField]:
    names = getattr(filterset, "crm_filter_names", ())
    return [filterset.form[n] for n in names if n in filterset.form.fields]
