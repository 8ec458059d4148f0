"""Adding a CRM or an outbox target is one description plus one registration line:
a throwaway CRM and a throwaway target, defined in a few lines here, show up on
Settings > Integrations, in the model choices and in the outbox, with no other file
touched. And nothing outside a provider compares CRM keys: capabilities decide."""

from datetime import UTC, datetime

import pytest

from chorus.models import Engagement
from crm.models import CrmAccount
from crm.providers import crm_keys, crm_provider_choices, get_provider, register_crm_provider
from crm.providers.base import CrmProviderBase
from integrations import registry
from integrations.models import Connection, Delivery
from integrations.outbox import delivery_enqueue, outbox_process
from integrations.ready import engagements_ready
from integrations.registry import SendResult, register_sender
from testutils.factories import EngagementFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


class CollectingSender:
    batch_size = 50

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def send(self, deliveries):
        self.sent += [(d.kind, d.payload) for d in deliveries]
        return [SendResult(d.id, ok=True, remote_id=f"X-{d.id}") for d in deliveries]


class Pipedrive(CrmProviderBase):
    key, label, connect_title = "pipedrive", "Pipedrive", "Pipedrive Connect"
    native_objects = {"Task": "activity", "Lead": "lead", "Account": "organization", "Opportunity": "deal"}
    subject_max = 20
    custom_objects = False
    sender_path = "crm.tests.test_provider_registry.CollectingSender"


@pytest.fixture
def pipedrive():
    yield register_crm_provider(Pipedrive())  # the one line a new CRM adds (crm.providers.PACKAGES)
    registry.PROVIDERS.pop("pipedrive")
    registry.SENDERS.pop("pipedrive")


def test_a_new_crm_is_listed_everywhere_from_its_description(pipedrive, admin_client):
    assert "pipedrive" in crm_keys() and ("pipedrive", "Pipedrive") in crm_provider_choices()
    assert get_provider("pipedrive") is pipedrive
    page = admin_client.get("/settings/integrations/").content.decode()
    assert "Pipedrive Connect" in page and 'data-crm="pipedrive"' in page
    admin_client.logout()
    assert "Log in with Pipedrive" in admin_client.get("/integrations/crm/login/").content.decode()
    # the model field's choices come from the registry: no migration for a new CRM
    CrmAccount(org_id=1, provider="pipedrive", remote_id="1", name="x").clean_fields(exclude=["org"])


def test_a_new_crm_gets_pushes_through_its_own_sender(pipedrive, org, admin_user):
    Connection.objects.create(org=org, provider="pipedrive", status="ok")
    engagement = EngagementFactory(org=org, owner=admin_user, kind=Engagement.Kind.RECORDING,
                                   title="Quarterly planning with Wonka", started_at=datetime(2026, 11, 2, tzinfo=UTC))
    ParticipantFactory(org=org, engagement=engagement, email="willy@wonka.example", name="Willy Wonka")
    engagements_ready(org=org, engagements=[engagement])
    queued = Delivery.objects.filter(org=org, target="pipedrive")
    assert {d.kind for d in queued} == {"task", "contact"}  # no custom object: Pipedrive has none
    outbox_process()
    sender = registry.SENDERS["pipedrive"]
    task = next(p for kind, p in sender.sent if kind == "task")
    assert task["subject"] == "Chorus - Quarterly …"  # the provider's own subject limit
    assert set(Delivery.objects.filter(org=org, target="pipedrive").values_list("status", flat=True)) == {"sent"}


def test_a_new_outbox_target_is_one_registration(org, monkeypatch):
    monkeypatch.setitem(registry.SENDERS, "webhook-test", None)  # removed again after the test
    register_sender("webhook-test", CollectingSender())
    for i in range(3):
        delivery_enqueue(org=org, target="webhook-test", kind="ping", idempotency_key=f"ping-{i}", payload={"i": i})
    assert outbox_process()["sent"] == 3
    assert sorted(p["i"] for _, p in registry.SENDERS["webhook-test"].sent) == [0, 1, 2]
