"""The few Gainsight NXT REST calls Chorus makes, over the shared HTTP session.

Every call carries the tenant's Access Key in the ``accesskey`` header (Gainsight,
"Timeline APIs" > Authorization; "Company API Documentation" > Authentication).
The base URL is ``GAINSIGHT_URL_TEMPLATE`` with the admin's Domain Name.

* :meth:`GainsightClient.companies_by_sfdc_ids` — the Company Read API,
  ``POST /v1/data/objects/query/Company`` (``select``, ``where.conditions`` with
  ``operator: "IN"``, ``limit`` up to 5,000): one call finds every company of a batch
  by its Salesforce Account Id (Company's standard field ``SfdcAccountId``). The same
  read with ``limit: 1`` is the cheap authenticated check :meth:`probe` makes on
  Submit (no GET of the Timeline or Company APIs is documented; a read writes nothing).
* :meth:`GainsightClient.activity_insert` — the Single Activity Save API,
  ``POST /v1/ant/es/activity`` with ``records`` and ``lookups`` (200 calls a minute;
  the bulk API allows 12 calls an hour, too few for calls as they end).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.conf import settings

from integrations.http import http_session, parse_retry_after
from integrations.registry import IntegrationError

COMPANY_QUERY = "/v1/data/objects/query/Company"
ACTIVITY_SAVE = "/v1/ant/es/activity"
READ_LIMIT = 5000  # Company Read API: at most 5,000 records per call


class GainsightError(IntegrationError):
    """Gainsight refused or failed; ``str(exc)`` is the sentence an admin sees.
    ``status`` is the HTTP status (0 when Gainsight could not be reached)."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body or {}

    @property
    def auth(self) -> bool:
        return self.status in (401, 403)

    @property
    def throttled(self) -> bool:
        return self.status == 429

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class Company:
    gsid: str
    name: str
    sfdc_account_id: str


def base_url(domain: str) -> str:
    return settings.GAINSIGHT_URL_TEMPLATE.format(domain=domain).rstrip("/")


def _message(body: dict) -> str:
    for key in ("errorDesc", "message", "error"):
        if isinstance(body.get(key), str) and body[key].strip():
            return body[key].strip()
    return ""


class GainsightClient:
    def __init__(self, *, domain: str, access_key: str):
        self.domain = domain
        self.base = base_url(domain)
        self.session = http_session()
        self.session.headers["accesskey"] = access_key
        self.session.headers["Content-Type"] = "application/json"

    def _post(self, path: str, body: dict) -> dict:
        try:
            response = self.session.post(self.base + path, json=body)
        except requests.RequestException as exc:
            raise GainsightError(f"Chorus could not reach {self.domain}.gainsightcloud.com "
                                 f"({type(exc).__name__}).") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        status = response.status_code
        if status == 429:
            raise GainsightError("Gainsight's rate limit was reached", status=429, body=data,
                                 retry_after=parse_retry_after(response.headers.get("Retry-After"), default=60.0))
        if status in (401, 403):
            raise GainsightError("Gainsight refused the Access Key.", status=status, body=data)
        if status >= 500:
            raise GainsightError(f"Gainsight answered {status}; Chorus retries.", status=status, body=data)
        if status >= 400 or data.get("result") is False:
            detail = _message(data) or f"HTTP {status}"
            raise GainsightError(f"Gainsight refused the request: {detail}", status=status if status >= 400 else 400,
                                 body=data)
        return data

    def probe(self) -> None:
        """A read of one Company: proves the domain and the Access Key, writes nothing."""
        self._post(COMPANY_QUERY, {"select": ["Gsid"], "limit": 1, "offset": 0})

    def companies_by_sfdc_ids(self, sfdc_ids: list[str]) -> dict[str, Company]:
        """Gainsight's companies carrying these Salesforce Account Ids, by that id."""
        ids = sorted({i for i in sfdc_ids if i})
        found: dict[str, Company] = {}
        for start in range(0, len(ids), READ_LIMIT):
            chunk = ids[start:start + READ_LIMIT]
            data = self._post(COMPANY_QUERY, {
                "select": ["Gsid", "Name", "SfdcAccountId"],
                "where": {"conditions": [{"name": "SfdcAccountId", "alias": "A", "value": chunk, "operator": "IN"}],
                          "expression": "A"},
                "limit": len(chunk), "offset": 0,
            })
            for r in (data.get("data") or {}).get("records") or []:
                sfdc = r.get("SfdcAccountId") or ""
                if sfdc and sfdc not in found:
                    found[sfdc] = Company(gsid=r.get("Gsid") or "", name=r.get("Name") or "", sfdc_account_id=sfdc)
        return found

    def activity_insert(self, *, record: dict, lookups: dict) -> dict:
        return self._post(ACTIVITY_SAVE, {"records": [record], "lookups": lookups})
