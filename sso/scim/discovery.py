"""SCIM discovery endpoints (RFC 7644 §4): ServiceProviderConfig, Schemas and
ResourceTypes, answering from the documents in ``sso.scim.schemas``."""

from __future__ import annotations

from django_scim import exceptions

from sso.scim import schemas as scim_schemas
from sso.scim.views import ScimBaseView, scim_response


class ServiceProviderConfigView(ScimBaseView):
    def get(self, request):
        return scim_response(scim_schemas.service_provider_config())


class _DiscoveryView(ScimBaseView):
    """A list of discovery documents, or one of them by id (404 in SCIM's shape)."""

    def documents(self, request) -> list[dict]:
        raise NotImplementedError

    def get(self, request, uuid=None):
        docs = self.documents(request)
        if uuid:
            doc = next((d for d in docs if d["id"].lower() == uuid.lower()), None)
            if doc is None:
                raise exceptions.NotFoundError(uuid)
            return scim_response(doc)
        return scim_response(scim_schemas.list_response(docs))


class SchemasView(_DiscoveryView):
    def documents(self, request):
        return scim_schemas.schemas(request.scim_org)


class ResourceTypesView(_DiscoveryView):
    def documents(self, request):
        return scim_schemas.resource_types()

