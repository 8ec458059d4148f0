"""The CRM sync engine: provider records in, local rows out, in bulk.

Records stream from the provider (one API page at a time) and are upserted in
chunks of ``CHUNK`` rows with one ``INSERT … ON CONFLICT`` per chunk, so memory
stays flat however large the CRM is. Each object's cursor (last modified seen)
moves only when the object finished: an interrupted sync repeats some upserts,
which are idempotent, and never skips a record.

Account domains are stored as ``crm.matching.registrable_domain`` computes them
(tldextract's bundled suffix list), so matching compares like with like; the
changes are collected (:class:`Changes`) for re-matching engagements afterwards.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from crm.freemail import FREEMAIL_DOMAINS
from crm.matching import registrable_domain  # one definition for the sync and the matching
from crm.models import AccountDomain, CrmAccount, CrmContact, CrmField, CrmOpportunity, CrmSyncCursor
from crm.providers.base import coerce_custom
from crm.providers.objects import ACCOUNT, CONTACT, LEAD, OPPORTUNITY, SYNC_OBJECTS

CHUNK = 1000
MAX_TRACKED = 50_000

# The field-import object whose selected fields go into each synced object's ``custom``.
CUSTOM_SOURCE = {ACCOUNT: "Account", OPPORTUNITY: "Opportunity", CONTACT: "Lead", LEAD: "Lead"}


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def _date(value: Any) -> date | None:
    if not value:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _custom(raw: dict, types: dict[str, str]) -> dict:
    return {k: coerce_custom(v, types.get(k, "String")) for k, v in raw.items() if k in types}


def selected_fields(*, org, provider: str) -> dict[str, dict[str, str]]:
    """{field-import object: {api_name: type}} of the admin's selected, still-existing fields."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for f in CrmField.objects.for_org(org).filter(provider=provider, selected=True, supported=True,
                                                  missing_since__isnull=True):
        out[f.object_name][f.api_name] = f.field_type
    return out


def _account_ids(org, provider: str, remote_ids: set[str]) -> dict[str, int]:
    remote_ids.discard("")
    if not remote_ids:
        return {}
    return dict(CrmAccount.objects.for_org(org).filter(provider=provider, remote_id__in=remote_ids)
                .values_list("remote_id", "pk"))


def refresh_account_domains(*, org, account_ids: Iterable[int]) -> None:
    """Recompute the registrable domains of these accounts: their website's and
    their contacts' email domains, weighted by how many contacts use each."""
    account_ids = list(account_ids)
    for ids in chunked(account_ids, CHUNK):
        weights: dict[int, Counter] = {i: Counter() for i in ids}
        for account_id, website in CrmAccount.objects.filter(pk__in=ids).values_list("pk", "website"):
            domain = registrable_domain(website)
            if domain:
                weights[account_id][domain] += 0  # present even without contacts
        for account_id, email in (CrmContact.objects.for_org(org).filter(account_id__in=ids).exclude(email="")
                                  .values_list("account_id", "email").iterator(chunk_size=2000)):
            domain = registrable_domain(email)
            if domain and domain not in FREEMAIL_DOMAINS:  # says nothing about the company
                weights[account_id][domain] += 1
        rows = [AccountDomain(org=org, account_id=a, domain=d, weight=max(1, n))
                for a, counter in weights.items() for d, n in counter.items()]
        with transaction.atomic():
            AccountDomain.objects.filter(account_id__in=ids).delete()
            AccountDomain.objects.bulk_create(rows, batch_size=CHUNK)


def _upsert_accounts(org, provider: str, rows: list[dict], types: dict[str, str], now: datetime) -> list[int]:
    objs = [CrmAccount(org=org, provider=provider, remote_id=r["remote_id"], name=(r["name"] or "")[:255],
                       website=(r["website"] or "")[:1000], zoominfo_id=(r.get("zoominfo_id") or "")[:64],
                       custom=_custom(r["custom"], types), remote_modified_at=r["modified_at"], synced_at=now)
            for r in rows]
    CrmAccount.objects.bulk_create(objs, update_conflicts=True, unique_fields=["org", "provider", "remote_id"],
                                   update_fields=["name", "website", "zoominfo_id", "custom", "remote_modified_at",
                                                  "synced_at"])
    ids = _account_ids(org, provider, {r["remote_id"] for r in rows})
    # Opportunities and contacts that arrived before their account get it now.
    account = (CrmAccount.objects.filter(org=org, provider=provider, remote_id=OuterRef("account_remote_id"))
               .values("pk")[:1])
    for model in (CrmOpportunity, CrmContact):
        model.objects.for_org(org).filter(provider=provider, account__isnull=True,
                                          account_remote_id__in=list(ids)).update(account=Subquery(account))
    return list(ids.values())


