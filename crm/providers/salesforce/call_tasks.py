"""Dialer calls logged as Salesforce Tasks (``TaskSubtype = 'Call'``), for the dialer import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from integrations.calls import CallImportError, CallRecord, check_field_name, parse_dt, utc_text


class SalesforceCallTasks:
    """SOQL through simple-salesforce, ``nextRecordsUrl`` paging. The prospect's
    email comes from the CRM copy Chorus already synced (``CrmContact``), so a page
    costs one API call."""

    def __init__(self, sf, *, org):
        self.sf = sf
        self.org = org

    def soql(self, *, field: str, since: datetime, until: datetime) -> str:
        # SOQL, not SQL: the field name is checked above; the dates are formatted here.
        field = check_field_name(field)
        columns = ("Id, Subject, OwnerId, Owner.Email, WhoId, Who.Name, CallDurationInSeconds, CallType, "
                   f"CallDisposition, CreatedDate, LastModifiedDate, {field}")
        select = f"SELECT {columns} FROM Task"  # noqa: S608
        where = (f" WHERE TaskSubtype = 'Call' AND {field} != null AND LastModifiedDate >= {utc_text(since)} "
                 f"AND LastModifiedDate < {utc_text(until)}")
        return select + where + " ORDER BY LastModifiedDate, Id"

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        from simple_salesforce.exceptions import SalesforceError

        try:
            result = self.sf.query(self.soql(field=field, since=since, until=until))
            while True:
                rows = result.get("records", [])
                yield self._records(rows, field)
                if result.get("done", True) or not result.get("nextRecordsUrl"):
                    return
                result = self.sf.query_more(result["nextRecordsUrl"], identifier_is_url=True)
        except SalesforceError as exc:
            content = exc.content
            message = content[0].get("message") if isinstance(content, list) and content else str(exc)
            if "No such column" in str(message) or "INVALID_FIELD" in str(content):
                raise CallImportError(f"Salesforce has no Task field “{field}”. Edit the dialer and pick the "
                                        "field that holds the call recording URL.") from exc
            raise CallImportError(f"Salesforce answered: {message}") from exc

    def _records(self, rows: list[dict[str, Any]], field: str) -> list[CallRecord]:
        from crm.models import CrmContact

        who_ids = {r["WhoId"] for r in rows if r.get("WhoId")}
        emails = dict(CrmContact.objects.for_org(self.org).filter(provider="salesforce", remote_id__in=who_ids)
                      .values_list("remote_id", "email")) if who_ids else {}
        return [CallRecord(
            external_id=r["Id"], started_at=parse_dt(r.get("CreatedDate")),
            owner_email=((r.get("Owner") or {}).get("Email") or "").lower(),
            duration_seconds=int(r.get("CallDurationInSeconds") or 0), title=r.get("Subject") or "",
            prospect_name=(r.get("Who") or {}).get("Name") or "", prospect_email=emails.get(r.get("WhoId"), ""),
            media_source=(r.get(field) or "").strip(), direction=r.get("CallType") or "",
            disposition=r.get("CallDisposition") or "",
        ) for r in rows]
