"""SCIM endpoints: django-scim2's views with the parts that fall short replaced.

What differs from the stock views, and why:
* authentication is the organisation's bearer token (``sso.scim.auth``), and every
  error — 401, 403, 404, 405, 409, 500 — is a SCIM Error body;
* every query starts from ``for_org(request.scim_org)`` and filters run in SQL;
* POST/PUT/PATCH/DELETE run in one transaction that also covers serialising the
  answer, so a failure never leaves a half-provisioned user for the IdP to trip over
  on its retry;
* database errors never reach the response (table and column names stay inside);
* ``attributes`` / ``excludedAttributes`` (``sso.scim.projection``) and ``POST /.search`` work.

The discovery endpoints are in ``sso.scim.discovery``.
"""

from __future__ import annotations

import json
import logging
import re

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django_scim import exceptions
from django_scim.views import SCIMView

from chorus.models import Team, User
from chorus.services import ProvisioningConflict
from sso.scim import schemas as scim_schemas
from sso.scim.adapters import ScimGroup, ScimUser
from sso.scim.auth import SCIM_CONTENT_TYPE, ScimBearerAuth, scim_error
from sso.scim.filters import (
    CORE_GROUP,
    CORE_USER,
    UnsupportedFilter,
    group_queryset,
    groups_filter,
    scim_pk,
    team_pk,
    user_queryset,
    users_filter,
)
from sso.scim.projection import attribute_names, project

logger = logging.getLogger(__name__)

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
DEFAULT_COUNT = 100
CONFLICT = "The request conflicts with an existing resource."
SERVER_ERROR = "The SCIM request could not be completed."
NOT_AN_INTEGER = "{name} must be an integer."
# Far beyond any organisation's users, small enough for any database's OFFSET.
MAX_START_INDEX = 2**31 - 1
_INTEGER = re.compile(r"([+-]?)0*([0-9]+)")


