"""Microsoft Dynamics 365: the admin types the org URL, signs in with Microsoft
(msal, authorization-code flow with PKCE), and Chorus reads the Dataverse Web API
with requests.

The org URL is admin input that Chorus will send a bearer token to, so it must be
https and on an allowed host (``DYNAMICS_ALLOWED_HOSTS``, default ``*.dynamics.com``):
anything else could leak the token to a host the admin mistyped, and on-premises
Dynamics is not supported anyway.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

import msal
from django.conf import settings
from django.utils import timezone

from crm.providers.base import (
    ConnectRefused,
    CrmError,
    CrmHttpSession,
    CrmProviderBase,
    FieldInfo,
    Grant,
    Identity,
    ReconnectRequired,
    reconnect_message,
    unsupported_reason,
)
from crm.providers.objects import ACCOUNT, CONTACT, LEAD, OPPORTUNITY
from integrations.http import ca_bundle

LABEL = "Microsoft Dynamics"
API_PATH = "/api/data/v9.2/"
PAGE_SIZE = 5000  # odata.maxpagesize; Dataverse's own maximum
FORMATTED = "OData.Community.Display.V1.FormattedValue"
MICROSOFT_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn")

NATIVE = {"Task": "task", "Lead": "lead", "Account": "account", "Opportunity": "opportunity"}
ENTITY_SETS = {ACCOUNT: "accounts", OPPORTUNITY: "opportunities", CONTACT: "contacts", LEAD: "leads"}
ID_FIELDS = {ACCOUNT: "accountid", OPPORTUNITY: "opportunityid", CONTACT: "contactid", LEAD: "leadid"}
SELECT = {
    ACCOUNT: ["accountid", "name", "websiteurl", "modifiedon"],
    OPPORTUNITY: ["opportunityid", "name", "salesstage", "stepname", "estimatedvalue", "estimatedclosedate",
                  "statecode", "_parentaccountid_value", "modifiedon"],
    CONTACT: ["contactid", "emailaddress1", "fullname", "jobtitle", "_parentcustomerid_value", "modifiedon"],
    LEAD: ["leadid", "emailaddress1", "fullname", "jobtitle", "_parentaccountid_value", "modifiedon"],
}
# Open leads only: qualified ones became contacts and opportunities.
FILTER = {LEAD: "statecode eq 0"}

# The metadata cast that carries a choice column's options, by Chorus type.
OPTION_METADATA = {"Picklist": "PicklistAttributeMetadata", "Multipicklist": "MultiSelectPicklistAttributeMetadata"}
TYPE_MAP = {
    "Money": "Currency", "Double": "Double", "Decimal": "Double", "Integer": "Number", "BigInt": "Number",
    "Picklist": "Picklist", "State": "Picklist", "Status": "Picklist", "Boolean": "Boolean",
    "DateTime": "Date", "String": "String",
}
TYPE_LABELS = {"Memo": "Multiple Lines of Text", "Lookup": "Lookup", "Customer": "Customer", "Owner": "Owner",
               "Uniqueidentifier": "Unique Identifier", "Virtual": "Virtual", "EntityName": "Entity Name"}


def validate_org_url(value: str) -> str:
    """The admin's Dynamics URL, normalised to ``https://host``, or a refusal an admin can act on."""
    raw = (value or "").strip()
    parsed = urlparse(raw if "://" in raw else f"https://{raw}" if raw and "." in raw else raw)
    host = (parsed.hostname or "").lower()
    example = "It looks like https://EXAMPLE.crm.dynamics.com."
    if not raw or not host:
        raise ConnectRefused(f"Enter your organization's Dynamics URL. {example}")
    if parsed.scheme != "https":
        raise ConnectRefused(f"The Dynamics URL must start with https://. {example}")
    if parsed.username or parsed.password:
        raise ConnectRefused(f"The Dynamics URL can't contain a user name or password. {example}")
    if not any(fnmatch.fnmatch(host, pattern.lower()) for pattern in settings.DYNAMICS_ALLOWED_HOSTS):
        raise ConnectRefused(f"{host} isn't a Dynamics 365 online address. {example} "
                             "Chorus does not integrate with on-premises Dynamics.")
    return f"https://{parsed.netloc.lower()}"


