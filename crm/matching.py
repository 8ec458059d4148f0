"""Account matching: tie each engagement to a CRM account and opportunity, and say why.

The order is the seed's ("Account Matching"):

1. **ZoomInfo Company ID** — only with Salesforce and the ZoomInfo Salesforce
   Native Application installed (its ``DOZISF__ZoomInfo_Id__c`` field, kept in
   ``CrmAccount.zoominfo_id``).
2. **Company domain** of the external participants' email addresses.
3. **Participant full email address** (a CRM contact or lead with that email, on an account).

Without the ZoomInfo app, and always for HubSpot and Dynamics, it is domain first
and exact email second: rule 1 is simply skipped.

How rule 1 is read. Chorus has no ZoomInfo person/company look-up locally; the
only link between a call participant and a ZoomInfo Company ID is the CRM copy:
an account whose registrable domain is the participant's and whose
``zoominfo_id`` is set. The seed calls the field "additional matching
confirmation", so rule 1 is: among the accounts of the participants' company
domains, those confirmed by a ZoomInfo Company ID are matched first (even when an
unconfirmed account has more attendees or more activity); only when none is
confirmed does rule 2 consider every account of those domains. So a duplicate
account without the ZoomInfo id never steals calls from the ZoomInfo-confirmed
one.

Whether the app is installed: callers may say so (``zoominfo_installed=``);
otherwise the org's CRM connection decides — it must be Salesforce, and the
connection's ``config["zoominfo_installed"]`` (written by the sync when the
describe call shows the field) is used when present; when the sync has not
recorded it, the app counts as installed if any of the org's Salesforce accounts
carries a ZoomInfo id (the field can only be filled when the app is there).

Who counts. Only external participants: not ``is_internal``, not ``is_ignored``
and not on the org's own email domains. Block-listed participants still count
(block-listing stops the push to the CRM, not the match). The org's own domains
and free-mail domains (``crm.freemail``) never match by domain; an address on
them may still match a contact by exact email. Domains are compared as
registrable domains (tldextract with its bundled public-suffix list, no network:
``mail.acme.co.uk`` → ``acme.co.uk``); the sync must store ``AccountDomain.domain``
the same way (use :func:`registrable_domain`).

Several accounts for one call (the seed: "we sort domains based on both
prevalence and the number of open opportunities slated for closure in the near
future"): candidates are ranked by

1. prevalence on the call — attendees on the account's matching domains (or, for
   rule 3, attendees who are its contacts);
2. prevalence in the CRM — ``AccountDomain.weight``, how many of the account's
   contacts use those domains;
3. activity — open opportunities closing within ``NEAR_FUTURE_DAYS`` of the call;
4. activity — the soonest close date of an open opportunity on or after the call;
5. the lower CRM id, so the outcome never depends on row order.

The reason names the criterion that separated the winner from the runner-up.

The opportunity: an open one on the account, the one closing soonest on or after
the call; if every open one is past due, the most recently due; undated ones
last. Ties on the date go to the larger amount, then the lower CRM id, and the
reason says so.

Re-matching: the CRM sync calls :func:`matches_refresh_for_accounts` with the
accounts, domains and emails it changed, so a call made before its account or
opportunity existed is matched (or re-matched) later.

Cost: every batch of ``BATCH_SIZE`` engagements costs a fixed number of queries
(participants, account domains, contacts, open opportunities, existing matches,
then the writes), each an indexed ``IN`` look-up — never a query per engagement.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from chorus.domains import _host_registrable, registrable_domain  # noqa: F401 (bench/crm_match.py clears its cache)
from chorus.models import Engagement, Organization, Participant
from crm.freemail import FREEMAIL_DOMAINS
from crm.models import AccountDomain, AccountMatch, CrmAccount, CrmContact, CrmOpportunity
from crm.providers import crm_keys, crm_providers
from integrations.models import Connection, ConnectionStatus

# Engagements matched per batch: a fixed handful of queries each.
BATCH_SIZE = 500
# Values per SQL ``IN (…)`` list: under PostgreSQL's and SQLite's parameter caps.
IN_CHUNK = 5000
# "Open opportunities slated for closure in the near future": within a quarter of the call.
NEAR_FUTURE_DAYS = 90

Rule = AccountMatch.Rule


def _org_domains(org: Organization) -> frozenset[str]:
    return frozenset(d for d in (registrable_domain(x) for x in org.email_domains or []) if d)


# --- Which CRM, and is ZoomInfo there ----------------------------------------------------


@dataclass(frozen=True)
class MatchingContext:
    provider: str | None  # the connected CRM; None = no live connection, consider every row
    zoominfo: bool


def matching_context_get(*, org: Organization, zoominfo_installed: bool | None = None) -> MatchingContext:
    """The org's connected CRM and whether rule 1 (ZoomInfo) applies (see the module docstring)."""
    row = (
        Connection.objects.for_org(org)
        .filter(provider__in=crm_keys())
        .exclude(status=ConnectionStatus.DISCONNECTED)
        .order_by("-updated_at", "-id")
        .values_list("provider", "config")
        .first()
    )
    provider, config = row if row else (None, {})
    with_zoominfo = [p.key for p in crm_providers() if p.zoominfo]
    if provider is not None and provider not in with_zoominfo:
        return MatchingContext(provider=provider, zoominfo=False)
    if zoominfo_installed is not None:
        zoominfo = zoominfo_installed
    elif isinstance(config, dict) and "zoominfo_installed" in config:
        zoominfo = bool(config["zoominfo_installed"])
    else:
        zoominfo = (
            CrmAccount.objects.for_org(org)
            .filter(provider__in=[provider] if provider else with_zoominfo, zoominfo_id__gt="")
            .exists()
        )
    return MatchingContext(provider=provider, zoominfo=zoominfo)