def _upsert_opportunities(org, provider: str, rows: list[dict], types: dict[str, str], now: datetime) -> list[int]:
    accounts = _account_ids(org, provider, {r["account_remote_id"] for r in rows})
    objs = [CrmOpportunity(org=org, provider=provider, remote_id=r["remote_id"], name=(r["name"] or "")[:255],
                           stage=(r["stage"] or "")[:120], amount=_decimal(r["amount"]),
                           close_date=_date(r["close_date"]), is_closed=r["is_closed"], is_won=r["is_won"],
                           account_id=accounts.get(r["account_remote_id"]), account_remote_id=r["account_remote_id"],
                           custom=_custom(r["custom"], types), remote_modified_at=r["modified_at"], synced_at=now)
            for r in rows]
    CrmOpportunity.objects.bulk_create(
        objs, update_conflicts=True, unique_fields=["org", "provider", "remote_id"],
        update_fields=["name", "stage", "amount", "close_date", "is_closed", "is_won", "account",
                       "account_remote_id", "custom", "remote_modified_at", "synced_at"])
    return list(set(accounts.values()))


def _upsert_contacts(org, provider: str, rows: list[dict], types: dict[str, str], now: datetime) -> list[int]:
    accounts = _account_ids(org, provider, {r["account_remote_id"] for r in rows})
    # A contact that moved to another account changes the old account's domains too.
    previous = set(CrmContact.objects.for_org(org).filter(
        provider=provider, remote_id__in=[r["remote_id"] for r in rows], account__isnull=False,
    ).values_list("account_id", flat=True))
    objs = [CrmContact(org=org, provider=provider, remote_id=r["remote_id"], kind=r["kind"],
                       email=(r["email"] or "")[:254], name=(r["name"] or "")[:255], title=(r["title"] or "")[:255],
                       account_id=accounts.get(r["account_remote_id"]), account_remote_id=r["account_remote_id"],
                       custom=_custom(r["custom"], types), remote_modified_at=r["modified_at"], synced_at=now)
            for r in rows]
    CrmContact.objects.bulk_create(
        objs, update_conflicts=True, unique_fields=["org", "provider", "remote_id"],
        update_fields=["kind", "email", "name", "title", "account", "account_remote_id", "custom",
                       "remote_modified_at", "synced_at"])
    return list(previous | set(accounts.values()))


UPSERTS: dict[str, Callable[..., list[int]]] = {
    ACCOUNT: _upsert_accounts, OPPORTUNITY: _upsert_opportunities, CONTACT: _upsert_contacts, LEAD: _upsert_contacts,
}


@dataclass
class Changes:
    """What a sync changed, for re-matching engagements. Past ``MAX_TRACKED``
    accounts (a first sync, a bulk update in the CRM) it stops collecting and asks
    for the whole org to be re-matched instead: memory stays flat."""

    account_ids: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    full: bool = False

    def add(self, account_ids: Iterable[int], emails: Iterable[str] = ()) -> None:
        if self.full:
            return
        self.account_ids.update(account_ids)
        self.emails.update(e for e in emails if e)
        if len(self.account_ids) + len(self.emails) > MAX_TRACKED:
            self.full, self.account_ids, self.emails = True, set(), set()


def sync_objects(*, connection, session, progress: Callable[[str, int, int | None], None],
                 changes: Changes | None = None) -> dict[str, int]:
    """Sync every object of the connection's CRM; returns records per object."""
    changes = changes if changes is not None else Changes()
    org, provider = connection.org, connection.provider
    fields = selected_fields(org=org, provider=provider)
    counts: dict[str, int] = {}
    for object_name in SYNC_OBJECTS:
        cursor, _ = CrmSyncCursor.objects.get_or_create(org=org, provider=provider, object_name=object_name)
        since = cursor.modified_since
        if since is None:
            changes.full = True  # a first (or restarted) read of this object: re-match everything
        total = session.count(object_name, since=since)
        types = fields.get(CUSTOM_SOURCE[object_name], {})
        done = 0
        newest = since
        progress(object_name, 0, total)
        # A zero count (nothing changed) saves the query itself.
        records = session.records(object_name, since=since, custom_fields=types, total=total) if total != 0 else ()
        for rows in chunked(records, CHUNK):
            now = timezone.now()
            # The last version of each record wins: a paged read can return one twice
            # (HubSpot's search restarts at its 10,000 window), and PostgreSQL refuses
            # an upsert that touches the same row twice in one statement.
            rows = list({r["remote_id"]: r for r in rows}.values())
            touched = UPSERTS[object_name](org, provider, rows, types, now)
            if touched and object_name != OPPORTUNITY:
                refresh_account_domains(org=org, account_ids=touched)
            changes.add(touched, (r.get("email", "") for r in rows))
            for r in rows:
                if r["modified_at"] and (newest is None or r["modified_at"] > newest):
                    newest = r["modified_at"]
            done += len(rows)
            progress(object_name, done, total)
        cursor.modified_since = newest
        cursor.last_run_at = timezone.now()
        cursor.records_synced = done
        cursor.save(update_fields=["modified_since", "last_run_at", "records_synced"])
        counts[object_name] = done
    return counts
