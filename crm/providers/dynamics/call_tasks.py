"""Dialer calls logged as Dynamics Phone Call activities, for the dialer import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from integrations.calls import CallImportError, CallRecord, check_field_name, parse_dt, utc_text


class DynamicsCallTasks:
    """Dynamics logs dialer calls as Phone Call activities (``phonecalls``) with
    the recording URL in the custom column the admin picked; the owner's email
    comes from the owning user, the prospect from the "To" activity party (its
    email from the synced CRM copy). Paged with ``@odata.nextLink``."""

    TO_RECIPIENT = 2  # activityparty participationtypemask

    def __init__(self, session, *, org):
        self.session = session
        self.org = org

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        from crm.providers.base import CrmError

        field = check_field_name(field).lower()  # Dataverse logical names are lower-case
        params = {
            "$select": f"activityid,subject,actualdurationminutes,directioncode,createdon,modifiedon,{field}",
            "$expand": "owninguser($select=internalemailaddress),"
                       "phonecall_activity_parties($select=participationtypemask,_partyid_value)",
            "$filter": f"{field} ne null and modifiedon ge {utc_text(since)} and modifiedon lt {utc_text(until)}",
            "$orderby": "modifiedon asc,activityid asc",
        }
        try:
            data = self.session._get(self.session.base + "phonecalls", params=params, max_page=True)
            while True:
                yield self._records(data.get("value", []), field)
                next_link = data.get("@odata.nextLink")
                if not next_link:
                    return
                data = self.session._get(next_link, max_page=True)
        except CrmError as exc:
            if "Could not find a property named" in str(exc):
                raise CallImportError(f"Dynamics has no Phone Call column “{field}”. Edit the dialer and pick "
                                        "the column that holds the call recording URL.") from exc
            raise CallImportError(str(exc)) from exc

    def _records(self, rows: list[dict[str, Any]], field: str) -> list[CallRecord]:
        from crm.models import CrmContact

        def to_party(row):
            parties = row.get("phonecall_activity_parties") or []
            return next((p for p in parties if p.get("participationtypemask") == self.TO_RECIPIENT), {})

        party_ids = {to_party(r).get("_partyid_value") for r in rows} - {None}
        emails = dict(CrmContact.objects.for_org(self.org).filter(provider="dynamics", remote_id__in=party_ids)
                      .values_list("remote_id", "email")) if party_ids else {}
        name_key = "_partyid_value@OData.Community.Display.V1.FormattedValue"
        return [CallRecord(
            external_id=r["activityid"], started_at=parse_dt(r.get("createdon")),
            owner_email=((r.get("owninguser") or {}).get("internalemailaddress") or "").lower(),
            duration_seconds=int(r.get("actualdurationminutes") or 0) * 60, title=r.get("subject") or "",
            prospect_name=to_party(r).get(name_key) or "",
            prospect_email=emails.get(to_party(r).get("_partyid_value"), ""),
            media_source=(r.get(field) or "").strip(), direction="outbound" if r.get("directioncode") else "inbound",
        ) for r in rows]
