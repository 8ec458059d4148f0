"""Salesforce: OAuth 2.0 web-server flow, REST and Bulk API 2.0 through simple-salesforce.

The instance URL comes from the token response, as in reality; the login URL is
the production one (``SALESFORCE_LOGIN_URL``), a sandbox, or the org's My Domain,
chosen by the admin and kept on the connection because a refresh must go back to
the same place.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlparse

import requests
from django.conf import settings
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from crm.providers.base import (
    ConnectRefused,
    CrmError,
    CrmHttpSession,
    CrmProviderBase,
    FieldInfo,
    Grant,
    Identity,
    ReconnectRequired,
    as_bool,
    reconnect_message,
    unsupported_reason,
)
from crm.providers.objects import ACCOUNT, CONTACT, LEAD, OPPORTUNITY
from integrations.http import http_session

API_VERSION = "59.0"
LABEL = "Salesforce"
SCOPES = "api refresh_token id"
# Above this many changed records an object is read with a Bulk API 2.0 query job
# (Salesforce recommends Bulk above ~2,000 records).
BULK_THRESHOLD = 2000
BULK_PAGE_SIZE = 10000  # rows per results page: one page in memory at a time
BULK_POLL_WAIT = 2  # seconds before the first job status poll (tests set 0)
ZOOMINFO_FIELD = "DOZISF__ZoomInfo_Id__c"
# Seed: "You must have either Enterprise, Unlimited, or Developer's Edition".
# Performance Edition is Unlimited plus extras and has the same API access.
ALLOWED_EDITIONS = ("Enterprise Edition", "Unlimited Edition", "Developer Edition", "Performance Edition")
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
MANUAL_REVOKE = "To revoke it yourself: Salesforce Setup > Connected Apps OAuth Usage > Chorus > Revoke."
ALLOWED_LOGIN_HOST_SUFFIXES = (".salesforce.com", ".force.com")

# Describe type → the seed's supported type name.
TYPE_MAP = {
    "currency": "Currency", "double": "Double", "percent": "Percent", "picklist": "Picklist",
    "multipicklist": "Multipicklist", "boolean": "Boolean", "int": "Number", "long": "Number",
    "date": "Date", "string": "String",
}
TYPE_LABELS = {
    "textarea": "Text Area", "reference": "Lookup", "datetime": "Date/Time", "email": "Email",
    "phone": "Phone", "url": "URL", "id": "Id", "address": "Address", "location": "Geolocation",
    "encryptedstring": "Encrypted Text", "time": "Time", "combobox": "Combo Box", "base64": "File",
}

OBJECT_FIELDS = {
    ACCOUNT: ["Id", "Name", "Website", "LastModifiedDate"],
    OPPORTUNITY: ["Id", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "AccountId",
                  "LastModifiedDate"],
    CONTACT: ["Id", "Email", "Name", "Title", "AccountId", "LastModifiedDate"],
    LEAD: ["Id", "Email", "Name", "Title", "ConvertedAccountId", "LastModifiedDate"],
}
# Converted leads are Contacts now; keeping both would count a person twice.
OBJECT_WHERE = {LEAD: "IsConverted = false"}


def login_url_for(config: dict) -> str:
    return (config.get("login_url") or settings.SALESFORCE_LOGIN_URL).rstrip("/")


def validate_login_url(environment: str, my_domain: str = "") -> str:
    """The login URL for the admin's choice: production, sandbox or My Domain."""
    if environment == "sandbox":
        default = settings.SALESFORCE_LOGIN_URL
        return SANDBOX_LOGIN_URL if urlparse(default).hostname == "login.salesforce.com" else default
    if environment == "mydomain":
        parsed = urlparse(my_domain.strip())
        host = (parsed.hostname or "").lower()
        configured = urlparse(settings.SALESFORCE_LOGIN_URL).hostname
        if parsed.scheme != "https" or not host:
            raise ConnectRefused("Enter your My Domain URL starting with https://, for example "
                                 "https://acme.my.salesforce.com.")
        if not (host.endswith(ALLOWED_LOGIN_HOST_SUFFIXES) or host == configured):
            raise ConnectRefused("That isn't a Salesforce address: My Domain URLs end in .my.salesforce.com. "
                                 "Chorus does not integrate with on-premises CRMs.")
        return f"https://{parsed.netloc}"
    return settings.SALESFORCE_LOGIN_URL


