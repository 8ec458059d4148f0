"""Support tooling: the management commands in ARCHITECTURE.md's contract."""

import io

import pytest
from django.core.management import CommandError, call_command

from chorus.models import LicenseType, Organization, Role, User


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_org_is_idempotent(db):
    run("create_org", "initech", "--name", "Initech", "--domain", "initech.com")
    run("create_org", "initech", "--name", "Initech", "--domain", "initech.io", "--package", "enterprise")
    org = Organization.objects.get(slug="initech")
    assert org.email_domains == ["initech.com", "initech.io"] and org.package == "enterprise"
    assert Role.objects.for_org(org).count() == 6


def test_create_role_and_user(db):
    run("create_org", "initech", "--name", "Initech", "--domain", "initech.com")
    run("create_role", "initech", "Customer Success")
    run("create_role", "initech", "customer success")  # idempotent
    assert Role.objects.filter(org__slug="initech", name__iexact="customer success").count() == 1

    out = run("create_user", "initech", "Peter@Initech.com", "--role", "Customer Success", "--license", "listener",
              "--password", "tps-reports-2026")
    assert "Created" in out
    out = run("create_user", "initech", "peter@initech.com", "--role", "Admin")
    assert "Updated" in out
    user = User.objects.get(email__iexact="peter@initech.com")
    assert user.role.name == "Admin" and user.license_type == LicenseType.LISTENER
    assert user.check_password("tps-reports-2026")


def test_create_user_errors_are_clear(db):
    with pytest.raises(CommandError, match="No organisation"):
        run("create_user", "nope", "a@b.com")
    run("create_org", "initech", "--name", "Initech")
    with pytest.raises(CommandError, match="No role 'Boss'"):
        run("create_user", "initech", "a@initech.com", "--role", "Boss")
