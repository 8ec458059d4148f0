"""Account matching: each rule and tie-break of the seed's "Account Matching" has its own case."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from crm import matching
from crm.models import AccountDomain, AccountMatch, CrmAccount, CrmContact, CrmOpportunity
from integrations.models import Connection, ConnectionStatus
from testutils.factories import EngagementFactory, ParticipantFactory

CALL_AT = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)


# --- Builders -----------------------------------------------------------------------------


def crm(org, provider="salesforce", **config):
    return Connection.objects.create(org=org, provider=provider, config=config, status=ConnectionStatus.OK)


_ids = iter(range(1, 1_000_000))


def account(org, name, *domains, zoominfo_id="", provider="salesforce", weights=None):
    acc = CrmAccount.objects.create(org=org, provider=provider, remote_id=f"001{next(_ids):06d}", name=name,
                                    zoominfo_id=zoominfo_id)
    for d in domains:
        AccountDomain.objects.create(org=org, account=acc, domain=d, weight=(weights or {}).get(d, 1))
    return acc


def opportunity(acc, name, close_date, *, amount=None, is_closed=False, remote_id=None):
    return CrmOpportunity.objects.create(
        org=acc.org, provider=acc.provider, remote_id=remote_id or f"006{next(_ids):06d}", account=acc, name=name,
        close_date=close_date, amount=Decimal(amount) if amount is not None else None, is_closed=is_closed,
    )


def contact(acc, email, *, kind="contact"):
    return CrmContact.objects.create(org=acc.org, provider=acc.provider, remote_id=f"003{next(_ids):06d}",
                                     account=acc, email=email.lower(), kind=kind)


def call(org, *emails, internal=(), ignored=(), blocklisted=()):
    eng = EngagementFactory(org=org, started_at=CALL_AT)
    ParticipantFactory(engagement=eng, email=f"rep{eng.id}@{org.email_domains[0]}", is_internal=True)
    for email in emails:
        ParticipantFactory(engagement=eng, email=email, is_internal=email in internal, is_ignored=email in ignored,
                           is_blocklisted=email in blocklisted)
    return eng


def match(eng, **kwargs) -> AccountMatch:
    result = matching.engagement_match(engagement=eng, **kwargs)
    eng.refresh_from_db()
    return result


# --- Registrable domains ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("ann@mail.acme.co.uk", "acme.co.uk"),
    ("mail.acme.co.uk", "acme.co.uk"),
    ("https://www.Wonka.com/about", "wonka.com"),
    ("www.wonka.com/about", "wonka.com"),
    ("Bob@EU.Wonka.COM", "wonka.com"),
    ("someone@acme.example", "acme.example"),  # not a public suffix: the last two labels
    ("x@10.0.0.1", ""),
    ("root@localhost", ""),
    ("", ""),
])
def test_registrable_domain(value, expected):
    assert matching.registrable_domain(value) == expected


# --- Rule 2: company domain ---------------------------------------------------------------


def test_domain_of_external_attendees_matches_account_and_sets_engagement_ids(org):
    crm(org)
    wonka = account(org, "Wonka Industries", "wonka.com")
    renewal = opportunity(wonka, "Renewal", date(2026, 12, 1))
    opportunity(wonka, "Expansion", date(2027, 2, 1))
    opportunity(wonka, "Upsell", date(2027, 3, 1))
    opportunity(wonka, "Lost deal", date(2026, 11, 15), is_closed=True)
    eng = call(org, "charlie@wonka.com", "grandpa.joe@wonka.com")

    m = match(eng)

    assert (m.rule, m.account, m.opportunity) == (AccountMatch.Rule.DOMAIN, wonka, renewal)
    assert m.reason == ("Matched Wonka Industries by the domain wonka.com of 2 attendees; "
                        "opportunity 'Renewal' closes 2026-12-01, the soonest of 3 open.")
    assert (eng.crm_account_id, eng.crm_opportunity_id) == (wonka.remote_id, renewal.remote_id)


def test_subdomain_of_attendee_matches_registrable_domain(org):
    acme = account(org, "Acme UK", "acme.co.uk")
    m = match(call(org, "ann@mail.acme.co.uk"))
    assert (m.rule, m.account) == (AccountMatch.Rule.DOMAIN, acme)
    assert "by the domain acme.co.uk of 1 attendee;" in m.reason


def test_account_with_several_domains_counts_attendees_on_all_of_them(org):
    wonka = account(org, "Wonka Industries", "wonka.com", "wonka.co.uk")
    account(org, "Slugworth", "slugworth.com")
    m = match(call(org, "a@wonka.com", "b@eu.wonka.co.uk", "c@slugworth.com"))
    assert m.account == wonka
    assert m.reason.startswith("Matched Wonka Industries by the domains wonka.co.uk and wonka.com of 2 attendees; "
                               "chosen over Slugworth by more attendees on its domains (2 vs 1);")


def test_no_match_says_what_was_tried(org):
    m = match(call(org, "a@newco.io", "b@gmail.com"))
    assert m.reason == ("No match: no account has the domain newco.io (gmail.com: free-mail or your own, never "
                        "matched by domain), and no contact has the email of any of the 2 external attendees.")


def test_free_mail_domains_never_match_by_domain(org):
    account(org, "Bad CRM row", "gmail.com")  # an account someone gave a gmail website
    eng = call(org, "someone@gmail.com", "other@yahoo.co.uk")
    m = match(eng)
    assert (m.rule, m.account) == (AccountMatch.Rule.NONE, None)
    assert "free-mail or your own, never matched by domain" in m.reason
    assert (eng.crm_account_id, eng.crm_opportunity_id) == ("", "")


def test_free_mail_address_still_matches_by_exact_email(org):
    wonka = account(org, "Wonka Industries", "wonka.com")
    contact(wonka, "Charlie.Bucket@gmail.com")
    m = match(call(org, "charlie.bucket@GMAIL.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.EMAIL, wonka)
    assert m.reason.startswith("Matched Wonka Industries by the email charlie.bucket@gmail.com of its contact;")


def test_org_own_domains_never_match_even_when_participant_not_flagged_internal(org):
    org.email_domains = ["acme.example", "acme-corp.com"]
    org.save()
    account(org, "Ourselves", "acme-corp.com")  # the org's own company is often an account in its CRM
    account(org, "Ourselves too", "acme.example")
    eng = call(org, "colleague@eu.acme-corp.com", "boss@acme.example")  # not flagged internal by the import
    m = match(eng)
    assert m.rule == AccountMatch.Rule.NONE
    assert m.reason == "No match: the engagement has no external attendees."


def test_org_domain_on_external_participant_row_is_skipped_for_domain_matching(org):
    # The org domain is also excluded when comparing domains, e.g. a subsidiary's
    # domain that shares the registrable domain.
    org.email_domains = ["us.acme-corp.com"]
    org.save()
    account(org, "Ourselves", "acme-corp.com")
    m = match(call(org, "someone@eu.acme-corp.com"))
    assert m.rule == AccountMatch.Rule.NONE
    assert "acme-corp.com: free-mail or your own" in m.reason


def test_internal_and_ignored_participants_do_not_count(org):
    wonka = account(org, "Wonka Industries", "wonka.com")
    account(org, "Slugworth", "slugworth.com")
    contact(wonka, "partner@consultancy.com")
    eng = call(org, "spy@slugworth.com", "partner@consultancy.com", "x@wonka.com",
               internal=("spy@slugworth.com",), ignored=("x@wonka.com", "partner@consultancy.com"))
    m = match(eng)
    assert (m.rule, m.account) == (AccountMatch.Rule.NONE, None)
    assert m.reason == "No match: the engagement has no external attendees."


def test_blocklisted_participant_still_counts_for_matching(org):
    # Block-listing stops the push to the CRM, not the match.
    wonka = account(org, "Wonka Industries", "wonka.com")
    m = match(call(org, "charlie@wonka.com", blocklisted=("charlie@wonka.com",)))
    assert m.account == wonka


# --- Rule 3: exact email, and the order of rules -------------------------------------------


def test_exact_email_is_the_fallback_when_no_domain_matches(org):
    crm(org)
    slugworth = account(org, "Slugworth", "slugworth.com")
    contact(slugworth, "arthur@consultants.io")
    m = match(call(org, "arthur@consultants.io"))
    assert (m.rule, m.account) == (AccountMatch.Rule.EMAIL, slugworth)
    assert m.reason == ("Matched Slugworth by the email arthur@consultants.io of its contact; "
                        "no open opportunity on the account.")


def test_leads_without_account_do_not_match(org):
    CrmContact.objects.create(org=org, provider="salesforce", remote_id="00Q1", kind="lead",
                              email="lead@prospect.io")
    assert match(call(org, "lead@prospect.io")).rule == AccountMatch.Rule.NONE


@pytest.mark.parametrize("provider", ["salesforce", "hubspot", "dynamics"])
def test_domain_comes_before_exact_email_without_zoominfo(org, provider):
    crm(org, provider)
    wonka = account(org, "Wonka Industries", "wonka.com", provider=provider)
    slugworth = account(org, "Slugworth", "slugworth.com", provider=provider)
    contact(slugworth, "charlie@wonka.com")  # a contact of another account, by exact email
    contact(slugworth, "arthur@gmail.com")
    m = match(call(org, "charlie@wonka.com", "arthur@gmail.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.DOMAIN, wonka)


def test_multiple_contacts_by_email_rank_by_attendees(org):
    a = account(org, "A Corp", "a-corp.com")
    b = account(org, "B Corp", "b-corp.com")
    contact(a, "one@gmail.com")
    contact(b, "two@gmail.com")
    contact(b, "three@gmail.com")
    m = match(call(org, "one@gmail.com", "two@gmail.com", "three@gmail.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.EMAIL, b)
    assert m.reason.startswith("Matched B Corp by the emails three@gmail.com and two@gmail.com of its contacts; "
                               "chosen over A Corp by more attendees among its contacts (2 vs 1);")


# --- Rule 1: ZoomInfo Company ID ------------------------------------------------------------


def _duplicate_accounts(org, provider="salesforce"):
    """wonka.com on two accounts: the ZoomInfo-confirmed one has less prevalence and no activity."""
    confirmed = account(org, "Wonka Industries", "wonka.com", zoominfo_id="ZI-1001", provider=provider)
    duplicate = account(org, "Wonka (old import)", "wonka.com", provider=provider, weights={"wonka.com": 40})
    opportunity(duplicate, "Stale renewal", date(2026, 11, 20))
    return confirmed, duplicate


def test_zoominfo_company_id_is_matched_first_when_the_app_is_installed(org):
    crm(org, "salesforce", zoominfo_installed=True)
    confirmed, _ = _duplicate_accounts(org)
    m = match(call(org, "charlie@wonka.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.ZOOMINFO, confirmed)
    assert m.reason == ("Matched Wonka Industries by its ZoomInfo Company ID ZI-1001 (the account of the domain "
                        "wonka.com of 1 attendee); preferred to 1 account of the same domains without a ZoomInfo "
                        "Company ID; no open opportunity on the account.")


def test_zoominfo_rule_comes_before_the_domain_rule(org):
    crm(org, "salesforce", zoominfo_installed=True)
    account(org, "Big Unconfirmed", "big.com")
    partner = account(org, "Partner Co", "partner.com", zoominfo_id="ZI-7")
    m = match(call(org, "a@big.com", "b@big.com", "c@big.com", "d@partner.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.ZOOMINFO, partner)


def test_zoominfo_falls_back_to_domain_then_email(org):
    crm(org, "salesforce", zoominfo_installed=True)
    account(org, "Has ZoomInfo elsewhere", "elsewhere.com", zoominfo_id="ZI-9")
    plain = account(org, "Plain", "plain.com")
    assert match(call(org, "a@plain.com")).rule == AccountMatch.Rule.DOMAIN
    contact(plain, "p@gmail.com")
    m = match(call(org, "p@gmail.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.EMAIL, plain)


def test_salesforce_without_the_zoominfo_app_ranks_duplicates_by_prevalence(org):
    crm(org, "salesforce", zoominfo_installed=False)
    _, duplicate = _duplicate_accounts(org)
    m = match(call(org, "charlie@wonka.com"))
    assert (m.rule, m.account) == (AccountMatch.Rule.DOMAIN, duplicate)


def test_zoominfo_app_detected_from_synced_zoominfo_ids_when_connection_does_not_say(org):
    crm(org, "salesforce")
    confirmed, _ = _duplicate_accounts(org)
    assert match(call(org, "charlie@wonka.com")).rule == AccountMatch.Rule.ZOOMINFO
    assert matching.matching_context_get(org=org).zoominfo is True


def test_zoominfo_can_be_turned_off_by_the_caller(org):
    crm(org, "salesforce")
    _, duplicate = _duplicate_accounts(org)
    m = match(call(org, "charlie@wonka.com"), zoominfo_installed=False)
    assert (m.rule, m.account) == (AccountMatch.Rule.DOMAIN, duplicate)


@pytest.mark.parametrize("provider", ["hubspot", "dynamics"])
def test_other_crms_never_use_zoominfo(org, provider):
    crm(org, provider, zoominfo_installed=True)
    _, duplicate = _duplicate_accounts(org, provider=provider)
    m = match(call(org, "charlie@wonka.com"), zoominfo_installed=True)
    assert (m.rule, m.account) == (AccountMatch.Rule.DOMAIN, duplicate)


def test_rows_of_a_previously_connected_crm_are_not_matched(org):
    crm(org, "salesforce")
    account(org, "Old HubSpot company", "wonka.com", provider="hubspot")
    assert match(call(org, "charlie@wonka.com")).rule == AccountMatch.Rule.NONE


# --- Several accounts: prevalence and activity ----------------------------------------------


def test_tie_break_most_attendees_on_the_domain(org):
    wonka = account(org, "Wonka Industries", "wonka.com")
    slug = account(org, "Slugworth", "slugworth.com", weights={"slugworth.com": 50})
    opportunity(slug, "Soon", date(2026, 11, 10))
    m = match(call(org, "a@wonka.com", "b@wonka.com", "c@slugworth.com"))
    assert m.account == wonka
    assert "chosen over Slugworth by more attendees on its domains (2 vs 1)" in m.reason


def test_tie_break_prevalence_of_the_domain_among_account_contacts(org):
    main = account(org, "Wonka Industries", "wonka.com", weights={"wonka.com": 12})
    other = account(org, "Wonka Labs", "wonka.com", weights={"wonka.com": 3})
    opportunity(other, "Soon", date(2026, 11, 10))  # activity comes after prevalence
    m = match(call(org, "a@wonka.com"))
    assert m.account == main
    assert "chosen over Wonka Labs by prevalence: more of its CRM contacts use the domain (12 vs 3)" in m.reason


def test_tie_break_open_opportunities_slated_to_close_in_the_near_future(org):
    quiet = account(org, "Wonka Holdings", "wonka.com")
    busy = account(org, "Wonka Industries", "wonka.com")
    opportunity(quiet, "Next year", date(2027, 9, 1))  # open but not in the near future
    opportunity(quiet, "Overdue", date(2026, 6, 1))  # open but past due
    opportunity(quiet, "Won", date(2026, 11, 5), is_closed=True)  # closed: no activity
    opportunity(busy, "Q4 deal", date(2026, 12, 15))
    opportunity(busy, "Q1 deal", date(2027, 1, 20))
    m = match(call(org, "a@wonka.com"))
    assert m.account == busy
    assert ("chosen over Wonka Holdings by activity: more open opportunities closing within 90 days of the call "
            "(2 vs 0)") in m.reason


def test_tie_break_soonest_open_opportunity(org):
    later = account(org, "Wonka Holdings", "wonka.com")
    sooner = account(org, "Wonka Industries", "wonka.com")
    opportunity(later, "B", date(2027, 1, 15))
    opportunity(sooner, "A", date(2026, 12, 1))
    m = match(call(org, "a@wonka.com"))
    assert m.account == sooner
    assert "by activity: its next open opportunity closes sooner (2026-12-01 vs 2027-01-15)" in m.reason


def test_tie_break_all_else_equal_lower_crm_id_is_deterministic(org):
    first = account(org, "Zeta Wonka", "wonka.com")
    second = account(org, "Alpha Wonka", "wonka.com")
    m = match(call(org, "a@wonka.com"))
    assert m.account == first
    assert f"all else equal, the lower CRM id ({first.remote_id} vs {second.remote_id})" in m.reason


# --- Which opportunity --------------------------------------------------------------------


def test_opportunity_soonest_on_or_after_the_call_over_past_due_and_closed(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Past due", date(2026, 10, 1))
    opportunity(acc, "Closed soon", date(2026, 11, 2), is_closed=True)
    soon = opportunity(acc, "Soon", date(2026, 11, 30))
    opportunity(acc, "Later", date(2027, 1, 1))
    opportunity(acc, "Undated", None)
    m = match(call(org, "a@wonka.com"))
    assert m.opportunity == soon
    assert m.reason.endswith("opportunity 'Soon' closes 2026-11-30, the soonest of 4 open.")


def test_opportunity_only_past_due_picks_the_most_recently_due(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Ancient", date(2024, 1, 1))
    recent = opportunity(acc, "Recent", date(2026, 10, 1))
    m = match(call(org, "a@wonka.com"))
    assert m.opportunity == recent
    assert "was due 2026-10-01, before the call" in m.reason


def test_opportunity_tie_on_close_date_goes_to_larger_amount_and_says_so(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Small", date(2026, 12, 1), amount="20000")
    big = opportunity(acc, "Big", date(2026, 12, 1), amount="50000")
    m = match(call(org, "a@wonka.com"))
    assert m.opportunity == big
    assert m.reason.endswith("opportunity 'Big' closes 2026-12-01, the soonest of 2 open; tied with 'Small' on "
                             "the same close date, chosen by its larger amount (50,000.00 vs 20,000.00).")


def test_opportunity_tie_on_date_and_amount_goes_to_lower_crm_id_and_says_so(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    a = opportunity(acc, "A", date(2026, 12, 1), amount="100", remote_id="006A")
    opportunity(acc, "B", date(2026, 12, 1), amount="100", remote_id="006B")
    m = match(call(org, "a@wonka.com"))
    assert m.opportunity == a
    assert "chosen by the same amount, so the lower CRM id (006A vs 006B)" in m.reason


def test_account_without_open_opportunity_leaves_opportunity_empty(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Won", date(2026, 12, 1), is_closed=True)
    eng = call(org, "a@wonka.com")
    m = match(eng)
    assert (m.account, m.opportunity) == (acc, None)
    assert (eng.crm_account_id, eng.crm_opportunity_id) == (acc.remote_id, "")


# --- Re-matching when CRM data changes -----------------------------------------------------


def test_rematch_after_the_opportunity_is_created(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    eng = call(org, "a@wonka.com")
    assert match(eng).opportunity is None

    opp = opportunity(acc, "Created after the call", date(2026, 12, 1))
    assert matching.matches_refresh_for_accounts(org=org, account_ids=[acc.id]) == 1

    eng.refresh_from_db()
    assert eng.crm_opportunity_id == opp.remote_id
    assert eng.account_match.opportunity == opp


def test_rematch_after_the_account_is_created(org):
    eng = call(org, "a@newco.io")
    untouched = call(org, "b@unrelated.io")
    assert match(eng).rule == AccountMatch.Rule.NONE
    match(untouched)

    acc = account(org, "NewCo", "newco.io")
    assert matching.matches_refresh_for_accounts(org=org, account_ids=[acc.id]) == 1

    eng.refresh_from_db()
    assert (eng.account_match.rule, eng.crm_account_id) == (AccountMatch.Rule.DOMAIN, acc.remote_id)


def test_rematch_by_changed_contact_email(org):
    eng = call(org, "person@gmail.com")
    match(eng)
    acc = account(org, "Wonka Industries", "wonka.com")
    contact(acc, "person@gmail.com")
    assert matching.matches_refresh_for_accounts(org=org, emails=["Person@Gmail.com"]) == 1
    eng.refresh_from_db()
    assert eng.account_match.account == acc


def test_rematch_moves_call_to_a_more_active_duplicate(org):
    first = account(org, "Wonka A", "wonka.com")
    eng = call(org, "a@wonka.com")
    assert match(eng).account == first
    second = account(org, "Wonka B", "wonka.com")
    opportunity(second, "Soon", date(2026, 11, 20))
    matching.matches_refresh_for_accounts(org=org, account_ids=[second.id])
    eng.refresh_from_db()
    assert eng.account_match.account == second


def test_rematch_after_the_account_is_deleted_clears_the_match(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Deal", date(2026, 12, 1))
    eng = call(org, "a@wonka.com")
    match(eng)
    acc.delete()
    assert matching.matches_refresh_for_accounts(org=org) == 1
    eng.refresh_from_db()
    assert eng.account_match.rule == AccountMatch.Rule.NONE
    assert (eng.crm_account_id, eng.crm_opportunity_id) == ("", "")


def test_rematch_for_org_matches_every_engagement(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    engs = [call(org, f"p{i}@wonka.com") for i in range(3)]
    assert matching.matches_refresh_for_org(org=org) == 3
    assert {e.account_match.account for e in engs} == {acc}


def test_unchanged_rematch_writes_nothing(org):
    acc = account(org, "Wonka Industries", "wonka.com")
    opportunity(acc, "Deal", date(2026, 12, 1))
    eng = call(org, "a@wonka.com")
    first = match(eng)
    with CaptureQueriesContext(db_connection) as ctx:
        matching.engagements_match_batch(org=org, engagements=[eng])
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert AccountMatch.objects.get(engagement=eng).matched_at == first.matched_at


# --- Tenancy --------------------------------------------------------------------------------


def test_another_orgs_accounts_and_contacts_never_match(org, other_org):
    theirs = account(other_org, "Wonka (Globex's CRM)", "wonka.com", zoominfo_id="ZI-1")
    contact(theirs, "charlie@gmail.com")
    opportunity(theirs, "Theirs", date(2026, 12, 1))
    eng = call(org, "a@wonka.com", "charlie@gmail.com")
    m = match(eng, zoominfo_installed=True)
    assert (m.rule, m.account, m.opportunity) == (AccountMatch.Rule.NONE, None, None)
    assert eng.crm_account_id == ""


def test_batch_refuses_another_orgs_engagements(org, other_org):
    with pytest.raises(ValueError):
        matching.engagements_match_batch(org=org, engagements=[call(other_org, "a@wonka.com")])


def test_refresh_only_touches_the_given_org(org, other_org):
    account(org, "Wonka Industries", "wonka.com")
    theirs = call(other_org, "a@wonka.com")
    matching.matches_refresh_for_accounts(org=org, domains=["wonka.com"])
    assert not AccountMatch.objects.filter(engagement=theirs).exists()


def test_refresh_finds_attendees_by_their_indexed_domain(org):
    """``Participant.email_domain`` is the registrable domain, filled on save and on
    bulk insert; a refresh reads the attendees of the changed domains and addresses
    only (a gmail contact's address, not every gmail attendee)."""
    from chorus.models import Participant

    acc = account(org, "Wonka Industries", "wonka.com")
    contact(acc, "charlie@gmail.com")
    sub, by_email, other_gmail, unrelated = (call(org, "ann@eu.wonka.com"), call(org, "charlie@gmail.com"),
                                             call(org, "someone@gmail.com"), call(org, "x@nowhere.org"))
    Participant.objects.bulk_create([Participant(org=org, engagement=unrelated, email="Bo@Mail.Wonka.co.uk")])
    assert set(Participant.objects.filter(org=org).values_list("email_domain", flat=True)) == {
        "wonka.com", "gmail.com", "nowhere.org", "wonka.co.uk", "acme.example"}  # acme.example: the rep
    with CaptureQueriesContext(db_connection) as ctx:
        matching.matches_refresh_for_accounts(org=org, account_ids=[acc.id])
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "chorus_participant"' in q["sql"]
             and "email_domain" in q["sql"] and "IN" in q["sql"]]
    assert reads, "participants are read by their domain"
    assert AccountMatch.objects.get(engagement=sub).account == acc
    assert AccountMatch.objects.get(engagement=by_email).account == acc
    assert not AccountMatch.objects.filter(engagement__in=[other_gmail, unrelated]).exists()


