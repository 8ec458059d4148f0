"""Route by route: answers, filters, errors in the one shape, tenant isolation and
query counts."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.tests.conftest import T0, auth, full_engagement, make_token
from chorus import services
from chorus.models import Engagement, Organization
from crm.models import AccountMatch, CrmAccount, CrmOpportunity
from integrations.processing.models import EngagementProcessing
from testutils.factories import EngagementFactory, UserFactory

pytestmark = pytest.mark.django_db

ROUTES = ["/api/v1/me/", "/api/v1/engagements/", "/api/v1/engagements/{e}/", "/api/v1/accounts/",
          "/api/v1/accounts/{a}/", "/api/v1/opportunities/", "/api/v1/opportunities/{o}/"]


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def _ids(engagement):
    match = AccountMatch.objects.get(engagement=engagement)
    return {"e": engagement.pk, "a": match.account_id, "o": match.opportunity_id}


# --- Authentication, access, error shape -------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_a_valid_token(client, acme, route):
    url = route.format(**_ids(full_engagement(acme["org"], owner=acme["user"])))
    error = assert_error(client.get(url), 401, "not_authenticated")
    assert "credentials" in error["message"].lower()
    assert client.get(url).headers["WWW-Authenticate"] == "Bearer"
    assert_error(client.get(url, **auth("chorus_not-a-token")), 401, "not_authenticated")
    assert_error(client.get(url, HTTP_AUTHORIZATION="Bearer two words"), 401, "not_authenticated")


@pytest.mark.parametrize("route", ROUTES)
def test_revoked_token_and_inactive_user_are_refused(client, acme, route):
    url = route.format(**_ids(full_engagement(acme["org"], owner=acme["user"])))
    token = acme["user"].api_tokens.get()
    services.api_token_revoke(token=token)
    assert_error(client.get(url, **auth(acme["token"])), 401, "not_authenticated")


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_api_access_and_enterprise(client, acme, route):
    url = route.format(**_ids(full_engagement(acme["org"], owner=acme["user"])))
    org = acme["org"]
    Organization.objects.filter(pk=org.pk).update(api_access=False)
    assert_error(client.get(url, **auth(acme["token"])), 403, "permission_denied")
    Organization.objects.filter(pk=org.pk).update(api_access=True, package=Organization.Package.STANDARD)
    error = assert_error(client.get(url, **auth(acme["token"])), 403, "enterprise_required")
    assert "Enterprise" in error["message"]
    Organization.objects.filter(pk=org.pk).update(package=Organization.Package.ENTERPRISE)
    assert client.get(url, **auth(acme["token"])).status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_tenant_isolation_on_every_route(client, acme, globex, route):
    """Globex's token never sees Acme's rows: lists leave them out, ids are 404s
    (the same answer as an id that does not exist)."""
    mine = full_engagement(acme["org"], owner=acme["user"])
    theirs = full_engagement(globex["org"], owner=globex["user"], title="Globex secret")
    url = route.format(**_ids(mine))
    response = client.get(url, **auth(globex["token"]))
    if "{" in route:
        assert_error(response, 404, "not_found")
        assert client.get(route.format(e=10**9, a=10**9, o=10**9), **auth(globex["token"])).json() == response.json()
        assert client.get(route.format(**_ids(theirs)), **auth(globex["token"])).status_code == 200
    else:
        assert response.status_code == 200
        text = response.content.decode()
        assert "Discovery call" not in text and "acme" not in text.lower()
        if route != "/api/v1/me/":
            assert len(response.json()["results"]) >= 1


def test_other_orgs_ids_in_filters_match_nothing(client, acme, globex):
    mine = full_engagement(acme["org"], owner=acme["user"])
    full_engagement(globex["org"], owner=globex["user"])
    ids = _ids(mine)
    for query in (f"account={ids['a']}", f"opportunity={ids['o']}", f"owner={acme['user'].pk}",
                  "owner=rep@acme.example"):
        response = client.get(f"/api/v1/engagements/?{query}", **auth(globex["token"]))
        assert response.status_code == 200
        assert response.json()["results"] == [], query


def test_unknown_path_is_a_json_404(client, acme):
    assert_error(client.get("/api/v1/nothing-here/", **auth(acme["token"])), 404, "not_found")
    assert_error(client.get("/api/v1/engagements/abc/", **auth(acme["token"])), 404, "not_found")


def test_writes_are_refused_in_the_error_shape(client, acme):
    assert_error(client.post("/api/v1/engagements/", {}, **auth(acme["token"])), 405, "method_not_allowed")


# --- /me/ ------------------------------------------------------------------------------


def test_me(client, acme):
    body = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {acme['token']}").json()
    assert body["user"] == {"id": acme["user"].pk, "email": "rep@acme.example", "first_name": "Rey",
                            "last_name": "Rep", "name": "Rey Rep", "title": ""}
    assert body["organization"] == {"id": acme["org"].pk, "name": "Acme", "slug": "acme", "package": "enterprise"}
    assert body["token"] == {"name": "Script", "prefix": acme["token"][: len(body["token"]["prefix"])]}


# --- Engagements -------------------------------------------------------------------------


def test_engagement_list_item(client, acme):
    engagement = full_engagement(acme["org"], owner=acme["user"])
    ids = _ids(engagement)
    [item] = client.get("/api/v1/engagements/", **auth(acme["token"])).json()["results"]
    assert item["id"] == engagement.pk
    assert item["kind"] == "recording"
    assert item["title"] == "Discovery call"
    assert item["started_at"] == "2026-03-02T09:00:00Z"
    assert item["owner"] == {"id": acme["user"].pk, "email": "rep@acme.example", "name": "Rey Rep"}
    assert item["status"] == "ready"
    assert (item["account_id"], item["opportunity_id"]) == (ids["a"], ids["o"])
    assert "transcript" not in item and "participants" not in item
    assert item["updated_at"] >= item["created_at"]


def test_engagement_detail(client, acme):
    engagement = full_engagement(acme["org"], owner=acme["user"])
    body = client.get(f"/api/v1/engagements/{engagement.pk}/", **auth(acme["token"])).json()
    assert [p["name"] for p in body["participants"]] == ["Ann Prospect", "Bob Seller"]
    assert [p["is_internal"] for p in body["participants"]] == [False, True]
    assert [(m["tracker"], m["at_seconds"], m["speaker"]) for m in body["moments"]] == [
        (f"Budget {engagement.pk}", 3, "Ann"), (f"Budget {engagement.pk}", 9, "Bob")]
    assert body["next_steps"] == [{"text": "Send the proposal", "speaker": "Ann", "at_seconds": 12.5},
                                  {"text": "Book a demo", "speaker": "", "at_seconds": None}]
    assert body["brief"] == {"summary": "They have budget.", "engine": "extractive",
                             "action_items": [{"text": "Send pricing", "speaker": "Bob", "at_seconds": None}]}
    assert body["transcript"]["text"] == "Ann: Budget is fine."
    assert [s["text"] for s in body["transcript"]["segments"]] == ["Part 0", "Part 1"]
    assert body["transcript"]["segments"][1] == {"position": 1, "speaker": "Ann", "start_seconds": 2.0,
                                                 "end_seconds": 3.5, "text": "Part 1"}
    assert body["recording_notification_detected"] is True
    assert body["status"] == "ready"


def test_engagement_without_processing_or_match(client, acme):
    engagement = EngagementFactory(org=acme["org"], owner=None, kind=Engagement.Kind.EMAIL)
    body = client.get(f"/api/v1/engagements/{engagement.pk}/", **auth(acme["token"])).json()
    assert (body["status"], body["account_id"], body["opportunity_id"], body["owner"]) == (None, None, None, None)
    assert body["brief"]["engine"] == "" and body["transcript"]["segments"] == []


def test_no_n_plus_one(client, acme):
    for i in range(3):
        full_engagement(acme["org"], owner=acme["user"], started_at=T0 + dt.timedelta(hours=i))
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/engagements/", **auth(acme["token"]))
    for i in range(3, 12):
        full_engagement(acme["org"], owner=UserFactory(org=acme["org"]), started_at=T0 + dt.timedelta(hours=i))
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/engagements/", **auth(acme["token"]))
    assert len(response.json()["results"]) == 12
    assert len(many) == len(few) <= 5  # token lookup + last_used + the page

    engagement = Engagement.objects.for_org(acme["org"]).first()
    with CaptureQueriesContext(connection) as detail:
        client.get(f"/api/v1/engagements/{engagement.pk}/", **auth(acme["token"]))
    assert len(detail) <= 6  # token, last_used, the engagement + 3 prefetches


@pytest.fixture
def spread(acme):
    """Four engagements with different owners, kinds, accounts and days."""
    org, user = acme["org"], acme["user"]
    other_owner = UserFactory(org=org, email="ae@acme.example")
    a = full_engagement(org, owner=user, started_at=T0)
    b = full_engagement(org, owner=other_owner, started_at=T0 + dt.timedelta(days=1))
    c = EngagementFactory(org=org, owner=user, started_at=T0 + dt.timedelta(days=2), kind=Engagement.Kind.DIALER_CALL)
    d = EngagementFactory(org=org, owner=other_owner, started_at=T0 + dt.timedelta(days=3),
                          kind=Engagement.Kind.EMAIL)
    return {"a": a, "b": b, "c": c, "d": d, "other_owner": other_owner}


def _listed(client, acme, query):
    response = client.get(f"/api/v1/engagements/?{query}", **auth(acme["token"]))
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_engagement_filters(client, acme, spread):
    a, b, c, d = (spread[k].pk for k in "abcd")
    assert _listed(client, acme, "") == [d, c, b, a]
    assert _listed(client, acme, "started_after=2026-03-03T09:00:00Z") == [d, c, b]
    assert _listed(client, acme, "started_before=2026-03-03T09:00:00Z") == [a]
    between = "started_after=2026-03-03T00:00:00%2B00:00&started_before=2026-03-05T00:00:00Z"
    assert _listed(client, acme, between) == [c, b]
    assert _listed(client, acme, "owner=REP@acme.example") == [c, a]
    assert _listed(client, acme, f"owner={spread['other_owner'].pk}") == [d, b]
    assert _listed(client, acme, f"account={_ids(spread['b'])['a']}") == [b]
    assert _listed(client, acme, f"opportunity={_ids(spread['a'])['o']}") == [a]
    assert _listed(client, acme, "kind=dialer_call") == [c]
    assert _listed(client, acme, "kind=email&owner=ae@acme.example") == [d]


def test_updated_since_sees_creation_processing_and_matching(client, acme, spread):
    a, b, c, d = (spread[k] for k in "abcd")
    past = timezone.now() - dt.timedelta(days=30)
    Engagement.objects.filter(pk__in=[a.pk, b.pk, c.pk, d.pk]).update(created_at=past)
    EngagementProcessing.objects.filter(engagement__in=[a, b]).update(updated_at=past)
    AccountMatch.objects.filter(engagement__in=[a, b]).update(matched_at=past)
    since = (timezone.now() - dt.timedelta(days=1)).isoformat().replace("+", "%2B")
    assert _listed(client, acme, f"updated_since={since}") == []
    # Processing finished again (processing writes with .update(), not save()).
    EngagementProcessing.objects.filter(engagement=a).update(updated_at=timezone.now())
    # Account matching ran again.
    AccountMatch.objects.filter(engagement=b).update(matched_at=timezone.now())
    # A new engagement.
    Engagement.objects.filter(pk=d.pk).update(created_at=timezone.now())
    assert _listed(client, acme, f"updated_since={since}") == [d.pk, b.pk, a.pk]


@pytest.mark.parametrize("query, field", [
    ("started_after=yesterday", "started_after"),
    ("started_before=2026-13-01", "started_before"),
    ("updated_since=0", "updated_since"),
    ("updated_since=2026-03-02", "updated_since"),
    ("started_after=2026-03-02T09:00:00", "started_after"),
    ("kind=fax", "kind"),
    ("account=abc", "account"),
    ("opportunity=-1", "opportunity"),
    ("account=99999999999999999999999", "account"),
    ("page_size=0", "page_size"),
    ("page_size=1000", "page_size"),
    ("cursor=%%%", "cursor"),
    ("cursor=WyJ4Il0", "cursor"),  # base64 of ["x"]: wrong length
    ("cursor=WyJub3QgYSBkYXRlIiwgIjEiXQ", "cursor"),  # ["not a date", "1"]
])
def test_bad_filters_are_400_naming_the_parameter(client, acme, query, field):
    error = assert_error(client.get(f"/api/v1/engagements/?{query}", **auth(acme["token"])), 400,
                         "invalid_request")
    assert list(error["details"]) == [field]


def test_huge_owner_id_matches_nothing(client, acme, spread):
    assert _listed(client, acme, "owner=99999999999999999999999") == []


# --- Accounts and opportunities -------------------------------------------------------------


def test_accounts_and_opportunities(client, acme):
    engagement = full_engagement(acme["org"], owner=acme["user"])
    ids = _ids(engagement)
    accounts = client.get("/api/v1/accounts/", **auth(acme["token"])).json()
    assert accounts["next"] is None
    assert accounts["results"][0]["id"] == ids["a"]
    assert accounts["results"][0]["name"] == f"Customer {engagement.pk}"
    account = client.get(f"/api/v1/accounts/{ids['a']}/", **auth(acme["token"])).json()
    assert account["remote_id"] == f"001{engagement.pk}" and account["provider"] == "salesforce"
    opportunity = client.get(f"/api/v1/opportunities/{ids['o']}/", **auth(acme["token"])).json()
    assert (opportunity["account_id"], opportunity["amount"], opportunity["name"]) == (ids["a"], "1200.50",
                                                                                        "Big deal")
    assert opportunity["is_closed"] is False
    listed = client.get("/api/v1/opportunities/", **auth(acme["token"])).json()["results"]
    assert [o["id"] for o in listed] == [ids["o"]]


def test_account_pages_are_ordered_by_id(client, acme):
    made = [CrmAccount.objects.create(org=acme["org"], provider="hubspot", remote_id=str(i), name=f"Z{9 - i}")
            for i in range(5)]
    seen, url = [], "/api/v1/accounts/?page_size=2"
    while url:
        body = client.get(url, **auth(acme["token"])).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == [a.pk for a in made]
    assert CrmOpportunity.objects.count() == 0
    assert make_token(acme["user"])  # a second token of the same user also works
