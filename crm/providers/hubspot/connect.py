"""HubSpot: OAuth 2.0 (the admin picks the HubSpot account on HubSpot's own
screens), CRM v3 through hubspot-api-client.

hubspot-api-client speaks urllib3, not requests: it gets ``host`` =
``HUBSPOT_API_URL``, the CA bundle as ``ssl_ca_cert``, and a urllib3 ``Retry`` that
retries 429/503 after the ``Retry-After`` the server sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.objects import PublicObjectSearchRequest
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.pipelines.exceptions import ApiException as PipelinesApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException
from hubspot.oauth.exceptions import ApiException as OAuthApiException
from urllib3.util.retry import Retry

from crm.providers.base import (
    MAX_RETRIES,
    ConnectRefused,
    CrmError,
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
from integrations.http import ca_bundle

log = logging.getLogger(__name__)

LABEL = "HubSpot"
# Read to sync; write to push call activity (tasks, notes, contacts, companies,
# the Chorus custom objects) and required-field answers on deals; and the schema
# scopes to create what the push writes that HubSpot lacks (``schema.py``): the
# chorus_id / chorus_trackers properties (crm.schemas.<object>.write — tasks and
# notes are activities under contacts) and the Chorus custom objects
# (crm.schemas.custom.write). https://developers.hubspot.com/docs/api/crm/properties
SCOPES = ("oauth crm.objects.companies.read crm.objects.deals.read crm.objects.contacts.read "
          "crm.schemas.companies.read crm.schemas.deals.read crm.schemas.contacts.read "
          "crm.objects.contacts.write crm.objects.companies.write crm.objects.deals.write "
          "crm.objects.custom.read crm.objects.custom.write crm.schemas.custom.read "
          "crm.schemas.contacts.write crm.schemas.companies.write crm.schemas.deals.write crm.schemas.custom.write")
PAGE_SIZE = 100  # the search API's maximum
SEARCH_WINDOW = 10_000  # the search API stops paging here: re-query from the last modified seen
API_ERRORS = (ObjectsApiException, PropertiesApiException, PipelinesApiException, AssociationsApiException,
              OAuthApiException)

NATIVE = {"Task": "tasks", "Lead": "contacts", "Account": "companies", "Opportunity": "deals"}
SYNC_NATIVE = {ACCOUNT: "companies", OPPORTUNITY: "deals", CONTACT: "contacts"}
MODIFIED = {"companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate",
            "contacts": "lastmodifieddate", "tasks": "hs_lastmodifieddate"}
PROPERTIES = {
    "companies": ["name", "domain", "website"],
    "deals": ["dealname", "dealstage", "amount", "closedate", "hs_is_closed", "hs_is_closed_won"],
    "contacts": ["email", "firstname", "lastname", "jobtitle", "associatedcompanyid", "lifecyclestage"],
}


def _retry() -> Retry:
    return Retry(total=MAX_RETRIES, status_forcelist=(429, 503), allowed_methods=None,
                  respect_retry_after_header=True, backoff_factor=1, raise_on_status=False)


def client(access_token: str | None = None) -> HubSpot:
    return HubSpot(access_token=access_token, retry=_retry(), host=settings.HUBSPOT_API_URL,
                   ssl_ca_cert=_ca_file())


def _ca_file() -> str | None:
    bundle = ca_bundle()
    return bundle if isinstance(bundle, str) else None


def _ms(value: datetime) -> str:
    return str(int(value.astimezone(UTC).timestamp() * 1000))


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _field_type(p) -> tuple[str, bool]:
    """HubSpot (type, fieldType) → the seed's type name and whether it is supported."""
    if p.calculated or (p.field_type or "").startswith("calculation"):
        return "Formula", True
    if p.type == "number":
        return ("Currency" if p.show_currency_symbol else "Number"), True
    if p.type == "bool" or p.field_type == "booleancheckbox":
        return "Boolean", True
    if p.type == "enumeration":
        return ("Multipicklist" if p.field_type == "checkbox" else "Picklist"), True
    if p.type == "date":
        return "Date", True
    if p.type == "string" and p.field_type in ("text", "phonenumber", None, ""):
        return "String", True
    if p.type == "datetime":
        return "Date/Time", False
    if p.field_type == "textarea":
        return "Text Area", False
    return (p.field_type or p.type or "Unknown").title(), False