def _app() -> msal.ConfidentialClientApplication:
    authority = f"{settings.MICROSOFT_AUTHORITY_URL}/organizations"
    is_microsoft = urlparse(settings.MICROSOFT_AUTHORITY_URL).hostname in MICROSOFT_HOSTS
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID, client_credential=settings.MICROSOFT_CLIENT_SECRET, authority=authority,
            # Off for a non-Microsoft authority (staging, tests): msal would ask Microsoft to validate it.
            instance_discovery=None if is_microsoft else False,
            verify=ca_bundle(), timeout=30,
        )
    except Exception as exc:  # authority metadata unreachable or invalid
        raise CrmError(f"Chorus could not reach Microsoft sign-in ({exc.__class__.__name__}).") from exc


def _scopes(org_url: str) -> list[str]:
    return [f"{org_url}/user_impersonation"]


def _tokens(result: dict) -> dict:
    return {"access_token": result["access_token"], "refresh_token": result.get("refresh_token", ""),
            "expires_at": (timezone.now() + timedelta(seconds=int(result.get("expires_in") or 3600))).isoformat()}


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class DynamicsProvider(CrmProviderBase):
    key = "dynamics"
    label = LABEL
    connect_title = "Microsoft Dynamics Connect"
    native_objects = NATIVE
    sign_in_label = "Microsoft"
    connect_form_first = True
    connect_intro = ("Type or paste your organization's unique Dynamics URL, then click Connect and log in to "
                     "Microsoft Dynamics.")
    events = True
    event_note = "Note: Events created this way will appear as Outlook appointments."
    subject_max = 200  # subject
    body_max = 2_000  # description on task and appointment (default column size)
    sender_path = "crm.providers.dynamics.push.DynamicsSender"

    @property
    def connect_form(self):
        from crm.providers.dynamics.forms import DynamicsConnectForm

        return DynamicsConnectForm

    def connect_config(self, *, options: dict, login: bool) -> dict[str, Any]:
        return {"org_url": "" if login else validate_org_url(options.get("org_url", ""))}

    def reconnect_fields(self, config: dict) -> dict[str, str]:
        return {"org_url": config.get("org_url", "")}

    def call_task_source(self, *, org, session):
        from crm.providers.dynamics.call_tasks import DynamicsCallTasks

        return DynamicsCallTasks(session, org=org)


    def revoke(self, *, config: dict, secrets: dict) -> str:
        """Microsoft identity has no endpoint for an app to revoke its own refresh
        token; Chorus forgets it, and a tenant admin removes the consent."""
        return ("Microsoft does not let an app revoke its own sign-in: to revoke Chorus's consent, an Entra ID "
                "admin removes Chorus under Enterprise applications.") if secrets.get("refresh_token") else ""

    def authorize_url(self, *, config: dict, state: str, redirect_uri: str, login: bool = False) -> tuple[str, dict]:
        scopes = ["User.Read"] if login else _scopes(validate_org_url(config.get("org_url", "")))
        flow = _app().initiate_auth_code_flow(scopes, redirect_uri=redirect_uri, state=state,
                                              prompt=None if login else "select_account")
        if "auth_uri" not in flow:
            raise CrmError(f"Microsoft sign-in could not start: {flow.get('error_description') or flow}")
        return flow["auth_uri"], {"flow": flow}

    def exchange_code(self, *, config: dict, pending: dict, params: dict, redirect_uri: str) -> Grant:
        try:
            result = _app().acquire_token_by_auth_code_flow(pending.get("flow") or {}, params)
        except ValueError as exc:  # state mismatch or a replayed flow: msal refuses
            raise ConnectRefused("The Microsoft sign-in could not be verified. Click Enable to try again.") from exc
        if "access_token" not in result:
            detail = result.get("error_description") or result.get("error") or "no token"
            raise ConnectRefused(f"Microsoft refused the sign-in: {detail.splitlines()[0]}. Click Enable to try again.")
        claims = result.get("id_token_claims") or {}
        identity = Identity(crm_org_id=claims.get("tid", ""), name=claims.get("name", ""),
                            email=(claims.get("email") or claims.get("preferred_username") or "").lower(),
                            crm_user_id=claims.get("oid", ""))
        org_url = config.get("org_url", "")
        return Grant(secrets=_tokens(result),
                     config={"org_url": org_url, "crm_org_id": identity.crm_org_id, "crm_username": identity.email,
                             "crm_org_name": urlparse(org_url).hostname or ""},
                     identity=identity)

    def session(self, *, config: dict, secrets: dict, on_tokens: Callable[[dict], None]) -> DynamicsSession:
        org_url = validate_org_url(config.get("org_url", ""))

        def refresh() -> str:
            if not secrets.get("refresh_token"):
                raise ReconnectRequired(reconnect_message(LABEL))
            result = _app().acquire_token_by_refresh_token(str(secrets["refresh_token"]), scopes=_scopes(org_url))
            if "access_token" not in result:
                raise ReconnectRequired(reconnect_message(LABEL))
            tokens = _tokens(result)
            if not tokens["refresh_token"]:
                tokens["refresh_token"] = secrets["refresh_token"]
            secrets.update(tokens)
            on_tokens(tokens)
            return tokens["access_token"]

        http = CrmHttpSession(access_token=str(secrets.get("access_token", "")), refresh=refresh, crm_label=LABEL)
        expires_at = secrets.get("expires_at")
        if expires_at and datetime.fromisoformat(str(expires_at)) < timezone.now() + timedelta(seconds=60):
            http.access_token = refresh()
        return DynamicsSession(http, org_url)


