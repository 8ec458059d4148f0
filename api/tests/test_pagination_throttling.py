"""Cursor pages stay exact while rows come and go; the per-token rate limit."""

import datetime as dt

import pytest

from api.tests.conftest import T0, auth, make_token
from chorus.models import Engagement
from testutils.factories import EngagementFactory, UserFactory

pytestmark = pytest.mark.django_db


def _page(client, token, url):
    response = client.get(url, **auth(token))
    assert response.status_code == 200, response.content
    body = response.json()
    return [r["id"] for r in body["results"]], body["next"]


def test_pages_have_no_duplicates_or_skips_when_rows_are_inserted_between_them(client, acme):
    org, user = acme["org"], acme["user"]
    # Many engagements share one started_at: the cursor must hold the id too.
    for i in range(9):
        EngagementFactory(org=org, owner=user, started_at=T0 + dt.timedelta(hours=i // 3))
    seen, url, page = [], "/api/v1/engagements/?page_size=2", 0
    while url:
        ids, url = _page(client, acme["token"], url)
        seen += ids
        page += 1
        # Between pages: newer rows, rows with an already passed started_at, and rows
        # sharing the started_at of the page boundary (with larger ids).
        EngagementFactory(org=org, owner=user, started_at=T0 + dt.timedelta(days=1, minutes=page))
        last = Engagement.objects.get(pk=seen[-1])
        EngagementFactory(org=org, owner=user, started_at=last.started_at)
    assert len(seen) == len(set(seen))
    expected = list(Engagement.objects.for_org(org).filter(pk__lte=max(seen) if seen else 0)
                    .filter(created_at__lte=Engagement.objects.get(pk=seen[0]).created_at)
                    .order_by("-started_at", "-id").values_list("id", flat=True))
    # Every row that existed before the first page was read is listed, in order.
    original = [e for e in expected if e in seen]
    assert original == [e for e in seen if e in original]
    first_nine = sorted(Engagement.objects.for_org(org).order_by("id").values_list("id", flat=True)[:9])
    assert set(first_nine) <= set(seen)
    assert seen == sorted(seen, key=lambda pk: (Engagement.objects.get(pk=pk).started_at, pk), reverse=True)


def test_deleting_the_boundary_row_keeps_the_next_page(client, acme):
    made = [EngagementFactory(org=acme["org"], owner=acme["user"], started_at=T0) for _ in range(5)]
    ids, url = _page(client, acme["token"], "/api/v1/engagements/?page_size=2")
    assert ids == [made[4].pk, made[3].pk]
    Engagement.objects.filter(pk=made[3].pk).delete()
    ids, url = _page(client, acme["token"], url)
    assert ids == [made[2].pk, made[1].pk]
    ids, url = _page(client, acme["token"], url)
    assert (ids, url) == ([made[0].pk], None)


def test_next_link_keeps_the_filters(client, acme):
    other = UserFactory(org=acme["org"])
    for i in range(3):
        EngagementFactory(org=acme["org"], owner=acme["user"], started_at=T0 + dt.timedelta(minutes=i))
        EngagementFactory(org=acme["org"], owner=other, started_at=T0 + dt.timedelta(minutes=i))
    ids, url = _page(client, acme["token"], "/api/v1/engagements/?owner=rep%40acme.example&page_size=2")
    assert "owner=rep%40acme.example" in url and url.startswith("http://testserver/api/v1/engagements/")
    more, url = _page(client, acme["token"], url)
    assert url is None and len(ids + more) == 3


def test_rate_limit_per_token_answers_429_with_retry_after(client, acme, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "3/min"}}
    for _ in range(3):
        assert client.get("/api/v1/me/", **auth(acme["token"])).status_code == 200
    response = client.get("/api/v1/engagements/", **auth(acme["token"]))
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    body = response.json()
    assert body["error"]["code"] == "rate_limited" and "available in" in body["error"]["message"]
    # Another token of the same user has its own allowance; the schema has none.
    second = make_token(acme["user"])
    assert client.get("/api/v1/me/", **auth(second)).status_code == 200
    for _ in range(5):
        assert client.get("/api/v1/schema/").status_code == 200