def _integer(params, name: str, default: int) -> int:
    """A paging parameter from a query string (text) or a SearchRequest body (JSON).
    Any integer is accepted; one too long to matter is read as the largest we use."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _INTEGER.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise exceptions.BadRequestError(NOT_AN_INTEGER.format(name=name), scim_type="invalidValue")
    sign, digits = match.groups()
    number = int(digits) if len(digits) <= 18 else MAX_START_INDEX
    return -number if sign == "-" else number


def scim_response(doc: dict, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(doc), content_type=SCIM_CONTENT_TYPE, status=status)
    if location:
        response["Location"] = location
    return response


class ScimBaseView(SCIMView):
    """Authentication and error mapping for every SCIM endpoint."""

    http_method_names = ["get"]

    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        return ScimBearerAuth(self._dispatch)(request, *args, **kwargs)

    def _dispatch(self, request, *args, **kwargs):
        method = request.method.lower()
        handler = getattr(self, method, None) if method in self.http_method_names else None
        if handler is None:
            return scim_error(405, f"{request.method} is not supported here.")
        try:
            return handler(request, *args, **kwargs)
        except exceptions.SCIMException as exc:
            return scim_error(exc.status, exc.detail, exc.scim_type)
        except UnsupportedFilter as exc:
            return scim_error(400, str(exc), "invalidFilter")
        except ValidationError as exc:
            return scim_error(400, " ".join(exc.messages), "invalidValue")
        except ProvisioningConflict as exc:
            return scim_error(409, str(exc), "uniqueness")
        except IntegrityError:
            # A concurrent request won the race for a unique value; the database's
            # message names tables and columns, so it stays in the log.
            logger.warning("SCIM integrity error on %s %s", request.method, request.path, exc_info=True)
            return scim_error(409, CONFLICT, "uniqueness")
        except DatabaseError:
            logger.exception("SCIM database error on %s %s", request.method, request.path)
            return scim_error(500, SERVER_ERROR)
        except Exception:
            logger.exception("SCIM error on %s %s", request.method, request.path)
            return scim_error(500, SERVER_ERROR)

    def body(self, request) -> dict:
        """JSON body, whatever the Content-Type (``application/json`` or SCIM's)."""
        try:
            data = json.loads(request.body.decode("utf-8").strip() or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise exceptions.BadRequestError("The request body is not valid JSON.", scim_type="invalidSyntax") from None
        if not isinstance(data, dict):
            raise exceptions.BadRequestError("The request body must be a JSON object.", scim_type="invalidSyntax")
        return data


class ResourceView(ScimBaseView):
    http_method_names = ["get", "post", "put", "patch", "delete"]
    adapter_cls: type = ScimUser
    model: type = User
    core_urn = CORE_USER

    def queryset(self, request):
        raise NotImplementedError

    def filtered(self, qs, expression: str):
        """Needs ``self.request`` (set by Django's View.setup, or by RootSearchView)."""
        raise NotImplementedError

    def adapter(self, obj, request):
        return self.adapter_cls(obj, request=request)

    @staticmethod
    def pk(uuid: str) -> int | None:
        return scim_pk(uuid)

    def get_object(self, request, uuid: str):
        """Another organisation's id is simply not found: the queryset is the token's org."""
        pk = self.pk(uuid)
        obj = self.queryset(request).filter(pk=pk).first() if pk is not None else None
        if obj is None:
            raise exceptions.NotFoundError(uuid)
        return obj

    def render(self, adapter, request, params: dict | None = None) -> dict:
        params = request.GET if params is None else params
        attributes = attribute_names(params.get("attributes"), self.core_urn)
        excluded = attribute_names(params.get("excludedAttributes"), self.core_urn)
        return project(self.to_dict(adapter, attributes, excluded), attributes=attributes, excluded=excluded)

    def to_dict(self, adapter, attributes: list[str], excluded: list[str]) -> dict:
        return adapter.to_dict()

    def get(self, request, uuid=None):
        if uuid:
            adapter = self.adapter(self.get_object(request, uuid), request)
            return scim_response(self.render(adapter, request), location=adapter.location)
        return self.list(request, request.GET)

    def list(self, request, params) -> HttpResponse:
        start, count = self.paging(params)
        qs = self.queryset(request)
        expression = params.get("filter")
        if expression:
            qs = self.filtered(qs, str(expression))
        total = qs.count()
        # A startIndex past the end is an empty page, not an OFFSET the database may refuse.
        page = list(qs.order_by("pk")[start - 1:start - 1 + count]) if count and start <= total else []
        resources = [self.render(self.adapter(obj, request), request, params) for obj in page]
        return scim_response(scim_schemas.list_response(resources, total=total, start=start))

    @staticmethod
    def paging(params) -> tuple[int, int]:
        """RFC 7644 §3.4.2.4: a 1-based ``startIndex`` where a value below 1 means 1,
        and a ``count`` where a negative value means 0; ``count`` is capped at
        ServiceProviderConfig's maxResults, and a ``startIndex`` beyond the results
        is an empty page (``list`` then runs no page query at all). Anything that is
        not an integer is a 400 ``invalidValue`` before any query."""
        start = _integer(params, "startIndex", 1)
        count = _integer(params, "count", DEFAULT_COUNT)
        return min(max(start, 1), MAX_START_INDEX), min(max(count, 0), scim_schemas.MAX_RESULTS)

    def post(self, request, uuid=None):
        if uuid:
            return scim_error(405, "POST a new resource to the collection.")
        body = self.body(request)
        with transaction.atomic():
            adapter = self.adapter(self.model(), request)
            adapter.from_dict(body)
            doc = self.render(adapter, request)
        return scim_response(doc, status=201, location=adapter.location)

    def put(self, request, uuid=None):
        if not uuid:
            return scim_error(405, "PUT needs a resource id.")
        body = self.body(request)
        return self._change(request, uuid, lambda adapter: adapter.from_dict(body, replace=True))

    def patch(self, request, uuid=None):
        if not uuid:
            return scim_error(405, "PATCH needs a resource id.")
        body = self.body(request)
        operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
        return self._change(request, uuid, lambda adapter: adapter.handle_operations(operations))

    def _change(self, request, uuid, apply):
        """Apply a PUT or PATCH to one resource in one transaction and answer with it as stored."""
        with transaction.atomic():
            adapter = self.adapter(self.get_object(request, uuid), request)
            apply(adapter)
            adapter.obj = self.queryset(request).get(pk=adapter.obj.pk)
            doc = self.render(adapter, request)
        return scim_response(doc, location=adapter.location)

    def delete(self, request, uuid=None):
        if not uuid:
            return scim_error(405, "DELETE needs a resource id.")
        with transaction.atomic():
            self.adapter(self.get_object(request, uuid), request).delete()
        return HttpResponse(status=204)


class UsersView(ResourceView):
    adapter_cls = ScimUser
    model = User
    core_urn = CORE_USER

    def queryset(self, request):
        return user_queryset(request.scim_org)

    def filtered(self, qs, expression):
        return users_filter(qs, expression, org=self.request.scim_org)


class GroupsView(ResourceView):
    adapter_cls = ScimGroup
    model = Team
    core_urn = CORE_GROUP

    def queryset(self, request):
        return group_queryset(request.scim_org)

    @staticmethod
    def pk(uuid: str) -> int | None:
        return team_pk(uuid)

    def filtered(self, qs, expression):
        return groups_filter(qs, expression, org=self.request.scim_org)

    def to_dict(self, adapter, attributes, excluded):
        """Entra reads groups with ``excludedAttributes=members``: skip that query."""
        with_members = "members" not in excluded and (not attributes or any(
            a == "members" or a.startswith("members.") for a in attributes))
        return adapter.to_dict(with_members=with_members)


class SearchMixin:
    """``POST /Users/.search`` and ``/Groups/.search`` (RFC 7644 §3.4.3)."""

    http_method_names = ["post"]

    def post(self, request, uuid=None):
        body = self.body(request)
        if SEARCH_REQUEST not in (body.get("schemas") or []):
            raise exceptions.BadRequestError(f"schemas must be [\"{SEARCH_REQUEST}\"].", scim_type="invalidValue")
        return self.list(request, body)

    def render(self, adapter, request, params=None):
        return super().render(adapter, request, params if params is not None else {})


class UserSearchView(SearchMixin, UsersView):
    http_method_names = ["post"]


class GroupSearchView(SearchMixin, GroupsView):
    http_method_names = ["post"]


class RootSearchView(ScimBaseView):
    """``POST /.search`` over users and teams together (RFC 7644 §3.4.3). A filter
    that names an attribute only one type has selects from that type only."""

    http_method_names = ["post"]
    views = (UserSearchView, GroupSearchView)

    def post(self, request):
        body = self.body(request)
        if SEARCH_REQUEST not in (body.get("schemas") or []):
            raise exceptions.BadRequestError(f"schemas must be [\"{SEARCH_REQUEST}\"].", scim_type="invalidValue")
        start, count = ResourceView.paging(body)
        parts, unsupported = [], None
        for view_cls in self.views:
            view = view_cls()
            view.request = request
            qs = view.queryset(request)
            if body.get("filter"):
                try:
                    qs = view.filtered(qs, str(body["filter"]))
                except UnsupportedFilter as exc:
                    unsupported = exc
                    continue
            parts.append((view, qs.order_by("pk")))
        if not parts:
            raise unsupported or UnsupportedFilter("The filter could not be parsed.")
        total, resources, skip = 0, [], start - 1
        for view, qs in parts:
            size = qs.count()
            total += size
            if skip >= size:
                skip -= size
                continue
            for obj in qs[skip:skip + count - len(resources)] if count > len(resources) else []:
                resources.append(view.render(view.adapter(obj, request), request, body))
            skip = 0
        return scim_response(scim_schemas.list_response(resources, total=total, start=start))


class NotImplementedView(ScimBaseView):
    """Bulk and /Me: honestly unsupported (ServiceProviderConfig says bulk is off)."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def _unsupported(self, request, *args, **kwargs):
        return scim_error(501, "This SCIM feature is not supported by Chorus.")

    get = post = put = patch = delete = _unsupported


class NotFoundView(ScimBaseView):
    http_method_names = ["get", "post", "put", "patch", "delete"]

    def _missing(self, request, *args, **kwargs):
        return scim_error(404, "There is no SCIM endpoint at this address.")

    get = post = put = patch = delete = _missing
