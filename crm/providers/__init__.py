"""The CRM providers, one stateless module each, found by key.

``CRM_PROVIDERS`` is filled in ``CrmConfig.ready`` (``register_crm_providers``);
code looks a provider up with :func:`get_provider`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.providers.base import CrmProvider

CRM_PROVIDERS: dict[str, CrmProvider] = {}


def register_crm_providers() -> None:
    from crm.providers import dynamics, hubspot, salesforce

    for module in (salesforce, hubspot, dynamics):
        CRM_PROVIDERS[module.provider.key] = module.provider


def get_provider(key: str) -> CrmProvider:
    if not CRM_PROVIDERS:
        register_crm_providers()
    return CRM_PROVIDERS[key]
