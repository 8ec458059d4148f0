"""The CRM pages: who may use them, tenant isolation, Select CRM Fields, Disconnect,
the sections on Settings > Integrations, and CRM sign-in."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse
from django.utils import timezone

from chorus.models import AuditEvent
from crm import services
from crm.models import CrmField, CrmSyncCursor
from crm.tests.conftest import query_of
from crm.tests.test_salesforce import expect_token_exchange
from integrations.models import Connection
from testutils.factories import UserFactory, role

pytestmark = pytest.mark.usefixtures("only_crm_sections")


def make_connection(org, user=None, provider="salesforce", **extra):
    return Connection.objects.create(org=org, provider=provider, status="ok", connected_by=user,
                                     config={"crm_org_id": "00DORG000000001", "instance_url": "https://x.example",
                                             **extra},
                                     secrets={"access_token": "A", "refresh_token": "R"})


def make_fields(org, provider="salesforce"):
    return {
        "tier": CrmField.objects.create(org=org, provider=provider, object_name="Account", api_name="Tier__c",
                                        label="Customer Tier", field_type="Picklist", picklist_values=["Gold"]),
        "notes": CrmField.objects.create(org=org, provider=provider, object_name="Account", api_name="Notes__c",
                                         label="Account Notes", field_type="Text Area", supported=False,
                                         unsupported_reason="Text Area fields can't be used as filters."),
        "gone": CrmField.objects.create(org=org, provider=provider, object_name="Opportunity", api_name="Old__c",
                                        label="Old Region", field_type="Picklist", missing_since=timezone.now()),
        "score": CrmField.objects.create(org=org, provider=provider, object_name="Lead", api_name="Score__c",
                                         label="Lead Score", field_type="Number"),
    }


# --- Permissions and tenant isolation --------------------------------------------------------


def endpoints(pk):
    return [
        ("get", reverse("crm-enable", args=["salesforce"])),
        ("post", reverse("crm-enable", args=["hubspot"])),
        ("get", reverse("crm-fields")),
        ("post", reverse("crm-fields")),
        ("post", reverse("crm-disconnect", args=[pk])),
        ("post", reverse("crm-sync-now", args=[pk])),
        ("get", reverse("crm-status", args=[pk])),
    ]


def test_non_admins_get_403_everywhere(rep_client, org):
    conn = make_connection(org)
    for method, url in endpoints(conn.pk):
        assert getattr(rep_client, method)(url).status_code == 403, url
    response = rep_client.get(reverse("crm-oauth-callback", args=["salesforce"]), {"code": "x", "state": "y"})
    assert response.status_code == 403
    conn.refresh_from_db()
    assert conn.status == "ok"


def test_anonymous_is_sent_to_log_in(client, org):
    conn = make_connection(org)
    for method, url in endpoints(conn.pk):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_another_orgs_connection_is_404(admin_client, org, other_org):
    theirs = make_connection(other_org)
    for method, url in endpoints(theirs.pk)[4:]:
        assert getattr(admin_client, method)(url).status_code == 404, url
    theirs.refresh_from_db()
    assert theirs.status == "ok" and theirs.secrets["access_token"] == "A"


def test_another_orgs_field_ids_are_404(admin_client, org, other_org):
    make_connection(org)
    mine = make_fields(org)
    theirs = make_fields(other_org)
    response = admin_client.post(reverse("crm-fields"), {"fields": [mine["tier"].pk, theirs["tier"].pk]})
    assert response.status_code == 404
    assert not CrmField.objects.filter(selected=True).exists()


def test_unknown_crm_is_404(admin_client, org):
    assert admin_client.get("/integrations/pipedrive/oauth/").status_code == 404


# --- Settings > Integrations ------------------------------------------------------------------


def test_sections_before_connecting(admin_client, org):
    page = html.unescape(admin_client.get(reverse("settings-integrations")).content.decode())
    assert "CRM Connect" in page and "Import CRM Data for Additional Use Cases Like Filtering and Search" in page
    for title in ("Salesforce Connect", "Hubspot Connect", "Microsoft Dynamics Connect"):
        assert title in page
    assert page.count(">Enable<") == 3
    assert "Any member of your CRM org can sign-in to Chorus using CRM authentication." in page
    assert "Note: Being a CRM Admin is not required to connect your team's CRM to Chorus." in page
    assert "does not integrate with any on-prem version" in page
    assert page.index("CRM Connect") < page.index("Import CRM Data for Additional")


def test_connected_crm_shows_status_who_and_last_sync(admin_client, org, admin_user):
    conn = make_connection(org, admin_user, edition="Enterprise Edition", crm_org_name="Acme Corp",
                           last_result={"ok": True, "counts": {"Account": 12, "Opportunity": 3}})
    conn.last_run_at = timezone.now()
    conn.save()
    page = html.unescape(admin_client.get(reverse("settings-integrations")).content.decode())
    assert ">Enabled<" in page and "Ada Admin" in page and "Acme Corp · Enterprise Edition" in page
    assert "12 accounts, 3 opportunities updated" in page
    assert "Disconnect" in page and "Install Salesforce Package" in page and "Select CRM Fields" in page
    assert page.count(">Enable<") == 2  # the other CRMs, disabled: one CRM at a time


def test_progress_shows_while_syncing(admin_client, org, admin_user):
    conn = make_connection(org, admin_user, progress={"object": "Opportunity", "done": 2000, "total": 8000})
    conn.status = "syncing"
    conn.save()
    page = admin_client.get(reverse("crm-status", args=[conn.pk])).content.decode()
    assert "Opportunity: 2000 of 8000" in page and 'aria-valuenow="25"' in page and 'hx-trigger="every 3s"' in page


def test_disconnect_revokes_at_salesforce_and_forgets_tokens(admin_client, org, admin_user, crm_server):
    conn = make_connection(org, admin_user, login_url=crm_server.url_for("").rstrip("/"))
    crm_server.expect_oneshot_request("/services/oauth2/revoke", method="POST", data="token=R").respond_with_data("")
    response = admin_client.post(reverse("crm-disconnect", args=[conn.pk]), follow=True)
    assert "Salesforce is disconnected and Chorus’s access is revoked." in response.content.decode()
    crm_server.check_assertions()
    conn.refresh_from_db()
    assert conn.status == "disconnected" and conn.secrets == {}
    assert services.crm_connection_get(org=org) is None
    assert AuditEvent.objects.get(action="crm.disconnected").changes == {"revoked_at_crm": [None, True]}


def test_disconnect_when_the_crm_cannot_revoke_still_forgets_and_says_what_to_do(admin_client, org, admin_user,
                                                                                 crm_server):
    conn = make_connection(org, admin_user, login_url=crm_server.url_for("").rstrip("/"))
    crm_server.expect_oneshot_request("/services/oauth2/revoke", method="POST").respond_with_data("", status=503)
    html = admin_client.post(reverse("crm-disconnect", args=[conn.pk]), follow=True).content.decode()
    assert "Salesforce is disconnected. Chorus no longer syncs" in html
    assert "Connected Apps OAuth Usage &gt; Chorus &gt; Revoke" in html
    conn.refresh_from_db()
    assert conn.secrets == {} and AuditEvent.objects.get(action="crm.disconnected").changes == {
        "revoked_at_crm": [None, False]}
    hubspot = make_connection(org, admin_user, provider="hubspot")
    crm_server.expect_oneshot_request("/oauth/v1/refresh-tokens/R", method="DELETE").respond_with_data("", status=204)
    html = admin_client.post(reverse("crm-disconnect", args=[hubspot.pk]), follow=True).content.decode()
    assert "HubSpot is disconnected and Chorus’s access is revoked." in html
    crm_server.check_assertions()
    dynamics = make_connection(org, admin_user, provider="dynamics")
    html = admin_client.post(reverse("crm-disconnect", args=[dynamics.pk]), follow=True).content.decode()
    assert "an Entra ID admin removes Chorus under Enterprise applications" in html


def test_sync_now_queues(admin_client, org, admin_user, django_capture_on_commit_callbacks):
    conn = make_connection(org, admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(reverse("crm-sync-now", args=[conn.pk]))
    conn.refresh_from_db()
    assert conn.status == "queued" and len(callbacks) == 1


# --- Select CRM Fields ------------------------------------------------------------------------


def test_fields_page_lists_supported_and_unsupported_with_reason(admin_client, org):
    make_connection(org)
    fields = make_fields(org)
    page = html.unescape(admin_client.get(reverse("crm-fields")).content.decode())
    assert "Select CRM Fields" in page and ">Save<" in page
    assert f'value="{fields["tier"].pk}" id="field-{fields["tier"].pk}"  >' in page
    assert f'value="{fields["notes"].pk}" id="field-{fields["notes"].pk}"  disabled>' in page
    assert "Text Area fields can't be used as filters." in page
    assert "No longer in Salesforce since" in page
    for obj in ("Task", "Lead", "Account", "Opportunity"):
        assert f'id="obj-{obj}"' in page


def test_save_selection_restarts_the_cursor_and_queues_a_sync(admin_client, org, admin_user,
                                                              django_capture_on_commit_callbacks):
    conn = make_connection(org, admin_user)
    fields = make_fields(org)
    cursor = CrmSyncCursor.objects.create(org=org, provider="salesforce", object_name="Account",
                                          modified_since=timezone.now())
    opp_cursor = CrmSyncCursor.objects.create(org=org, provider="salesforce", object_name="Opportunity",
                                              modified_since=timezone.now())
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("crm-fields"), {"fields": [fields["tier"].pk]}, follow=True)
    assert "Saved: 1 CRM field imported for filtering" in response.content.decode()
    assert list(CrmField.objects.filter(selected=True)) == [fields["tier"]]
    cursor.refresh_from_db()
    opp_cursor.refresh_from_db()
    assert cursor.modified_since is None and opp_cursor.modified_since is not None
    assert len(callbacks) == 1
    conn.refresh_from_db()
    assert conn.status == "queued"
    page = html.unescape(admin_client.get(reverse("settings-integrations")).content.decode())
    assert "Account · Customer Tier" in page


@pytest.mark.parametrize("key,sentence", [
    ("notes", "“Account Notes” (Text Area) can't be imported: Text Area fields can't be used as filters."),
    ("gone", "“Old Region” no longer exists in Salesforce and can't be selected."),
])
def test_unselectable_fields_are_refused_with_a_sentence(admin_client, org, key, sentence):
    make_connection(org)
    fields = make_fields(org)
    response = admin_client.post(reverse("crm-fields"), {"fields": [fields["tier"].pk, fields[key].pk]})
    assert response.status_code == 400
    assert sentence in html.unescape(response.content.decode())
    assert not CrmField.objects.filter(selected=True).exists()


def test_unticking_a_vanished_field_is_allowed(admin_client, org):
    make_connection(org)
    fields = make_fields(org)
    CrmField.objects.filter(pk=fields["gone"].pk).update(selected=True)
    admin_client.post(reverse("crm-fields"), {"fields": []})
    assert not CrmField.objects.filter(selected=True).exists()


def test_fields_page_without_crm(admin_client, org):
    page = admin_client.get(reverse("crm-fields")).content.decode()
    assert "No CRM connected" in page
    response = admin_client.post(reverse("crm-fields"), {"fields": []}, follow=True)
    assert "Connect a CRM first" in response.content.decode()


# --- CRM sign-in ------------------------------------------------------------------------------


def sign_in(client, crm_server):
    response = client.get(reverse("crm-login", args=["salesforce"]))
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert "prompt" not in params and params["redirect_uri"] == "https://chorus.test/integrations/salesforce/oauth/"
    expect_token_exchange(crm_server, access="LOGIN-ACCESS", refresh="LOGIN-REFRESH")
    return client.get(reverse("crm-oauth-callback", args=["salesforce"]), {"code": "C", "state": params["state"]})


def test_crm_sign_in_logs_in_the_matching_user_of_the_connected_org(client, org, other_org, crm_server):
    make_connection(org)
    me = UserFactory(org=org, email="OPS@acme.example", role=role(org))
    UserFactory(org=other_org, email="ops@acme.example")  # same email elsewhere: not connected to this CRM org
    response = sign_in(client, crm_server)
    assert response.status_code == 302 and response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == me.pk


def test_crm_sign_in_refuses_unknown_crm_org_or_inactive_user(client, org, crm_server):
    make_connection(org, crm_org_id="00DOTHER0000000")
    UserFactory(org=org, email="ops@acme.example")
    response = sign_in(client, crm_server)
    assert response.status_code == 400
    assert "No Chorus account matches your Salesforce sign-in" in html.unescape(response.content.decode())
    assert "_auth_user_id" not in client.session


def test_crm_sign_in_inactive_user(client, org, crm_server):
    make_connection(org)
    UserFactory(org=org, email="ops@acme.example", is_active=False)
    assert sign_in(client, crm_server).status_code == 400
    assert "_auth_user_id" not in client.session


def test_login_choices_page(client, db):
    page = client.get(reverse("crm-login-choices")).content.decode()
    for label in ("Log in with Salesforce", "Log in with HubSpot", "Log in with Microsoft"):
        assert label in page


def test_reconnect_goes_back_to_the_same_salesforce_login(admin_client, org, admin_user, crm_server):
    base = crm_server.url_for("").rstrip("/")
    conn = make_connection(org, admin_user, login_url=base, needs_reconnect=True)
    conn.status, conn.last_error = "failed", "Salesforce no longer accepts Chorus's sign-in."
    conn.save()
    page = admin_client.get(reverse("settings-integrations")).content.decode()
    assert ">Reconnect<" in page and f'name="my_domain" value="{base}"' in page
    response = admin_client.post(reverse("crm-enable", args=["salesforce"]),
                                 {"environment": "mydomain", "my_domain": base})
    assert response["Location"].startswith(f"{base}/services/oauth2/authorize?")


def test_hubspot_sign_in_uses_the_portal_id(client, org, crm_server):
    make_connection(org, provider="hubspot", crm_org_id="4242")
    me = UserFactory(org=org, email="ops@acme.example")
    response = client.get(reverse("crm-login", args=["hubspot"]))
    state = query_of(response["Location"])["state"]
    crm_server.expect_request("/oauth/v1/token", method="POST").respond_with_json(
        {"access_token": "T", "refresh_token": "R", "token_type": "bearer", "expires_in": 1800})
    crm_server.expect_request("/oauth/v1/access-tokens/T").respond_with_json(
        {"hub_id": 4242, "user_id": 7, "user": "ops@acme.example", "hub_domain": "acme.hubspot.com",
         "scopes": ["oauth"], "token_type": "access", "app_id": 1, "expires_in": 1790, "token": "T"})
    response = client.get(reverse("crm-oauth-callback", args=["hubspot"]), {"code": "C", "state": state})
    assert response.status_code == 302 and int(client.session["_auth_user_id"]) == me.pk
