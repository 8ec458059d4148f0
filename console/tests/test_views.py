"""The console's pages: who may see them, tenant isolation, bad input, query counts."""

import pytest
from django.urls import reverse

from chorus import services
from chorus.models import AuditEvent, Organization, PersonalApiToken, Role
from testutils.factories import (
    EngagementFactory,
    MomentFactory,
    ParticipantFactory,
    UserFactory,
    role,
)

ADMIN_PAGES = ["/settings/integrations/", "/settings/organization/", "/settings/roles/", "/settings/sso/"]
MEMBER_PAGES = ["/recordings/", "/deals/", "/settings/personal/"]


@pytest.mark.parametrize("url", ADMIN_PAGES + MEMBER_PAGES)
def test_anonymous_users_are_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_refuse_non_admins(rep_client, url):
    assert rep_client.get(url).status_code == 403
    assert rep_client.post(url, {"name": "x"}).status_code == 403


@pytest.mark.parametrize("url", ADMIN_PAGES + MEMBER_PAGES)
def test_admin_sees_every_page(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("url", MEMBER_PAGES)
def test_members_see_their_pages(rep_client, url):
    assert rep_client.get(url).status_code == 200


def test_support_staff_without_org_are_pointed_to_the_admin(client, db):
    staff = UserFactory(org=None, email="support@chorus.example", is_staff=True, role=None)
    client.force_login(staff)
    assert client.get("/").url == reverse("admin:index")
    assert client.get("/recordings/").status_code == 403






# --- Tenant isolation: another org's ids are 404 -----------------------------------------


def test_another_orgs_recording_is_404(admin_client, other_org):
    theirs = EngagementFactory(org=other_org)
    assert admin_client.get(f"/recordings/{theirs.pk}/").status_code == 404


def test_another_orgs_role_is_404(admin_client, other_org):
    theirs = role(other_org, "Admin")
    assert admin_client.get(f"/settings/roles/{theirs.pk}/").status_code == 404
    assert admin_client.post(f"/settings/roles/{theirs.pk}/", {"compliance_mode_enabled": "on"}).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.compliance_mode_enabled


def test_another_users_token_cannot_be_revoked(admin_client, org, other_org):
    theirs, _ = services.api_token_create(user=UserFactory(org=other_org), name="theirs")
    colleague, _ = services.api_token_create(user=UserFactory(org=org), name="colleague's")
    for token in (theirs, colleague):
        assert admin_client.post(f"/settings/personal/tokens/{token.pk}/revoke/").status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None


def test_lists_show_only_this_orgs_rows(admin_client, org, other_org):
    EngagementFactory(org=org, title="Ours")
    EngagementFactory(org=other_org, title="Theirs")
    body = admin_client.get("/recordings/").content.decode()
    assert "Ours" in body and "Theirs" not in body
    services.role_create(org=other_org, name="Secret Squad")
    assert "Secret Squad" not in admin_client.get("/settings/roles/").content.decode()


def test_every_tenant_model_manager_scopes_to_one_org(org, other_org):
    from django.apps import apps

    tenant_models = [m for m in apps.get_models() if hasattr(m.objects, "for_org")]
    assert len(tenant_models) >= 10
    for model in tenant_models:
        sql = str(model.objects.for_org(org).query)
        assert f'"org_id" = {org.pk}' in sql, model
        assert not model.objects.for_org(None).exists()


# --- Recordings ---------------------------------------------------------------------------


def _engagements(org, n):
    owner = UserFactory(org=org)
    for i in range(n):
        e = EngagementFactory(org=org, owner=owner, title=f"Call {i}")
        ParticipantFactory(engagement=e)
        ParticipantFactory(engagement=e, is_internal=True)
        MomentFactory(engagement=e)


def test_recordings_query_count_does_not_grow_with_engagements(admin_client, org, django_assert_max_num_queries,
                                                               django_assert_num_queries):
    _engagements(org, 3)
    with django_assert_max_num_queries(12) as small:
        admin_client.get("/recordings/")
    _engagements(org, 20)
    with django_assert_num_queries(len(small.captured_queries)):
        response = admin_client.get("/recordings/")
    assert "23 engagements" in response.content.decode()


def test_recordings_filters(admin_client, org):
    e = EngagementFactory(org=org, title="Wonka kickoff", kind="dialer_call")
    ParticipantFactory(engagement=e, name="Willy Wonka", email="willy@wonka.example")
    EngagementFactory(org=org, title="Something else")
    body = admin_client.get("/recordings/", {"q": "wonka.example"}).content.decode()
    assert "Wonka kickoff" in body and "Something else" not in body
    body = admin_client.get("/recordings/", {"kind": "email"}).content.decode()
    assert "No recordings match these filters" in body
    assert admin_client.get("/recordings/", {"kind": "bogus"}).status_code == 200


def test_the_owner_filter_lists_the_people_who_own_recordings_and_the_page_costs_the_same(
        admin_client, org, other_org, django_assert_max_num_queries):
    from testutils.factories import UserFactory

    seller = UserFactory(org=org, first_name="Sally", last_name="Seller")
    UserFactory(org=org, first_name="Lenny", last_name="Listener")  # owns nothing
    theirs = UserFactory(org=other_org, first_name="Olga", last_name="Other")
    EngagementFactory(org=other_org, owner=theirs)
    for _ in range(3):
        EngagementFactory(org=org, owner=seller)
    with django_assert_max_num_queries(15):
        body = admin_client.get("/recordings/").content.decode()
    assert "Sally Seller" in body and "Lenny Listener" not in body and "Olga Other" not in body
    assert admin_client.get("/recordings/", {"owner": seller.pk}).status_code == 200
    for _ in range(20):
        EngagementFactory(org=org, owner=UserFactory(org=org))
    with django_assert_max_num_queries(15):
        admin_client.get("/recordings/")


def test_recording_detail_shows_the_conversation(admin_client, org):
    e = EngagementFactory(org=org, title="", next_steps=["* send the invite"])
    ParticipantFactory(engagement=e, name="Michael Scott", title="Regional Manager")
    body = admin_client.get(f"/recordings/{e.pk}/").content.decode()
    assert "Unscheduled Meeting" in body and "Regional Manager" in body and "send the invite" in body


# --- Organization Settings -----------------------------------------------------------------


def test_organization_settings_save_and_reject_bad_domains(admin_client, org):
    url = "/settings/organization/"
    response = admin_client.post(url, {"name": "Acme", "email_domains": "acme.example, not a domain/"})
    assert response.status_code == 400 and "is not an email domain" in response.content.decode()
    org.refresh_from_db()
    assert org.email_domains == ["acme.example"]
    response = admin_client.post(url, {"name": "Acme Corp", "email_domains": "acme.example acme.io"})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "Acme Corp" and org.email_domains == ["acme.example", "acme.io"]
    assert AuditEvent.objects.for_org(org).filter(action="organization.settings_changed").exists()


def test_display_as_in_place_with_htmx(admin_client, org):
    url = "/settings/organization/display-as/"
    form = admin_client.get(url, {"edit": "1"}, HTTP_HX_REQUEST="true")
    assert 'name="notetaker_display_name"' in form.content.decode()
    saved = admin_client.post(url, {"notetaker_display_name": " Acme  Notes "}, HTTP_HX_REQUEST="true")
    assert saved.status_code == 200 and "Saved" in saved.content.decode()
    org.refresh_from_db()
    assert org.notetaker_display_name == "Acme Notes"
    bad = admin_client.post(url, {"notetaker_display_name": ""}, HTTP_HX_REQUEST="true")
    assert "This field is required" in bad.content.decode()
    org.refresh_from_db()
    assert org.notetaker_display_name == "Acme Notes"


# --- Roles and Permissions -----------------------------------------------------------------


def test_create_custom_role(admin_client, org):
    response = admin_client.post("/settings/roles/", {"name": "Customer Success"})
    r = Role.objects.for_org(org).get(name="Customer Success")
    assert response.status_code == 302 and response.url == f"/settings/roles/{r.pk}/"
    dup = admin_client.post("/settings/roles/", {"name": "customer success"})
    assert dup.status_code == 400 and "already exists" in dup.content.decode()


def test_compliance_settings_per_role(admin_client, org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    r = role(org, "Rep (SDR)")
    response = admin_client.post(f"/settings/roles/{r.pk}/", {
        "compliance_mode_enabled": "on", "delete_calls_without_notification": "True"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Saved" in response.content.decode()
    r.refresh_from_db()
    assert r.compliance_mode_enabled and not r.compliance_mode_enforced and r.delete_calls_without_notification


def test_standard_package_cannot_enable_noncompliant_deletion(admin_client, org):
    r = role(org, "Rep (SDR)")
    response = admin_client.post(f"/settings/roles/{r.pk}/", {"delete_calls_without_notification": "True"})
    assert response.status_code == 400 and "Enterprise package" in response.content.decode()
    r.refresh_from_db()
    assert not r.delete_calls_without_notification


# --- Personal Settings ---------------------------------------------------------------------


def test_personal_api_token_is_shown_once(admin_client, admin_user):
    response = admin_client.post("/settings/personal/", {"name": "Zapier"})
    assert response.status_code == 302
    page = admin_client.get(response.url)
    body = page.content.decode()
    token = PersonalApiToken.objects.get(user=admin_user)
    raw = body.split('data-testid="new-token">')[1].split("<")[0]
    assert raw.startswith(token.prefix) and page["Cache-Control"] == "no-store"
    assert raw not in admin_client.get("/settings/personal/").content.decode()
    assert "new_api_token" not in admin_client.session
    assert admin_client.post("/settings/personal/", {"name": ""}).status_code == 400




def test_recording_notification_detection_on_roles_page(admin_client, rep_user, org):
    from dialers.models import ComplianceSettings

    org.package = Organization.Package.ENTERPRISE
    org.save()
    page = admin_client.get("/settings/roles/").content.decode()
    assert "recording notification detection" in page and "this call is being recorded" in page.lower()
    url = "/settings/integrations/dialers/compliance/"
    bad = admin_client.post(url, {"phrases": "x" * 201, "window_seconds": "30"})
    assert bad.status_code == 400 and "at most 200 characters" in bad.content.decode()
    assert "Create a custom role" in bad.content.decode()  # the whole Roles page again, errors in place
    bad = admin_client.post(url, {"phrases": "", "window_seconds": "2"})
    assert bad.status_code == 400 and "greater than or equal to 5" in bad.content.decode()
    assert not ComplianceSettings.objects.filter(org=org).exists()
    ok = admin_client.post(url, {"phrases": "This call is recorded\n\n  Dieses Gespräch wird aufgezeichnet ",
                                 "window_seconds": "45"})
    assert ok.status_code == 302
    saved = ComplianceSettings.objects.get(org=org)
    assert saved.phrases == ["This call is recorded", "Dieses Gespräch wird aufgezeichnet"]
    assert saved.window_seconds == 45
    assert AuditEvent.objects.for_org(org).filter(action="compliance.notification_detection_changed").exists()
    admin_client.force_login(rep_user)
    assert admin_client.post(url, {"phrases": "", "window_seconds": "30"}).status_code == 403


def test_notification_detection_is_enterprise_only(admin_client, org):
    assert "recording notification detection" not in admin_client.get("/settings/roles/").content.decode()
    assert admin_client.post("/settings/integrations/dialers/compliance/",
                             {"phrases": "", "window_seconds": "30"}).status_code == 404