# --- In-memory shapes ------------------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    id: int
    remote_id: str
    name: str
    zoominfo_id: str


@dataclass(frozen=True)
class _Opportunity:
    id: int
    account_id: int
    remote_id: str
    name: str
    close_date: date | None
    amount: Decimal | None


@dataclass
class _Candidate:
    account: _Account
    attendees: int = 0  # participants of the call that point at it under this rule
    weight: int = 0  # AccountDomain.weight of the matching domains (CRM prevalence)
    near: int = 0  # open opportunities closing within NEAR_FUTURE_DAYS of the call
    soonest: date | None = None  # soonest open close date on or after the call
    evidence: list[str] = field(default_factory=list)  # the domains or emails that matched

    def key(self) -> tuple:
        return (-self.attendees, -self.weight, -self.near, self.soonest or date.max, self.account.remote_id)


@dataclass
class _Decision:
    rule: str
    account: _Account | None
    opportunity: _Opportunity | None
    reason: str


@dataclass
class _Batch:
    """What one batch's queries returned, shared by its engagements."""

    domain_accounts: dict[str, list[tuple[int, int]]]  # domain -> [(account id, weight)]
    email_accounts: dict[str, set[int]]  # email -> account ids of its contacts
    accounts: dict[int, _Account]
    open_opportunities: dict[int, list[_Opportunity]]  # account id -> open opportunities


# --- Text helpers ------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _money(amount: Decimal | None) -> str:
    return "no amount" if amount is None else f"{amount:,.2f}"


# --- Ranking -----------------------------------------------------------------------------


def _activity(candidate: _Candidate, opportunities: list[_Opportunity], ref: date) -> None:
    horizon = ref + timedelta(days=NEAR_FUTURE_DAYS)
    upcoming = [o.close_date for o in opportunities if o.close_date and o.close_date >= ref]
    candidate.near = sum(1 for d in upcoming if d <= horizon)
    candidate.soonest = min(upcoming) if upcoming else None


def _tie_text(winner: _Candidate, runner_up: _Candidate, rule: str) -> str:
    """Which ranking criterion put the winner ahead of the runner-up, in words."""
    w, r = winner, runner_up
    if w.attendees != r.attendees:
        what = "attendees among its contacts" if rule == Rule.EMAIL else "attendees on its domains"
        return f"more {what} ({w.attendees} vs {r.attendees})"
    if w.weight != r.weight:
        return f"prevalence: more of its CRM contacts use the domain ({w.weight} vs {r.weight})"
    if w.near != r.near:
        return (f"activity: more open opportunities closing within {NEAR_FUTURE_DAYS} days of the call "
                f"({w.near} vs {r.near})")
    if w.soonest != r.soonest:
        return (f"activity: its next open opportunity closes sooner "
                f"({w.soonest.isoformat()} vs {r.soonest.isoformat() if r.soonest else 'none'})")
    return f"all else equal, the lower CRM id ({w.account.remote_id} vs {r.account.remote_id})"


