"""The demo organisation: made once, through the same ready step as every source."""

from io import StringIO

from django.core.management import call_command

from chorus.models import Engagement, Organization, Role, Team, User


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_makes_a_demo_org_once(db, crm_push_ready_calls):
    out = run("seed_demo")
    assert "Log in as admin: oscar.martinez@dundermifflin.com / " in out
    org = Organization.objects.get(slug="dunder-mifflin")
    kinds = set(Engagement.objects.for_org(org).values_list("kind", flat=True))
    assert kinds == set(Engagement.Kind.values)
    assert Engagement.objects.for_org(org).count() == 50
    used_roles = set(User.objects.for_org(org).values_list("role__name", flat=True))
    assert set(Role.BUILTIN_NAMES) <= used_roles
    assert Team.objects.for_org(org).count() >= 2
    admin = User.objects.get(email="oscar.martinez@dundermifflin.com")
    assert admin.is_org_admin and admin.check_password("chorus-demo-2026")
    made = sorted(Engagement.objects.for_org(org).values_list("id", flat=True))
    assert sorted(crm_push_ready_calls) == made  # each engagement announced ready once
    run("seed_demo")
    assert Engagement.objects.for_org(org).count() == 50  # idempotent
    assert sorted(crm_push_ready_calls) == made
