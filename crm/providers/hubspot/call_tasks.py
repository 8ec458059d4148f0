"""Dialer calls logged as HubSpot call engagements, for the dialer import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from integrations.calls import CallRecord, check_field_name, parse_dt

HUBSPOT_RECORDING = "hs_call_recording_url"


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))
HUBSPOT_PAGE = 100  # HubSpot search returns at most 100 per page


class HubSpotCallTasks:
    """HubSpot logs dialer calls as Call engagements; searched by last modification
    (``hs_lastmodifieddate``), paged with ``after``. HubSpot Dialer leaves the field
    blank: the native ``hs_call_recording_url`` is used."""

    def __init__(self, session, *, org):
        self.session = session
        self.org = org

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        from hubspot.crm.objects import PublicObjectSearchRequest

        field = check_field_name(field) if field else HUBSPOT_RECORDING
        props = ["hs_call_title", "hs_timestamp", "hs_call_duration", "hubspot_owner_id", "hs_call_direction",
                 "hs_call_disposition", field]
        after = None
        owners: dict[str, str] | None = None
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[{"filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": _ms(since)},
                    {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": _ms(until)},
                    {"propertyName": field, "operator": "HAS_PROPERTY"},
                ]}],
                sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                properties=props, limit=HUBSPOT_PAGE, after=after)
            page = self.session._call(lambda api, request=request: api.crm.objects.calls.search_api.do_search(
                public_object_search_request=request))
            if owners is None:
                owners = self._owners()
            records = []
            for call in page.results or []:
                p = call.properties or {}
                records.append(CallRecord(
                    external_id=str(call.id), started_at=parse_dt(p.get("hs_timestamp")),
                    owner_email=owners.get(p.get("hubspot_owner_id") or "", ""),
                    duration_seconds=int(float(p.get("hs_call_duration") or 0) / 1000),
                    title=p.get("hs_call_title") or "", media_source=(p.get(field) or "").strip(),
                    direction=p.get("hs_call_direction") or "", disposition=p.get("hs_call_disposition") or ""))
            yield records
            nxt = page.paging.next.after if page.paging and page.paging.next else None
            if not nxt:
                return
            after = nxt

    def _owners(self) -> dict[str, str]:
        result = self.session._call(lambda api: api.crm.owners.owners_api.get_page(limit=500))
        return {str(o.id): (o.email or "").lower() for o in result.results or []}