def _opportunity_pick(opportunities: list[_Opportunity], ref: date) -> tuple[_Opportunity | None, str]:
    """The open opportunity closing soonest on or after the call, and why."""
    if not opportunities:
        return None, "no open opportunity on the account"

    def bucket(o: _Opportunity) -> int:
        if o.close_date is None:
            return 2
        return 0 if o.close_date >= ref else 1

    def key(o: _Opportunity) -> tuple:
        b = bucket(o)
        when = o.close_date.toordinal() if o.close_date else 0
        return (b, when if b == 0 else -when, o.amount is None, -(o.amount or 0), o.remote_id)

    ranked = sorted(opportunities, key=key)
    best = ranked[0]
    n = len(ranked)
    of_n = "the only open one" if n == 1 else f"of {n} open"
    b = bucket(best)
    if b == 0:
        text = (f"opportunity '{best.name}' closes {best.close_date.isoformat()}, "
                + ("the only open one" if n == 1 else f"the soonest {of_n}"))
    elif b == 1:
        text = (f"opportunity '{best.name}', the only open one, was due {best.close_date.isoformat()}, "
                "before the call" if n == 1 else
                f"opportunity '{best.name}' was due {best.close_date.isoformat()}, before the call: none of the "
                f"{n} open closes on or after it and this one is the most recently due")
    else:
        text = (f"opportunity '{best.name}', the only open one, has no close date" if n == 1 else
                f"opportunity '{best.name}': none of the {n} open opportunities has a close date")
    tied = [o for o in ranked[1:] if bucket(o) == b and o.close_date == best.close_date]
    if tied:
        other = tied[0]
        others = f"'{other.name}'" + (f" and {_plural(len(tied) - 1, 'other')}" if len(tied) > 1 else "")
        on = "the same close date" if best.close_date else "no close date either"
        if best.amount != other.amount:
            why = f"its larger amount ({_money(best.amount)} vs {_money(other.amount)})"
        else:
            why = f"the same amount, so the lower CRM id ({best.remote_id} vs {other.remote_id})"
        text += f"; tied with {others} on {on}, chosen by {why}"
    return best, text


def _choose(candidates: list[_Candidate], batch: _Batch, ref: date) -> tuple[_Candidate, list[_Candidate]]:
    for c in candidates:
        _activity(c, batch.open_opportunities.get(c.account.id, []), ref)
    ranked = sorted(candidates, key=_Candidate.key)
    return ranked[0], ranked[1:]


