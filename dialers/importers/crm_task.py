"""The ``crm_task`` family: most dialers log each call as a Task in the CRM with
the recording's URL in a field the admin picks (seed: "Chorus will import your
dialer calls from the Call Recording URL located on the Call Task").

The CRM is reached through the connected CRM's own session (``crm.services``);
this module only needs the small :class:`CallTaskSource` protocol, so a CRM is
one class here, not one per dialer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any, Protocol

import requests

from dialers.importers.base import CallRecord, DialerImportError, Stored, http_fetch

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
SOQL_PAGE = 2000  # Salesforce's REST query page size (the server decides; this is the usual value)


def check_field_name(name: str) -> str:
    """The field goes into a SOQL query or a HubSpot property list: API names only."""
    if not FIELD_NAME.match(name or ""):
        raise DialerImportError(f"“{name}” is not a CRM API field name (letters, digits and underscores, "
                                "e.g. Call_Recording__c). Edit the dialer and pick the field again.")
    return name


class CallTaskSource(Protocol):
    """Call Tasks of one CRM whose ``field`` holds a recording URL, modified in ``[since, until)``."""

    def call_tasks(self, *, field: str, since: datetime, until: datetime) -> Iterator[list[CallRecord]]: ...


def _soql_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))


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
        where = (f" WHERE TaskSubtype = 'Call' AND {field} != null AND LastModifiedDate >= {_soql_dt(since)} "
                 f"AND LastModifiedDate < {_soql_dt(until)}")
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
                raise DialerImportError(f"Salesforce has no Task field “{field}”. Edit the dialer and pick the "
                                        "field that holds the call recording URL.") from exc
            raise DialerImportError(f"Salesforce answered: {message}") from exc

    def _records(self, rows: list[dict[str, Any]], field: str) -> list[CallRecord]:
        from crm.models import CrmContact

        who_ids = {r["WhoId"] for r in rows if r.get("WhoId")}
        emails = dict(CrmContact.objects.for_org(self.org).filter(provider="salesforce", remote_id__in=who_ids)
                      .values_list("remote_id", "email")) if who_ids else {}
        return [CallRecord(
            external_id=r["Id"], started_at=_parse_dt(r.get("CreatedDate")),
            owner_email=((r.get("Owner") or {}).get("Email") or "").lower(),
            duration_seconds=int(r.get("CallDurationInSeconds") or 0), title=r.get("Subject") or "",
            prospect_name=(r.get("Who") or {}).get("Name") or "", prospect_email=emails.get(r.get("WhoId"), ""),
            media_source=(r.get(field) or "").strip(), direction=r.get("CallType") or "",
            disposition=r.get("CallDisposition") or "",
        ) for r in rows]


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
                    external_id=str(call.id), started_at=_parse_dt(p.get("hs_timestamp")),
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


def _odata_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
            "$filter": f"{field} ne null and modifiedon ge {_odata_dt(since)} and modifiedon lt {_odata_dt(until)}",
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
                raise DialerImportError(f"Dynamics has no Phone Call column “{field}”. Edit the dialer and pick "
                                        "the column that holds the call recording URL.") from exc
            raise DialerImportError(str(exc)) from exc

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
            external_id=r["activityid"], started_at=_parse_dt(r.get("createdon")),
            owner_email=((r.get("owninguser") or {}).get("internalemailaddress") or "").lower(),
            duration_seconds=int(r.get("actualdurationminutes") or 0) * 60, title=r.get("subject") or "",
            prospect_name=to_party(r).get(name_key) or "",
            prospect_email=emails.get(to_party(r).get("_partyid_value"), ""),
            media_source=(r.get(field) or "").strip(), direction="outbound" if r.get("directioncode") else "inbound",
        ) for r in rows]


def call_task_source(*, org, crm_connection) -> CallTaskSource:
    """The connected CRM's call tasks, through the CRM app's authenticated session."""
    from crm.services import crm_session_open

    if crm_connection is None:
        raise DialerImportError("Connect your CRM under CRM Connect first: this dialer's calls are read from "
                                "the CRM's call Tasks.")
    session = crm_session_open(connection=crm_connection)
    if crm_connection.provider == "salesforce":
        return SalesforceCallTasks(session.sf, org=org)
    if crm_connection.provider == "hubspot":
        return HubSpotCallTasks(session, org=org)
    if crm_connection.provider == "dynamics":
        return DynamicsCallTasks(session, org=org)
    raise DialerImportError(f"Dialer calls cannot be read from “{crm_connection.provider}”.")


class CrmTaskImporter:
    """Calls from CRM Tasks; recordings fetched over HTTP. Dialers whose seed row
    asks for a username/password or key/secret get them sent as HTTP Basic (or
    an API key header) on the recording download."""

    def __init__(self, *, source: CallTaskSource, field: str, http: requests.Session, auth=None,
                 headers: dict | None = None):
        self.source, self.field, self.http, self.auth, self.headers = source, field, http, auth, headers

    def pages(self, *, since: datetime, until: datetime) -> Iterator[list[CallRecord]]:
        return self.source.call_tasks(field=self.field, since=since, until=until)

    def fetch_media(self, record_source: str, dest: IO[bytes], *, max_bytes: int) -> Stored:
        return http_fetch(self.http, record_source, dest, max_bytes=max_bytes, auth=self.auth, headers=self.headers)