# --- Cost -----------------------------------------------------------------------------------


def _calls(org, n):
    accounts = [account(org, f"Company {i}", f"company{i}.com") for i in range(n)]
    for i, acc in enumerate(accounts):
        opportunity(acc, f"Deal {i}", date(2026, 12, 1))
        contact(acc, f"buyer{i}@gmail.com")
    return [call(org, f"a{i}@company{i}.com", f"b{i}@sub.company{i}.com", f"buyer{i}@gmail.com",
                 f"x{i}@nowhere{i}.org") for i in range(n)]


def test_query_count_is_constant_per_batch(org, django_assert_max_num_queries, django_assert_num_queries):
    crm(org)
    few, many = _calls(org, 3), _calls(org, 40)
    # CRM context (2), participants, domains, contacts, opportunities, existing matches,
    # then savepoint + upsert + engagement update + release: 11 whatever the batch holds.
    with django_assert_max_num_queries(11) as small:
        matching.engagements_match_batch(org=org, engagements=few)
    with django_assert_num_queries(len(small.captured_queries)):
        matches = matching.engagements_match_batch(org=org, engagements=many)
    assert all(m.rule == AccountMatch.Rule.DOMAIN for m in matches)


def test_batches_split_at_batch_size(org, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(matching, "BATCH_SIZE", 5)
    engs = _calls(org, 12)
    with django_assert_max_num_queries(3 * 9 + 2):  # three batches
        matching.engagements_match_batch(org=org, engagements=engs)
    assert AccountMatch.objects.for_org(org).exclude(account=None).count() == 12