def _decide(*, externals: dict[str, str], blocked_domains: frozenset[str], batch: _Batch, ref: date,
            zoominfo: bool) -> _Decision:
    """Apply the rules in the seed's order to one engagement's external attendees
    (``{email: registrable domain}``)."""
    if not externals:
        return _Decision(Rule.NONE, None, None, "No match: the engagement has no external attendees.")

    domain_counts = Counter(d for d in externals.values() if d and d not in blocked_domains)
    by_domain: dict[int, _Candidate] = {}
    for domain, n in sorted(domain_counts.items()):
        for account_id, weight in batch.domain_accounts.get(domain, ()):
            c = by_domain.get(account_id) or by_domain.setdefault(account_id, _Candidate(batch.accounts[account_id]))
            c.attendees += n
            c.weight += weight
            c.evidence.append(domain)

    attempts: list[tuple[str, list[_Candidate]]] = []
    if zoominfo:
        attempts.append((Rule.ZOOMINFO, [c for c in by_domain.values() if c.account.zoominfo_id]))
    attempts.append((Rule.DOMAIN, list(by_domain.values())))
    by_email: dict[int, _Candidate] = {}
    for email in sorted(externals):
        for account_id in sorted(batch.email_accounts.get(email, ())):
            c = by_email.get(account_id) or by_email.setdefault(account_id, _Candidate(batch.accounts[account_id]))
            c.attendees += 1
            c.evidence.append(email)
    attempts.append((Rule.EMAIL, list(by_email.values())))

    for rule, candidates in attempts:
        if not candidates:
            continue
        winner, others = _choose(candidates, batch, ref)
        account = winner.account
        if rule == Rule.EMAIL:
            head = (f"Matched {account.name} by the email {_join(winner.evidence)} of its contact"
                    if len(winner.evidence) == 1 else
                    f"Matched {account.name} by the emails {_join(winner.evidence)} of its contacts")
        else:
            which = (f"{'domain' if len(winner.evidence) == 1 else 'domains'} {_join(winner.evidence)} "
                     f"of {_plural(winner.attendees, 'attendee')}")
            head = (f"Matched {account.name} by its ZoomInfo Company ID {account.zoominfo_id} "
                    f"(the account of the {which})" if rule == Rule.ZOOMINFO else
                    f"Matched {account.name} by the {which}")
        parts = [head]
        if rule == Rule.ZOOMINFO:
            unconfirmed = len(by_domain) - len(candidates)
            if unconfirmed:
                parts.append(f"preferred to {_plural(unconfirmed, 'account')} of the same domains "
                             "without a ZoomInfo Company ID")
        if others:
            parts.append(f"chosen over {others[0].account.name}"
                         + (f" and {_plural(len(others) - 1, 'other account')}" if len(others) > 1 else "")
                         + f" by {_tie_text(winner, others[0], rule)}")
        opportunity, opp_text = _opportunity_pick(batch.open_opportunities.get(account.id, []), ref)
        parts.append(opp_text)
        return _Decision(rule, account, opportunity, "; ".join(parts) + ".")

    domains = sorted({d for d in externals.values() if d})
    matchable = [d for d in domains if d not in blocked_domains]
    skipped = [d for d in domains if d in blocked_domains]
    reason = (f"No match: no account has the domain {_join(matchable)}" if matchable else
              "No match: no attendee has a company domain")
    if skipped:
        reason += f" ({_join(skipped)}: free-mail or your own, never matched by domain)"
    reason += f", and no contact has the email of any of the {_plural(len(externals), 'external attendee')}."
    return _Decision(Rule.NONE, None, None, reason)


# --- Batched loading ---------------------------------------------------------------------


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _batch_load(*, org: Organization, provider: str | None, domains: set[str], emails: set[str],
                ) -> _Batch:
    accounts: dict[int, _Account] = {}
    domain_accounts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for chunk in _chunks(sorted(domains), IN_CHUNK):
        qs = AccountDomain.objects.for_org(org).filter(domain__in=chunk)
        if provider:
            qs = qs.filter(account__provider=provider)
        for account_id, domain, weight, remote_id, name, zi in qs.values_list(
            "account_id", "domain", "weight", "account__remote_id", "account__name", "account__zoominfo_id"
        ):
            domain_accounts[domain].append((account_id, weight))
            accounts[account_id] = _Account(account_id, remote_id, name, zi or "")

    email_accounts: dict[str, set[int]] = defaultdict(set)
    for chunk in _chunks(sorted(emails), IN_CHUNK):
        # The provider is checked here, not in SQL: with it, SQLite's planner picks the
        # (org, provider, remote_id) index and reads every contact of the org.
        for email, contact_provider, account_id, remote_id, name, zi in (
            CrmContact.objects.for_org(org).filter(email__in=chunk, account__isnull=False).values_list(
                "email", "provider", "account_id", "account__remote_id", "account__name", "account__zoominfo_id")
        ):
            if provider and contact_provider != provider:
                continue
            email_accounts[email].add(account_id)
            accounts[account_id] = _Account(account_id, remote_id, name, zi or "")

    open_opportunities: dict[int, list[_Opportunity]] = defaultdict(list)
    for chunk in _chunks(sorted(accounts), IN_CHUNK):
        for row in (
            CrmOpportunity.objects.for_org(org)
            .filter(account_id__in=chunk, is_closed=False)
            .values_list("id", "account_id", "remote_id", "name", "close_date", "amount")
        ):
            open_opportunities[row[1]].append(_Opportunity(*row))
    return _Batch(domain_accounts, email_accounts, accounts, open_opportunities)


