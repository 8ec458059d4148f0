import pytest
from django.core.exceptions import ValidationError

from chorus import services
from chorus.models import AuditEvent, Organization, PersonalApiToken, Role, User
from testutils.factories import UserFactory, role


def test_organization_create_is_idempotent_and_makes_the_six_builtin_roles(db):
    org = services.organization_create(slug="initech", name="Initech", domains=["Initech.com", "@initech.io"])
    again = services.organization_create(slug="initech", name="Initech Inc", domains=["initech.com"])
    assert again.pk == org.pk and again.name == "Initech Inc"
    assert again.email_domains == ["initech.com", "initech.io"]
    names = list(Role.objects.for_org(org).filter(is_builtin=True).values_list("name", flat=True))
    assert sorted(names) == sorted(Role.BUILTIN_NAMES)
    assert Role.objects.for_org(org).get(name="Admin").is_admin
    assert Organization.objects.count() == 1


def test_custom_role_names_are_unique_per_org_case_insensitively(org, other_org):
    services.role_create(org=org, name="Customer  Success")
    with pytest.raises(ValidationError, match="already exists"):
        services.role_create(org=org, name="customer success")
    services.role_create(org=other_org, name="Customer Success")  # another org: fine
    with pytest.raises(ValidationError):
        services.role_create(org=org, name="   ")


def test_compliance_enforced_implies_enabled_and_is_audited(org, admin_user):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    r = role(org, "Rep (SDR)")
    services.role_update_compliance(role=r, actor=admin_user, compliance_mode_enabled=False,
                                    compliance_mode_enforced=True, delete_calls_without_notification=True)
    r.refresh_from_db()
    assert r.compliance_mode_enabled and r.compliance_mode_enforced and r.delete_calls_without_notification
    event = AuditEvent.objects.for_org(org).get(action="role.compliance_changed")
    assert event.actor == admin_user and event.changes["compliance_mode_enforced"] == [False, True]


def test_deleting_noncompliant_calls_needs_enterprise(org, admin_user):
    r = role(org, "Rep (SDR)")
    with pytest.raises(ValidationError, match="Enterprise"):
        services.role_update_compliance(role=r, actor=admin_user, compliance_mode_enabled=False,
                                        compliance_mode_enforced=False, delete_calls_without_notification=True)
    r.refresh_from_db()
    assert not r.delete_calls_without_notification


def test_teams_follow_the_manager(org):
    boss = UserFactory(org=org, first_name="Michael", last_name="Scott")
    jim, dwight = UserFactory(org=org), UserFactory(org=org)
    services.user_set_manager(user=jim, manager=boss)
    services.user_set_manager(user=dwight, manager=boss)
    assert jim.team == dwight.team and jim.team.manager == boss
    assert jim.team.name == "Michael Scott's team"
    services.user_set_manager(user=jim, manager=None)
    assert jim.team is None and jim.manager is None


def test_manager_provisioned_after_reports_is_linked_when_they_arrive(org):
    rep = UserFactory(org=org)
    services.user_set_manager_email(user=rep, manager_email="Later@acme.example")
    assert rep.manager is None and rep.pending_manager_email == "Later@acme.example"
    boss, created = services.user_create_or_update(org=org, email="later@acme.example")
    rep.refresh_from_db()
    assert created and rep.manager == boss and rep.team.manager == boss and rep.pending_manager_email == ""


def test_reporting_cycles_and_cross_org_managers_are_refused(org, other_org):
    a, b = UserFactory(org=org), UserFactory(org=org)
    services.user_set_manager(user=b, manager=a)
    with pytest.raises(ValidationError, match="cycle"):
        services.user_set_manager(user=a, manager=b)
    with pytest.raises(ValidationError, match="same organisation"):
        services.user_set_manager(user=a, manager=UserFactory(org=other_org))


def test_same_email_may_exist_in_two_orgs_but_not_twice_in_one(org, other_org):
    services.user_create_or_update(org=org, email="pat@shared.example")
    services.user_create_or_update(org=other_org, email="pat@shared.example")
    _, created = services.user_create_or_update(org=org, email="PAT@shared.example")
    assert not created
    assert User.objects.filter(email__iexact="pat@shared.example").count() == 2


def test_api_tokens_are_stored_hashed_and_revocable(rep_user):
    token, raw = services.api_token_create(user=rep_user, name="Zapier")
    stored = PersonalApiToken.objects.get(pk=token.pk)
    assert raw not in (stored.token_hash, stored.prefix) and raw.startswith(stored.prefix)
    rep_user.org.api_access = True
    rep_user.org.save()
    assert services.api_token_authenticate(raw=raw).user == rep_user
    assert services.api_token_authenticate(raw=raw + "x") is None
    services.api_token_revoke(token=token)
    assert services.api_token_authenticate(raw=raw) is None
