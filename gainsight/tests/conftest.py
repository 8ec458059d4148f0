import pytest

from chorus.models import Organization
from integrations.models import Connection, ConnectionStatus
from testutils.gainsight_fake import GainsightFake


@pytest.fixture
def enterprise(org):
    org.package = Organization.Package.ENTERPRISE
    org.save()
    return org


@pytest.fixture
def salesforce(enterprise):
    return Connection.objects.create(
        org=enterprise, provider="salesforce", status=ConnectionStatus.OK,
        config={"instance_url": "https://acme.my.salesforce.com", "crm_org_id": "00D1", "crm_org_name": "Acme",
                "edition": "Enterprise Edition"}, secrets={"access_token": "x", "refresh_token": "y"})


@pytest.fixture
def gainsight(https_fake, settings):
    fake = GainsightFake(https_fake)
    settings.GAINSIGHT_URL_TEMPLATE = fake.url_template
    return fake
