import pytest

from chorus.tests.factories import OrganizationFactory, UserFactory, role


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme", email_domains=["acme.example"])


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex", slug="globex", email_domains=["globex.example"])


@pytest.fixture
def admin_user(org):
    return UserFactory(org=org, email="admin@acme.example", first_name="Ada", last_name="Admin",
                       role=role(org, "Admin"))


@pytest.fixture
def rep_user(org):
    return UserFactory(org=org, email="rep@acme.example", first_name="Rey", last_name="Rep")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def rep_client(client, rep_user):
    client.force_login(rep_user)
    return client
