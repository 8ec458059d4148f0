"""Custom CRM Filters on Recordings, Deals and Analytics."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import AccountMatch, CrmAccount, CrmField, CrmOpportunity
from testutils.factories import EngagementFactory, MomentFactory


def account(org, name, **custom):
    return CrmAccount.objects.create(org=org, provider="salesforce", remote_id=f"001{name}", name=name, custom=custom)


def opportunity(org, acct, name, stage, amount, close, **custom):
    return CrmOpportunity.objects.create(org=org, provider="salesforce", remote_id=f"006{name}", account=acct,
                                         name=name, stage=stage, amount=Decimal(amount), close_date=close,
                                         custom=custom)


def call(org, title, acct, opp):
    e = EngagementFactory(org=org, title=title)
    AccountMatch.objects.create(org=org, engagement=e, account=acct, opportunity=opp, rule="domain")
    return e


def field(org, obj, api, ftype, label, values=()):
    return CrmField.objects.create(org=org, provider="salesforce", object_name=obj, api_name=api, label=label,
                                   field_type=ftype, selected=True, picklist_values=list(values))


@pytest.fixture
def data(org):
    wonka = account(org, "Wonka Industries", Industry__c="Confectionery", Tier__c=["Gold", "EMEA"], Employees__c=500,
                    Strategic__c=True)
    schrute = account(org, "Schrute Farms", Industry__c="Agriculture", Tier__c=["Silver"], Employees__c=12,
                      Strategic__c=False)
    big = opportunity(org, wonka, "Wonka Renewal", "Negotiation", "250000", dt.date(2026, 12, 15),
                      Renewal_Date__c="2027-01-01", Type__c="Renewal")
    small = opportunity(org, schrute, "Beets Expansion", "Discovery", "5000", dt.date(2027, 3, 1),
                        Renewal_Date__c="2027-06-01", Type__c="New Business")
    e1, e2 = call(org, "Wonka pricing", wonka, big), call(org, "Beet farm intro", schrute, small)
    EngagementFactory(org=org, title="No CRM match")
    MomentFactory(engagement=e1, tracker__name="Budget")
    MomentFactory(engagement=e2, tracker__name="Pain")
    field(org, "Account", "Industry__c", "String", "Industry")
    field(org, "Account", "Tier__c", "Multipicklist", "Tier", ["Gold", "Silver", "EMEA"])
    field(org, "Account", "Employees__c", "Number", "Employees")
    field(org, "Account", "Strategic__c", "Boolean", "Strategic")
    field(org, "Opportunity", "Renewal_Date__c", "Date", "Renewal Date")
    field(org, "Opportunity", "Type__c", "Picklist", "Type", ["Renewal", "New Business"])
    CrmField.objects.create(org=org, provider="salesforce", object_name="Account", api_name="Hidden__c",
                            label="Not selected", field_type="String", selected=False)
    return {"big": big, "small": small}


def titles(response):
    body = response.content.decode()
    return {t for t in ("Wonka pricing", "Beet farm intro", "No CRM match") if t in body}


@pytest.mark.parametrize(("params", "expected"), [
    ({"account_name": "wonka"}, {"Wonka pricing"}),
    ({"opportunity_name": "beets"}, {"Beet farm intro"}),
    ({"opportunity_stage": ["Negotiation"]}, {"Wonka pricing"}),
    ({"opportunity_size_min": "10000"}, {"Wonka pricing"}),
    ({"opportunity_size_max": "10000"}, {"Beet farm intro"}),
    ({"close_date_after": "2027-01-01"}, {"Beet farm intro"}),
    ({"crm_account_industry__c": "agri"}, {"Beet farm intro"}),
    ({"crm_account_tier__c": ["EMEA"]}, {"Wonka pricing"}),
    ({"crm_opportunity_type__c": ["Renewal"]}, {"Wonka pricing"}),
    ({"crm_account_tier__c": ["Silver", "EMEA"]}, {"Wonka pricing", "Beet farm intro"}),
    ({"crm_account_employees__c_min": "100"}, {"Wonka pricing"}),
    ({"crm_account_strategic__c": "false"}, {"Beet farm intro"}),
    ({"crm_opportunity_renewal_date__c_before": "2027-02-01"}, {"Wonka pricing"}),
])
def test_recordings_filter_by_standard_and_imported_crm_fields(admin_client, data, params, expected):
    assert titles(admin_client.get("/recordings/", params)) == expected


def test_filter_widgets_follow_the_field_type(admin_client, data):
    body = admin_client.get("/recordings/").content.decode()
    assert "Custom CRM Filters" in body
    assert 'name="crm_account_tier__c" ' in body and "multiple" in body  # picklist: multi-select
    assert 'name="crm_account_employees__c_min"' in body and 'name="crm_account_employees__c_max"' in body
    assert 'name="close_date_after"' in body and 'type="date"' in body
    assert "Not selected" not in body  # only the admin's selected fields
    assert '<option value="Negotiation">' in body  # stages from the CRM data


def test_no_crm_data_means_no_crm_filters(admin_client, org):
    assert "Custom CRM Filters" not in admin_client.get("/recordings/").content.decode()


def test_other_orgs_crm_data_never_shows(admin_client, data, other_org):
    theirs = account(other_org, "Globex Secret")
    opportunity(other_org, theirs, "Globex Deal", "Secret Stage", "1", dt.date(2026, 1, 1))
    field(other_org, "Account", "Secret__c", "String", "Their field")
    for url in ("/recordings/", "/deals/", "/analytics/"):
        body = admin_client.get(url).content.decode()
        assert "Secret Stage" not in body and "Their field" not in body and "Globex" not in body


def test_deals_list_opportunities_with_their_conversations(admin_client, data):
    body = admin_client.get("/deals/").content.decode()
    assert "Wonka Renewal" in body and "Beets Expansion" in body and "250,000" in body
    body = admin_client.get("/deals/", {"opportunity_stage": ["Discovery"]}).content.decode()
    assert "Beets Expansion" in body and "Wonka Renewal" not in body


def test_analytics_counts_by_stage_and_tracker(admin_client, data):
    response = admin_client.get("/analytics/", {"account_name": "wonka"})
    assert response.context["total"] == 1
    assert [(r["stage"], r["n"]) for r in response.context["by_stage"]] == [("Negotiation", 1)]
    assert [(r["name"], r["n"]) for r in response.context["by_tracker"]] == [("Budget", 1)]


def test_crm_filtered_lists_do_not_grow_queries(admin_client, data, org, django_assert_max_num_queries):
    with django_assert_max_num_queries(14) as few:
        admin_client.get("/recordings/", {"account_name": "a"})
    for i in range(15):
        call(org, f"More {i}", data["big"].account, data["big"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin_client.get("/recordings/", {"account_name": "a"})
    with django_assert_max_num_queries(12):
        admin_client.get("/deals/")
