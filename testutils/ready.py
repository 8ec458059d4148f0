"""A spy on the ``engagements_ready`` step's CRM push listener (a pytest plugin
loaded by the root conftest): ``crm_push_ready_calls`` lists the engagement ids the
CRM push listener was handed, in order, while it still does its work."""

from __future__ import annotations

import pytest


@pytest.fixture
def crm_push_ready_calls(monkeypatch) -> list[int]:
    from integrations.ready import LISTENERS, ReadyListener

    calls: list[int] = []
    entry = LISTENERS["crm.push"]

    def spy(*, org, engagements):
        calls.extend(e.id for e in engagements)
        entry.func(org=org, engagements=engagements)

    monkeypatch.setitem(LISTENERS, "crm.push", ReadyListener(entry.name, spy, entry.order))
    return calls
