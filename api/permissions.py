"""Who may use the public API: a personal API token of an Enterprise organisation
with API access. Authentication (``chorus.api_auth``) already refuses a token whose
organisation lacks API access; the package is checked here."""

from rest_framework import exceptions, permissions

from chorus.models import PersonalApiToken

ENTERPRISE_REQUIRED = "The Chorus API is available with the Enterprise package."


class EnterpriseRequired(exceptions.PermissionDenied):
    default_detail = ENTERPRISE_REQUIRED
    default_code = "enterprise_required"


class HasApiAccess(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, PersonalApiToken) or not request.user.is_authenticated:
            return False
        if not token.org.api_access:
            return False
        if not token.org.is_enterprise:
            raise EnterpriseRequired()
        return True