def _match_chunk(*, org: Organization, engagements: Sequence[Engagement], context: MatchingContext,
                 blocked_domains: frozenset[str]) -> list[AccountMatch]:
    ids = [e.id for e in engagements]
    externals: dict[int, dict[str, str]] = {i: {} for i in ids}
    # No ``org`` condition: the engagements are this org's (checked by the callers), and
    # with ``org_id = ?`` SQLite's planner scans every participant of the org instead
    # of using the engagement index.
    for engagement_id, email in (
        Participant.objects.filter(engagement_id__in=ids, is_internal=False, is_ignored=False)
        .exclude(email="")
        .order_by()
        .values_list("engagement_id", "email")
    ):
        email = email.strip().lower()
        if org.is_internal_email(email):
            continue
        externals[engagement_id][email] = registrable_domain(email)

    domains = {d for ext in externals.values() for d in ext.values() if d and d not in blocked_domains}
    emails = {e for ext in externals.values() for e in ext}
    batch = _batch_load(org=org, provider=context.provider, domains=domains, emails=emails)

    existing = {
        row[0]: row[1:]
        for row in AccountMatch.objects.filter(engagement_id__in=ids).values_list(
            "engagement_id", "account_id", "opportunity_id", "rule", "reason"
        )
    }
    now = timezone.now()
    results: list[AccountMatch] = []
    to_write: list[AccountMatch] = []
    to_update: list[Engagement] = []
    for engagement in engagements:
        ref = timezone.localdate(engagement.started_at) if engagement.started_at else timezone.localdate()
        d = _decide(externals=externals[engagement.id], blocked_domains=blocked_domains, batch=batch,
                    ref=ref, zoominfo=context.zoominfo)
        match = AccountMatch(
            org=org, engagement=engagement,
            account_id=d.account.id if d.account else None,
            opportunity_id=d.opportunity.id if d.opportunity else None,
            rule=d.rule, reason=d.reason, matched_at=now,
        )
        results.append(match)
        if existing.get(engagement.id) != (match.account_id, match.opportunity_id, match.rule, match.reason):
            to_write.append(match)
        account_remote = d.account.remote_id if d.account else ""
        opportunity_remote = d.opportunity.remote_id if d.opportunity else ""
        if (engagement.crm_account_id, engagement.crm_opportunity_id) != (account_remote, opportunity_remote):
            engagement.crm_account_id = account_remote
            engagement.crm_opportunity_id = opportunity_remote
            to_update.append(engagement)

    with transaction.atomic():
        if to_write:
            # An upsert on the one-to-one: two workers matching the same call cannot collide.
            AccountMatch.objects.bulk_create(
                to_write, update_conflicts=True, unique_fields=["engagement"],
                update_fields=["account", "opportunity", "rule", "reason", "matched_at"],
            )
        if to_update:
            # One UPDATE that copies the remote ids from the matches just written:
            # bulk_update's CASE per row costs more Python than the whole match.
            this = AccountMatch.objects.filter(engagement_id=OuterRef("pk"))
            Engagement.objects.filter(org=org, id__in=[e.id for e in to_update]).update(
                crm_account_id=Coalesce(Subquery(this.values("account__remote_id")[:1]), Value("")),
                crm_opportunity_id=Coalesce(Subquery(this.values("opportunity__remote_id")[:1]), Value("")),
            )
    return results


# --- Public entry points -----------------------------------------------------------------


def engagements_match_batch(*, org: Organization, engagements: Iterable[Engagement],
                            zoominfo_installed: bool | None = None) -> list[AccountMatch]:
    """Match the org's engagements, ``BATCH_SIZE`` at a time, store each
    ``AccountMatch`` and set ``Engagement.crm_account_id`` / ``crm_opportunity_id``
    to the remote ids (rows are only written when something changed). Returns the
    computed matches (in memory, in the given order)."""
    engagements = list(engagements)
    if any(e.org_id != org.id for e in engagements):
        # Matching one org's call against another org's CRM would leak its accounts.
        raise ValueError("every engagement must belong to the organisation being matched")
    if not engagements:
        return []
    context = matching_context_get(org=org, zoominfo_installed=zoominfo_installed)
    blocked = _org_domains(org) | FREEMAIL_DOMAINS
    results: list[AccountMatch] = []
    for chunk in _chunks(engagements, BATCH_SIZE):
        results.extend(_match_chunk(org=org, engagements=chunk, context=context, blocked_domains=blocked))
    return results


