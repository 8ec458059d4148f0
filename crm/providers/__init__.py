"""The CRM providers, one package each (``crm/providers/<name>/``), described once.

Adding a CRM: a new package whose ``provider`` subclasses
:class:`~crm.providers.base.CrmProviderBase`, plus one line in :data:`PACKAGES`.
``register_crm_providers`` (from ``CrmConfig.ready``) puts each provider in the one
registry (``integrations.registry.PROVIDERS``, category ``crm``) and its sender in
the outbox; everything else — key lists, model choices, labels, which CRMs have
events — is read from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from integrations.registry import PROVIDERS, register_provider, register_sender

if TYPE_CHECKING:
    from crm.providers.base import CrmProviderBase

CATEGORY = "crm"
PACKAGES = (
    "crm.providers.salesforce",
    "crm.providers.hubspot",
    "crm.providers.dynamics",
)


def register_crm_provider(provider: CrmProviderBase) -> CrmProviderBase:
    """Register a CRM and its outbox sender (target = the CRM's key)."""
    register_provider(provider)
    register_sender(provider.key, provider.sender())
    return provider


def register_crm_providers() -> None:
    for package in PACKAGES:
        register_crm_provider(import_string(f"{package}.provider"))


def crm_providers() -> list[CrmProviderBase]:
    """The registered CRMs, in registration order (the order of CRM Connect)."""
    return [p for p in PROVIDERS.values() if p.category == CATEGORY]


def crm_keys() -> tuple[str, ...]:
    return tuple(p.key for p in crm_providers())


def crm_provider_choices() -> list[tuple[str, str]]:
    """Model field choices (callable, so a new CRM needs no migration)."""
    return [(p.key, p.label) for p in crm_providers()]


def get_provider(key: str) -> CrmProviderBase:
    provider = PROVIDERS.get(key)
    if provider is None or provider.category != CATEGORY:
        raise KeyError(key)
    return provider
