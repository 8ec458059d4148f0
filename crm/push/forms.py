"""The CRM Objects Creation matrix form: one checkbox per cell the seed shows."""

from __future__ import annotations

from django import forms

from crm.providers import get_provider
from crm.push.models import CELLS, COLUMN_LABELS, COLUMNS, ROW_COLUMNS, ROW_LABELS, ROWS, cell_name
from crm.push.services import crm_objects_cells_validate


class CrmObjectsForm(forms.Form):
    def __init__(self, *args, provider: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        for row in ROWS:
            for column in ROW_COLUMNS[row]:
                self.fields[cell_name(row, column)] = forms.BooleanField(
                    required=False, label=f"{ROW_LABELS[row]} · {COLUMN_LABELS[column]}",
                    widget=forms.CheckboxInput(attrs={"aria-label": f"{ROW_LABELS[row]}: {COLUMN_LABELS[column]}"}))

    def clean(self):
        data = super().clean()
        cells = {name: bool(data.get(name)) for name in CELLS}
        for name, message in crm_objects_cells_validate(cells=cells, provider=self.provider).items():
            self.add_error(name, message)
        return data

    @property
    def cells(self) -> dict[str, bool]:
        return {name: bool(self.cleaned_data.get(name)) for name in CELLS}

    def matrix(self) -> list[dict]:
        """Rows for the template: label, and per column the bound field or None."""
        rows = []
        labels = {c: COLUMN_LABELS[c] for c in COLUMNS}
        for row in ROWS:
            if row == "event" and self.provider and not get_provider(self.provider).events:
                continue
            rows.append({"key": row, "label": ROW_LABELS[row],
                         "cells": [{"field": self[cell_name(row, c)], "label": labels[c]} if c in ROW_COLUMNS[row]
                                   else None for c in COLUMNS]})
        return rows