def engagement_match(*, engagement: Engagement, zoominfo_installed: bool | None = None) -> AccountMatch:
    """Match one engagement (e.g. when an import makes it ready) and return its stored match."""
    engagements_match_batch(org=engagement.org, engagements=[engagement], zoominfo_installed=zoominfo_installed)
    return AccountMatch.objects.select_related("account", "opportunity").get(engagement=engagement)


_ENGAGEMENT_FIELDS = ("id", "org_id", "started_at", "crm_account_id", "crm_opportunity_id")


def _match_ids(*, org: Organization, engagement_ids: Sequence[int], zoominfo_installed: bool | None) -> int:
    if not engagement_ids:
        return 0
    context = matching_context_get(org=org, zoominfo_installed=zoominfo_installed)
    blocked = _org_domains(org) | FREEMAIL_DOMAINS
    for chunk in _chunks(sorted(engagement_ids), BATCH_SIZE):
        engagements = list(Engagement.objects.for_org(org).filter(id__in=chunk).only(*_ENGAGEMENT_FIELDS)
                           .order_by("id"))
        _match_chunk(org=org, engagements=engagements, context=context, blocked_domains=blocked)
    return len(engagement_ids)


def matches_refresh_for_accounts(*, org: Organization, account_ids: Iterable[int] = (),
                                 domains: Iterable[str] = (), emails: Iterable[str] = (),
                                 zoominfo_installed: bool | None = None) -> int:
    """Re-match the org's engagements that CRM changes may affect; the sync calls
    this with the local ids of accounts it created, changed or whose
    opportunities/contacts changed, and any domains or emails it added or
    removed. Affected: engagements matched to those accounts (or to a deleted
    account), and engagements with an external attendee on one of the accounts'
    domains or emails. Returns how many engagements were re-matched.

    Attendees are found through ``Participant.email_domain`` (indexed per org), so
    the cost follows the accounts that changed, not the org's history."""
    # Only this org's accounts (an id of another org's account is dropped here); the
    # look-ups below then go by account id alone, the selective index.
    account_ids = sorted({
        pk for chunk in _chunks(sorted(set(account_ids)), IN_CHUNK)
        for pk in CrmAccount.objects.for_org(org).filter(id__in=chunk).values_list("id", flat=True)
    })
    wanted_domains = {d for d in (registrable_domain(x) for x in domains) if d}
    wanted_emails = {e.strip().lower() for e in emails if e and e.strip()}
    affected: set[int] = set()
    for chunk in _chunks(account_ids, IN_CHUNK):
        wanted_domains.update(AccountDomain.objects.filter(account_id__in=chunk).values_list("domain", flat=True))
        wanted_emails.update(CrmContact.objects.filter(account_id__in=chunk).exclude(email="")
                             .values_list("email", flat=True))
        affected.update(AccountMatch.objects.filter(account_id__in=chunk).values_list("engagement_id", flat=True))
    wanted_domains -= _org_domains(org) | FREEMAIL_DOMAINS

    # Matched to an account the sync has since deleted (the FK was nulled).
    affected.update(AccountMatch.objects.for_org(org).filter(account__isnull=True).exclude(rule=Rule.NONE)
                    .values_list("engagement_id", flat=True))
    # Attendees by the indexed registrable domain: the accounts' domains, and the
    # domains of the contacts' addresses (then the address itself must match).
    email_domains = {registrable_domain(e) for e in wanted_emails} - wanted_domains
    for domains in _chunks(sorted(wanted_domains | email_domains), IN_CHUNK):
        for engagement_id, email, domain in (
            Participant.objects.for_org(org).filter(email_domain__in=domains, is_internal=False, is_ignored=False)
            .order_by().values_list("engagement_id", "email", "email_domain").iterator(chunk_size=5000)
        ):
            if domain in wanted_domains or email.strip().lower() in wanted_emails:
                affected.add(engagement_id)
    return _match_ids(org=org, engagement_ids=sorted(affected), zoominfo_installed=zoominfo_installed)


def matches_refresh_for_org(*, org: Organization, zoominfo_installed: bool | None = None) -> int:
    """Re-match every engagement of the org (after the first full CRM sync, or when
    the ZoomInfo app is installed or removed). Returns how many were matched."""
    ids = list(Engagement.objects.for_org(org).order_by("id").values_list("id", flat=True))
    return _match_ids(org=org, engagement_ids=ids, zoominfo_installed=zoominfo_installed)