MANUAL_REVOKE = "To revoke it yourself: HubSpot Settings > Integrations > Connected Apps > Chorus > Uninstall."


class HubSpotProvider(CrmProviderBase):
    key = "hubspot"
    label = LABEL
    connect_title = "Hubspot Connect"
    native_objects = NATIVE
    subject_max = 255  # hs_task_subject: single-line, no documented cap
    body_max = 65_536  # hs_task_body
    body_html = True
    sender_path = "crm.providers.hubspot.push.HubSpotSender"

    def call_task_source(self, *, org, session):
        from crm.providers.hubspot.call_tasks import HubSpotCallTasks

        return HubSpotCallTasks(session, org=org)


    def authorize_url(self, *, config: dict, state: str, redirect_uri: str, login: bool = False) -> tuple[str, dict]:
        query = {"client_id": settings.HUBSPOT_CLIENT_ID, "redirect_uri": redirect_uri, "scope": SCOPES,
                 "state": state}
        return f"{settings.HUBSPOT_AUTH_URL}/oauth/authorize?{urlencode(query)}", {}

    def _tokens(self, **form) -> dict:
        try:
            token = client().oauth.tokens_api.create(client_id=settings.HUBSPOT_CLIENT_ID,
                                                     client_secret=settings.HUBSPOT_CLIENT_SECRET, **form)
        except OAuthApiException as exc:
            if form.get("grant_type") == "refresh_token" and exc.status in (400, 401):
                raise ReconnectRequired(reconnect_message(LABEL)) from exc
            raise ConnectRefused(
                f"HubSpot refused the sign-in (HTTP {exc.status}). Click Enable to try again.") from exc
        except Exception as exc:  # urllib3 connection errors, retries exhausted
            raise CrmError(f"Chorus could not reach HubSpot ({exc.__class__.__name__}).") from exc
        return {"access_token": token.access_token, "refresh_token": token.refresh_token,
                "expires_at": (timezone.now() + timedelta(seconds=int(token.expires_in or 1800))).isoformat()}

    def revoke(self, *, config: dict, secrets: dict) -> str:
        """Delete Chorus's refresh token at HubSpot (its access tokens then expire
        within 30 minutes and cannot be renewed)."""
        token = secrets.get("refresh_token")
        if not token:
            return ""
        try:
            client().oauth.refresh_tokens_api.archive(str(token))
        except OAuthApiException as exc:
            if exc.status in (400, 404):  # unknown or already deleted
                return ""
            return f"HubSpot answered HTTP {exc.status}. {MANUAL_REVOKE}"
        except Exception as exc:  # urllib3 connection errors, retries exhausted
            return f"HubSpot could not be reached to revoke Chorus's access ({exc.__class__.__name__}). {MANUAL_REVOKE}"
        return ""

    def exchange_code(self, *, config: dict, pending: dict, params: dict, redirect_uri: str) -> Grant:
        tokens = self._tokens(grant_type="authorization_code", code=params.get("code", ""), redirect_uri=redirect_uri)
        try:
            info = client().oauth.access_tokens_api.get(tokens["access_token"])
        except OAuthApiException as exc:
            raise ConnectRefused(f"HubSpot did not describe the new sign-in (HTTP {exc.status}).") from exc
        identity = Identity(crm_org_id=str(info.hub_id), email=info.user or "", crm_user_id=str(info.user_id or ""))
        return Grant(secrets=tokens,
                     config={"crm_org_id": identity.crm_org_id, "crm_org_name": info.hub_domain or "",
                             "crm_username": identity.email},
                     identity=identity)

    def session(self, *, config: dict, secrets: dict, on_tokens: Callable[[dict], None]) -> HubSpotSession:
        def refresh() -> str:
            if not secrets.get("refresh_token"):
                raise ReconnectRequired(reconnect_message(LABEL))
            tokens = self._tokens(grant_type="refresh_token", refresh_token=str(secrets["refresh_token"]))
            secrets.update(tokens)
            on_tokens(tokens)
            return tokens["access_token"]

        return HubSpotSession(secrets=secrets, refresh=refresh)


