"""Keyset ("cursor") pagination on a unique ordering, e.g. ``(-started_at, -id)``.

DRF's ``CursorPagination`` keeps only the first ordering field in its cursor plus an
offset among equal values, so rows inserted with the same ``started_at`` between two
pages can shift the next one. Here the cursor holds the last row's values of every
ordering field and the next page is "strictly after" them: rows inserted or deleted
between pages never cause a duplicate or a skip."""

from __future__ import annotations

import base64
import binascii
import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

INVALID_CURSOR = "Invalid cursor: use the `next` link of the previous page."


class KeysetPagination(BasePagination):
    ordering: tuple[str, ...] = ("-id",)  # the last field must be unique
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = 50
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self._page_size(request)
        queryset = queryset.order_by(*self.ordering)
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            queryset = queryset.filter(self._after(queryset.model, raw))
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        self.page = rows[:size]
        return self.page

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return size

    def _fields(self, model):
        return [(name.lstrip("-"), name.startswith("-"), model._meta.get_field(name.lstrip("-")))
                for name in self.ordering]

    def _encode(self, row) -> str:
        values = [field.value_to_string(row) for _n, _d, field in self._fields(type(row))]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def _after(self, model, raw: str) -> Q:
        fields = self._fields(model)
        try:
            values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if not isinstance(values, list) or len(values) != len(fields):
                raise ValueError
            values = [field.to_python(v) for (_n, _d, field), v in zip(fields, values, strict=True)]
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, DjangoValidationError):
            raise exceptions.ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        if any(v is None for v in values):
            raise exceptions.ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        # (a, b) after (x, y) in the order: a beyond x, or a == x and b beyond y.
        condition, equal = Q(), Q()
        for (name, descending, _f), value in zip(fields, values, strict=True):
            condition |= equal & Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            equal &= Q(**{name: value})
        return condition

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self._encode(self.page[-1]))

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri",
                         "description": "The next page, or null on the last page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "The cursor from the previous page's `next` link.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Results per page (default {self.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]


class EngagementPagination(KeysetPagination):
    ordering = ("-started_at", "-id")


class IdPagination(KeysetPagination):
    ordering = ("id",)


