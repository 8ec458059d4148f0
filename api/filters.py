"""Filters of the engagement list. A value that does not parse is a 400 naming the
filter; an id of another organisation simply matches nothing."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.db.models import Q

from chorus.models import Engagement

MAX_ID = 2**63 - 1
# RFC 3339 date-time, as the schema says (``format: date-time``): a full time with
# an offset. Django alone would also take a bare date or a time without offset.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)


class Rfc3339Field(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        if value not in self.empty_values and not RFC3339.match(str(value)):
            raise forms.ValidationError("Enter a date and time with its offset, e.g. 2026-03-02T09:00:00Z.",
                                        code="invalid")
        return super().to_python(value)


class Rfc3339Filter(django_filters.IsoDateTimeFilter):
    field_class = Rfc3339Field


class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class EngagementFilter(django_filters.FilterSet):
    started_after = Rfc3339Filter(
        field_name="started_at", lookup_expr="gte", label="Started at or after (ISO 8601).")
    started_before = Rfc3339Filter(
        field_name="started_at", lookup_expr="lt", label="Started before (ISO 8601).")
    owner = django_filters.CharFilter(method="filter_owner", max_length=254, label="The owner's email address or id.")
    account = IdFilter(field_name="account_match__account_id", label="Matched to this account (/accounts/{id}).")
    opportunity = IdFilter(field_name="account_match__opportunity_id",
                           label="Matched to this opportunity (/opportunities/{id}).")
    kind = django_filters.ChoiceFilter(choices=Engagement.Kind.choices)
    updated_since = Rfc3339Filter(
        field_name="api_updated_at", lookup_expr="gte",
        label="Created, processed or matched to an account at or after (ISO 8601).")

    class Meta:
        model = Engagement
        fields: list[str] = []

    def filter_owner(self, queryset, name, value):
        value = value.strip()
        if value.isdigit():
            owner_id = int(value)
            return queryset.filter(owner_id=owner_id) if owner_id <= MAX_ID else queryset.none()
        return queryset.filter(Q(owner__email__iexact=value))

    def is_valid(self) -> bool:
        # A parameter given empty (``?kind=``) is a mistake, not "no filter".
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and self.data.get(name) == "":
                self.form.add_error(name, "Give a value or leave the parameter out.")
        return valid and not self.form.errors