class HubSpotSession:
    def __init__(self, *, secrets: dict, refresh: Callable[[], str]):
        self._secrets = secrets
        self._refresh = refresh
        self._client: HubSpot | None = None
        self._stages: dict[str, str] | None = None

    def _api(self) -> HubSpot:
        expires_at = self._secrets.get("expires_at")
        if expires_at and datetime.fromisoformat(str(expires_at)) < timezone.now() + timedelta(seconds=60):
            self._refresh()
            self._client = None
        if self._client is None:
            self._client = client(str(self._secrets["access_token"]))
        return self._client

    def _call(self, fn: Callable[[HubSpot], Any]) -> Any:
        """One API call; a 401 refreshes the token once and repeats it."""
        for attempt in (1, 2):
            try:
                return fn(self._api())
            except API_ERRORS as exc:
                if exc.status == 401 and attempt == 1:
                    self._refresh()
                    self._client = None
                    continue
                if exc.status == 401:
                    raise ReconnectRequired(reconnect_message(LABEL)) from exc
                if exc.status in (429, 503):
                    raise CrmError("HubSpot kept asking Chorus to slow down (rate limit); the sync "
                                   "continues at its next run.") from exc
                raise CrmError(f"HubSpot answered HTTP {exc.status}: {exc.reason}.") from exc
        raise AssertionError("unreachable")

    def verify(self) -> dict[str, Any]:
        """At connect: create and check what the push writes (properties, custom
        objects). Never refuses the connection: what could not be set up is kept as
        a problem the push reports, and set up again later."""
        from crm.providers.hubspot.schema import json_body, push_schema_ensure

        def call(fn, *args) -> tuple[int, dict]:
            response = fn(*args, _preload_content=False)
            return response.status, json_body(response.data)

        def tolerant(fn, *args) -> tuple[int, dict]:
            try:
                return call(fn, *args)
            except (*API_ERRORS, SchemasApiException) as exc:
                return exc.status, json_body(exc.body)

        try:
            return push_schema_ensure(api=self._api(), call=tolerant)
        except Exception as exc:  # unreachable, rate-limited beyond the retries: the push sets up later
            log.warning("HubSpot push set-up at connect failed (%s); the push tries again", exc.__class__.__name__)
            return {}

    def describe(self, object_name: str) -> list[FieldInfo]:
        native = NATIVE[object_name]
        result = self._call(lambda api: api.crm.properties.core_api.get_all(native))
        fields = []
        for p in result.results or []:
            if p.hubspot_defined:
                continue
            chorus_type, supported = _field_type(p)
            fields.append(FieldInfo(
                object_name=object_name, api_name=p.name, label=p.label or p.name, field_type=chorus_type,
                supported=supported, unsupported_reason="" if supported else unsupported_reason(chorus_type),
                picklist_values=[o.value for o in (p.options or []) if not getattr(o, "hidden", False)],
            ))
        return fields

    def count(self, object_name: str, *, since: datetime | None) -> int | None:
        native = SYNC_NATIVE.get(object_name)
        if native is None:
            return 0
        request = PublicObjectSearchRequest(filter_groups=self._filters(native, since), limit=1,
                                            properties=["hs_object_id"])
        result = self._call(lambda api: api.crm.objects.search_api.do_search(native, request))
        return int(result.total or 0)

    @staticmethod
    def _filters(native: str, since: datetime | None, operator: str = "GT") -> list[dict]:
        if not since:
            return []
        return [{"filters": [{"propertyName": MODIFIED[native], "operator": operator, "value": _ms(since)}]}]

    def _stage_labels(self) -> dict[str, str]:
        if self._stages is None:
            result = self._call(lambda api: api.crm.pipelines.pipelines_api.get_all("deals"))
            self._stages = {s.id: s.label for p in (result.results or []) for s in (p.stages or [])}
        return self._stages

    def _search(self, native: str, since: datetime | None, properties: list[str]) -> Iterator[Any]:
        """Search sorted by last modified, page by page (100). The search API stops at
        10,000 results, so past that the query restarts from the last modified seen
        (inclusive: records sharing that instant are read again, and upserts are idempotent)."""
        after = None
        seen = 0
        operator = "GT"
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=self._filters(native, since, operator), properties=properties, limit=PAGE_SIZE,
                after=after,
                sorts=[{"propertyName": MODIFIED[native], "direction": "ASCENDING"}])
            page = self._call(lambda api, r=request: api.crm.objects.search_api.do_search(native, r))
            results = page.results or []
            yield results
            seen += len(results)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return
            if seen + PAGE_SIZE > SEARCH_WINDOW and results:
                restart = _parse(results[-1].properties.get(MODIFIED[native]))
                if restart is None or restart == since:
                    raise CrmError("More than 10,000 HubSpot records share one modification time; "
                                   "Chorus can't page past them. Contact Chorus support.")
                since, operator, after, seen = restart, "GTE", None, 0

    def _company_ids(self, deal_ids: list[str]) -> dict[str, str]:
        if not deal_ids:
            return {}
        body = {"inputs": [{"id": i} for i in deal_ids]}
        result = self._call(lambda api: api.crm.associations.v4.batch_api.get_page("deals", "companies", body))
        return {str(r._from.id): str(r.to[0].to_object_id) for r in (result.results or []) if r.to}

    def records(self, object_name: str, *, since: datetime | None, custom_fields: dict[str, str],
                total: int | None = None) -> Iterator[dict[str, Any]]:
        if object_name == LEAD:
            return  # HubSpot leads are contacts (lifecycle stage "lead"), synced with the contacts
        native = SYNC_NATIVE[object_name]
        properties = PROPERTIES[native] + [MODIFIED[native]] + [f for f in custom_fields if f not in PROPERTIES[native]]
        stages = self._stage_labels() if native == "deals" else {}
        for results in self._search(native, since, properties):
            companies = self._company_ids([r.id for r in results]) if native == "deals" else {}
            for r in results:
                p = r.properties or {}
                row = {"remote_id": str(r.id), "modified_at": _parse(p.get(MODIFIED[native])) or r.updated_at,
                       "custom": {f: p.get(f) for f in custom_fields}}
                if native == "companies":
                    row.update(name=p.get("name") or "", website=p.get("website") or p.get("domain") or "",
                               zoominfo_id="")
                elif native == "deals":
                    stage = p.get("dealstage") or ""
                    row.update(name=p.get("dealname") or "", stage=stages.get(stage, stage),
                               amount=p.get("amount") or None, close_date=(p.get("closedate") or "")[:10] or None,
                               is_closed=as_bool(p.get("hs_is_closed")), is_won=as_bool(p.get("hs_is_closed_won")),
                               account_remote_id=companies.get(str(r.id), ""))
                else:
                    name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
                    row.update(email=(p.get("email") or "").lower(), name=name, title=p.get("jobtitle") or "",
                               account_remote_id=p.get("associatedcompanyid") or "",
                               kind="lead" if p.get("lifecyclestage") == "lead" else "contact")
                yield row


provider = HubSpotProvider()
