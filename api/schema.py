"""OpenAPI pieces drf-spectacular cannot infer: the token scheme and the error
answers every operation may give."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

from api.serializers import ErrorSerializer


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "chorus.api_auth.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token from Personal Settings (`Token <token>` works too)."}


_ERRORS = {
    400: "A filter, cursor or page size is not valid (details name it).",
    401: "No token, or an invalid or revoked one.",
    403: "The organisation has no API access or is not on the Enterprise package.",
    404: "No such object in your organisation.",
    429: "Too many requests for this token: wait the `Retry-After` header's seconds.",
}


def error_responses(*codes: int) -> dict:
    codes = codes or (401, 403, 429)
    return {code: OpenApiResponse(ErrorSerializer, description=_ERRORS[code]) for code in codes}


def only_public_api(endpoints, **kwargs):
    """Preprocessing hook: the schema documents /api/v1/ only."""
    return [e for e in endpoints if e[0].startswith("/api/v1/")]