class DynamicsSession:
    def __init__(self, http: CrmHttpSession, org_url: str):
        self.http = http
        self.base = org_url + API_PATH

    def _get(self, url: str, *, params: dict | None = None, max_page: bool = False) -> dict:
        prefer = [f'odata.include-annotations="{FORMATTED}"']
        if max_page:
            prefer.append(f"odata.maxpagesize={PAGE_SIZE}")
        response = self.http.get(url, params=params, headers={
            "Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
            "Prefer": ",".join(prefer)})
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code}"
            raise CrmError(f"Dynamics answered: {message}")
        return response.json()

    def verify(self) -> dict[str, Any]:
        who = self._get(self.base + "WhoAmI")
        return {"dynamics_org_id": who.get("OrganizationId", ""), "crm_user_id": who.get("UserId", "")}

    def describe(self, object_name: str) -> list[FieldInfo]:
        logical = NATIVE[object_name]
        url = f"{self.base}EntityDefinitions(LogicalName='{logical}')/Attributes"
        data = self._get(url, params={"$select": "LogicalName,AttributeType,DisplayName,IsCustomAttribute,SourceType,"
                                                 "AttributeTypeName,AttributeOf"})
        fields = []
        for a in data.get("value", []):
            if not a.get("IsCustomAttribute") or a.get("AttributeOf"):
                continue
            a_type = a.get("AttributeType") or ""
            type_name = (a.get("AttributeTypeName") or {}).get("Value", "")
            if type_name == "MultiSelectPicklistType":
                chorus_type, supported = "Multipicklist", True
            elif a.get("SourceType") in (1, 2) and a_type in TYPE_MAP:
                chorus_type, supported = "Formula", True
            elif a_type in TYPE_MAP:
                chorus_type, supported = TYPE_MAP[a_type], True
            else:
                chorus_type, supported = TYPE_LABELS.get(a_type, a_type or "Unknown"), False
            label = ((a.get("DisplayName") or {}).get("UserLocalizedLabel") or {}).get("Label") or a["LogicalName"]
            fields.append(FieldInfo(object_name=object_name, api_name=a["LogicalName"], label=label,
                                    field_type=chorus_type, supported=supported,
                                    unsupported_reason="" if supported else unsupported_reason(chorus_type)))
        for kind in sorted({f.field_type for f in fields} & set(OPTION_METADATA)):
            options = self._options(logical, OPTION_METADATA[kind])
            for f in fields:
                if f.field_type == kind and f.api_name in options:
                    f.picklist_codes = options[f.api_name]
                    f.picklist_values = list(f.picklist_codes)
        return fields

    def _options(self, logical: str, metadata_type: str) -> dict[str, dict[str, int]]:
        """Each choice column's options (label → option value) of one table, in one
        request: Dataverse stores the number, people pick the label."""
        url = f"{self.base}EntityDefinitions(LogicalName='{logical}')/Attributes/Microsoft.Dynamics.CRM.{metadata_type}"
        data = self._get(url, params={"$select": "LogicalName",
                                      "$expand": "OptionSet($select=Options),GlobalOptionSet($select=Options)"})
        out: dict[str, dict[str, int]] = {}
        for a in data.get("value", []):
            option_set = a.get("OptionSet") or a.get("GlobalOptionSet") or {}
            out[a["LogicalName"]] = {
                (((o.get("Label") or {}).get("UserLocalizedLabel") or {}).get("Label") or str(o["Value"])): o["Value"]
                for o in option_set.get("Options") or [] if "Value" in o}
        return out

    def count(self, object_name: str, *, since: datetime | None) -> int | None:
        return None  # Dataverse counts stop at 5,000: progress shows records read instead

    def _filter(self, object_name: str, since: datetime | None) -> str:
        clauses = [FILTER[object_name]] if object_name in FILTER else []
        if since:
            clauses.append(f"modifiedon gt {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
        return " and ".join(clauses)

    def records(self, object_name: str, *, since: datetime | None, custom_fields: dict[str, str],
                total: int | None = None) -> Iterator[dict[str, Any]]:
        params = {"$select": ",".join(SELECT[object_name] + [f for f in custom_fields if f not in SELECT[object_name]]),
                  "$orderby": "modifiedon asc"}
        where = self._filter(object_name, since)
        if where:
            params["$filter"] = where
        url: str | None = f"{self.base}{ENTITY_SETS[object_name]}?{urlencode(params)}"
        while url:
            page = self._get(url, max_page=True)
            for row in page.get("value", []):
                yield normalise(object_name, row, custom_fields)
            url = page.get("@odata.nextLink")


def normalise(object_name: str, row: dict, custom_fields: dict[str, str]) -> dict[str, Any]:
    custom = {}
    for f, field_type in custom_fields.items():
        # Picklists come back as option numbers; their labels are what people filter by.
        if field_type in ("Picklist", "Multipicklist") and f"{f}@{FORMATTED}" in row:
            value = row[f"{f}@{FORMATTED}"]
            custom[f] = value.split("; ") if field_type == "Multipicklist" else value
        else:
            custom[f] = row.get(f)
    base = {"remote_id": row[ID_FIELDS[object_name]], "modified_at": _parse(row.get("modifiedon")), "custom": custom}
    if object_name == ACCOUNT:
        base.update(name=row.get("name") or "", website=row.get("websiteurl") or "", zoominfo_id="")
    elif object_name == OPPORTUNITY:
        stage = row.get(f"salesstage@{FORMATTED}") or row.get("stepname") or ""
        base.update(name=row.get("name") or "", stage=stage, amount=row.get("estimatedvalue"),
                    close_date=row.get("estimatedclosedate"), is_closed=row.get("statecode") in (1, 2),
                    is_won=row.get("statecode") == 1, account_remote_id=row.get("_parentaccountid_value") or "")
    else:
        account = row.get("_parentcustomerid_value") if object_name == CONTACT else row.get("_parentaccountid_value")
        base.update(email=(row.get("emailaddress1") or "").lower(), name=row.get("fullname") or "",
                    title=row.get("jobtitle") or "", account_remote_id=account or "",
                    kind="lead" if object_name == LEAD else "contact")
    return base


provider = DynamicsProvider()
