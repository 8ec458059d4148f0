"""One error shape for every answer of the public API:
``{"error": {"code": "...", "message": "...", "details": {...}}}`` (``details`` only
when there is something per field to say, e.g. which filter was wrong)."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

# DRF's default codes, renamed where the HTTP meaning reads better to a caller.
_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid_request",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


def error_body(*, code: str, message: str, details=None) -> dict:
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def _message(detail) -> str:
    if isinstance(detail, list | tuple) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def api_exception_handler(exc, context):
    response = exception_handler(exc, context)  # sets WWW-Authenticate and Retry-After
    if response is None:
        # Not an API error: a bug. Log it with its traceback and still answer in the
        # one shape, saying nothing about the cause.
        logger.exception("Unhandled error in the public API", exc_info=exc)
        return Response(error_body(code="server_error", message="Something went wrong on our side."),
                         status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.APIException) and getattr(exc, "default_code", None) == "enterprise_required":
        code = "enterprise_required"
    if isinstance(detail, dict) and not ({"detail"} >= detail.keys()):
        # Field errors (a bad filter): one message and the fields in details.
        response.data = error_body(code=code, message="Some parameters are not valid.",
                                   details={k: [str(m) for m in (v if isinstance(v, list) else [v])]
                                            for k, v in detail.items()})
    elif isinstance(detail, list) and len(detail) > 1:
        response.data = error_body(code=code, message="Some parameters are not valid.",
                                   details={"non_field_errors": [str(m) for m in detail]})
    else:
        response.data = error_body(code=code, message=_message(detail))
    return response


@csrf_exempt  # a token API: an unknown path answers 404 to every method, never a CSRF page
def not_found_view(request, *args, **kwargs):
    """Anything under /api/v1/ that is no route: a 404 in the same shape."""
    return JsonResponse(error_body(code="not_found", message="Not found."), status=404)
