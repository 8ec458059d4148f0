import pytest
from rest_framework.test import APIClient

from chorus import services
from chorus.models import Organization
from testutils.factories import UserFactory


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.api_access = True
    org.save(update_fields=["package", "api_access"])
    return org


@pytest.fixture
def zap_user(enterprise):
    return UserFactory(org=enterprise, email="rey@acme.example", first_name="Rey", last_name="Rep")


@pytest.fixture
def token_pair(zap_user):
    return services.api_token_create(user=zap_user, name="Zapier")


@pytest.fixture
def token(token_pair):
    return token_pair[0]


@pytest.fixture
def api(token_pair):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair[1]}")
    return client


@pytest.fixture
def private_hooks(settings):
    """The HTTPS fake listens on localhost: let hooks point there (tests only)."""
    settings.ZAPIER_HOOKS_ALLOW_PRIVATE = True