def _soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sf_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # 2024-01-01T00:00:00.000+0000
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


class SalesforceProvider(CrmProviderBase):
    key = "salesforce"
    label = LABEL
    connect_title = "Salesforce Connect"
    native_objects = {"Task": "Task", "Lead": "Lead", "Account": "Account", "Opportunity": "Opportunity"}
    connect_options_label = "Sandbox or My Domain?"
    events = True
    event_note = "Note: Events created this way will appear in your Salesforce calendar."
    subject_max = 255  # Task/Event Subject
    body_max = 32_000  # Description, a long text area
    zoominfo = True
    # Settings > Integrations > Install Salesforce Package: the steps and the package's
    # source (crm/views_package.py). The button opens ``package_page``; the push's
    # "package missing" sentence names ``package_url``.
    package_page = "crm-salesforce-package"
    sender_path = "crm.providers.salesforce.push.SalesforceSender"

    @property
    def package_url(self) -> str:
        """The absolute URL of Install Salesforce Package (for sentences outside a page)."""
        from django.urls import reverse

        return settings.CHORUS_BASE_URL + reverse(self.package_page)

    @property
    def connect_form(self):
        from crm.providers.salesforce.forms import SalesforceConnectForm

        return SalesforceConnectForm

    def connect_config(self, *, options: dict, login: bool) -> dict[str, Any]:
        return {"login_url": validate_login_url(options.get("environment") or "production",
                                                options.get("my_domain") or "")}

    def reconnect_fields(self, config: dict) -> dict[str, str]:
        return {"environment": "mydomain", "my_domain": config["login_url"]} if config.get("login_url") else {}

    def call_task_source(self, *, org, session):
        from crm.providers.salesforce.call_tasks import SalesforceCallTasks

        return SalesforceCallTasks(session.sf, org=org)


    def authorize_url(self, *, config: dict, state: str, redirect_uri: str, login: bool = False) -> tuple[str, dict]:
        query = {"response_type": "code", "client_id": settings.SALESFORCE_CLIENT_ID,
                 "redirect_uri": redirect_uri, "state": state, "scope": SCOPES}
        if not login:
            query["prompt"] = "login consent"
        return f"{login_url_for(config)}/services/oauth2/authorize?{urlencode(query)}", {}

    def _token_request(self, login_url: str, data: dict) -> dict:
        try:
            response = http_session().post(f"{login_url}/services/oauth2/token", data=data,
                                           headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise CrmError(f"Chorus could not reach Salesforce at {login_url} ({exc.__class__.__name__}).") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            if body.get("error") == "invalid_grant" and data.get("grant_type") == "refresh_token":
                raise ReconnectRequired(reconnect_message(LABEL))
            detail = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            raise ConnectRefused(f"Salesforce refused the sign-in: {detail}. Click Enable to try again.")
        return body

    def revoke(self, *, config: dict, secrets: dict) -> str:
        """Revoke Chorus's refresh token (and with it every access token it made) at
        the org's login URL. Returns "" when Salesforce holds no grant any more, or
        a sentence for the admin."""
        token = secrets.get("refresh_token") or secrets.get("access_token")
        if not token:
            return ""
        try:
            response = http_session().post(f"{login_url_for(config)}/services/oauth2/revoke",
                                           data={"token": str(token)})
        except requests.RequestException as exc:
            return (f"Salesforce could not be reached to revoke Chorus's access ({exc.__class__.__name__}). "
                    f"{MANUAL_REVOKE}")
        if response.status_code in (200, 400):  # 400 invalid_token: already revoked or expired
            return ""
        return f"Salesforce answered HTTP {response.status_code}. {MANUAL_REVOKE}"

    def exchange_code(self, *, config: dict, pending: dict, params: dict, redirect_uri: str) -> Grant:
        login_url = login_url_for(config)
        body = self._token_request(login_url, {
            "grant_type": "authorization_code", "code": params.get("code", ""),
            "client_id": settings.SALESFORCE_CLIENT_ID, "client_secret": settings.SALESFORCE_CLIENT_SECRET,
            "redirect_uri": redirect_uri,
        })
        identity = self._identity(body)
        return Grant(
            secrets={"access_token": body["access_token"], "refresh_token": body.get("refresh_token", "")},
            config={"login_url": login_url, "instance_url": body["instance_url"], "crm_org_id": identity.crm_org_id,
                    "crm_user_id": identity.crm_user_id, "crm_username": identity.email},
            identity=identity,
        )

    def _identity(self, token: dict) -> Identity:
        """The ``id`` URL of the token response (``…/id/<org id>/<user id>``) names
        the org; the identity service gives the person's email."""
        id_url = token.get("id", "")
        parts = urlparse(id_url).path.rstrip("/").split("/")
        org_id, user_id = (parts[-2], parts[-1]) if len(parts) >= 3 else ("", "")
        email = name = ""
        if id_url:
            try:
                r = http_session(access_token=token["access_token"]).get(id_url)
                if r.ok:
                    info = r.json()
                    email, name = info.get("email", ""), info.get("display_name", "")
                    org_id, user_id = info.get("organization_id", org_id), info.get("user_id", user_id)
            except (requests.RequestException, ValueError):
                pass
        return Identity(crm_org_id=org_id, email=email, name=name, crm_user_id=user_id)

    def session(self, *, config: dict, secrets: dict, on_tokens: Callable[[dict], None]) -> SalesforceSession:
        login_url = login_url_for(config)

        def refresh() -> str:
            if not secrets.get("refresh_token"):
                raise ReconnectRequired(reconnect_message(LABEL))
            body = self._token_request(login_url, {
                "grant_type": "refresh_token", "refresh_token": str(secrets["refresh_token"]),
                "client_id": settings.SALESFORCE_CLIENT_ID, "client_secret": settings.SALESFORCE_CLIENT_SECRET,
            })
            new = {"access_token": body["access_token"]}
            if body.get("refresh_token"):  # refresh-token rotation, when the connected app uses it
                new["refresh_token"] = body["refresh_token"]
            secrets.update(new)
            on_tokens(new)
            return body["access_token"]

        http = CrmHttpSession(access_token=str(secrets.get("access_token", "")), refresh=refresh, crm_label=LABEL)
        sf = Salesforce(instance_url=config["instance_url"], session_id=str(secrets.get("access_token", "")),
                        session=http, version=API_VERSION)
        return SalesforceSession(sf)


class SalesforceSession:
    def __init__(self, sf: Salesforce):
        self.sf = sf
        self._describe_cache: dict[str, dict] = {}

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SalesforceError as exc:
            content = exc.content
            code = content[0].get("errorCode") if isinstance(content, list) and content else ""
            message = content[0].get("message") if isinstance(content, list) and content else str(exc)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise CrmError("Salesforce's daily API allocation is used up; the sync continues "
                               "when Salesforce allows it again.") from exc
            raise CrmError(f"Salesforce answered: {message}") from exc

    def verify(self) -> dict[str, Any]:
        result = self._call(self.sf.query, "SELECT Id, Name, OrganizationType, IsSandbox FROM Organization")
        org = (result.get("records") or [{}])[0]
        edition = org.get("OrganizationType") or ""
        if edition not in ALLOWED_EDITIONS:
            raise ConnectRefused(
                f"This Salesforce org is {edition or 'an unknown edition'}. Chorus needs Enterprise, "
                "Unlimited or Developer Edition of Salesforce (API access); ask your Salesforce "
                "account executive about upgrading.")
        return {"edition": edition, "is_sandbox": bool(org.get("IsSandbox")), "crm_org_name": org.get("Name", "")}

    def _describe(self, object_name: str) -> dict:
        if object_name not in self._describe_cache:
            self._describe_cache[object_name] = self._call(getattr(self.sf, object_name).describe)
        return self._describe_cache[object_name]

    def describe(self, object_name: str) -> list[FieldInfo]:
        fields = []
        for f in self._describe(object_name).get("fields", []):
            if not f.get("custom"):
                continue
            sf_type = f.get("type", "")
            if f.get("calculated") and sf_type in TYPE_MAP:
                chorus_type, supported = "Formula", True
            elif sf_type in TYPE_MAP:
                chorus_type, supported = TYPE_MAP[sf_type], True
            else:
                chorus_type, supported = TYPE_LABELS.get(sf_type, sf_type.title()), False
            fields.append(FieldInfo(
                object_name=object_name, api_name=f["name"], label=f.get("label") or f["name"],
                field_type=chorus_type, supported=supported,
                unsupported_reason="" if supported else unsupported_reason(chorus_type),
                picklist_values=[p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)],
            ))
        return fields

    def zoominfo_installed(self) -> bool:
        """The ZoomInfo Salesforce app adds this field to Account; rule 1 of account
        matching applies only when it is there."""
        return ZOOMINFO_FIELD in self._field_names(ACCOUNT)

    def _field_names(self, object_name: str) -> set[str]:
        return {f["name"] for f in self._describe(object_name).get("fields", [])}

    def _soql(self, object_name: str, *, since: datetime | None, custom_fields: dict[str, str]) -> str:
        names = list(OBJECT_FIELDS[object_name])
        existing = self._field_names(object_name)
        if object_name == ACCOUNT and ZOOMINFO_FIELD in existing:
            names.append(ZOOMINFO_FIELD)
        names += [f for f in custom_fields if f in existing and f not in names]
        # SOQL, not SQL: object and field names come from OBJECT_FIELDS and the describe.
        return f"SELECT {', '.join(names)} FROM {object_name}{self._where(object_name, since)}"  # noqa: S608

    @staticmethod
    def _where(object_name: str, since: datetime | None) -> str:
        clauses = [OBJECT_WHERE[object_name]] if object_name in OBJECT_WHERE else []
        if since:
            clauses.append(f"LastModifiedDate > {_soql_datetime(since)}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else ""

    def count(self, object_name: str, *, since: datetime | None) -> int | None:
        soql = f"SELECT COUNT() FROM {object_name}{self._where(object_name, since)}"  # noqa: S608 (SOQL, fixed names)
        result = self._call(self.sf.query, soql)
        return int(result.get("totalSize", 0))

    def records(self, object_name: str, *, since: datetime | None, custom_fields: dict[str, str],
                total: int | None = None) -> Iterator[dict[str, Any]]:
        soql = self._soql(object_name, since=since, custom_fields=custom_fields)
        if total is not None and total > BULK_THRESHOLD:
            rows = self._bulk_rows(object_name, soql)
        else:
            rows = self._rest_rows(soql + " ORDER BY LastModifiedDate")
        for row in rows:
            yield normalise(object_name, row, custom_fields)

    def _rest_rows(self, soql: str) -> Iterator[dict]:
        """REST query, page by page (``nextRecordsUrl``): one page in memory."""
        result = self._call(self.sf.query, soql)
        while True:
            yield from result.get("records", [])
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                return
            result = self._call(self.sf.query_more, result["nextRecordsUrl"], identifier_is_url=True)

    def _bulk_rows(self, object_name: str, soql: str) -> Iterator[dict]:
        """A Bulk API 2.0 query job; its CSV result pages are read one at a time."""
        pages = getattr(self.sf.bulk2, object_name).query(soql, max_records=BULK_PAGE_SIZE, wait=BULK_POLL_WAIT)
        while True:
            try:
                page = self._call(next, pages)
            except StopIteration:
                return
            yield from csv.DictReader(io.StringIO(page))


def _empty(value: Any) -> Any:
    return None if value == "" else value


def normalise(object_name: str, row: dict, custom_fields: dict[str, str]) -> dict[str, Any]:
    """One REST record (JSON) or Bulk row (CSV text) in the sync's shape."""
    base = {"remote_id": row["Id"], "modified_at": parse_sf_datetime(row.get("LastModifiedDate")),
            "custom": {f: _empty(row.get(f)) for f in custom_fields if f in row}}
    if object_name == ACCOUNT:
        base.update(name=row.get("Name") or "", website=row.get("Website") or "",
                    zoominfo_id=row.get(ZOOMINFO_FIELD) or "")
    elif object_name == OPPORTUNITY:
        base.update(name=row.get("Name") or "", stage=row.get("StageName") or "", amount=_empty(row.get("Amount")),
                    close_date=_empty(row.get("CloseDate")), is_closed=as_bool(row.get("IsClosed")),
                    is_won=as_bool(row.get("IsWon")), account_remote_id=row.get("AccountId") or "")
    else:
        base.update(email=(row.get("Email") or "").lower(), name=row.get("Name") or "", title=row.get("Title") or "",
                    account_remote_id=row.get("AccountId") or row.get("ConvertedAccountId") or "",
                    kind="lead" if object_name == LEAD else "contact")
    return base


provider = SalesforceProvider()
