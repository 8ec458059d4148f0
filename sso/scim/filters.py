"""SCIM filters → Django ``Q`` objects, scoped to one organisation in SQL.

django-scim2's stock filter runs a raw ``SELECT`` over every tenant's rows and drops
the other tenants in Python, and a filter on an attribute it does not know matches
nothing: an IdP reads that empty answer as "no such user" and creates a duplicate.
Here scim2-filter-parser's own Django transpiler builds the ``WHERE`` clause, the
queryset is ``for_org`` before the filter is applied, and an unknown attribute is a
400 ``invalidFilter``.
"""

from __future__ import annotations

from django.db.models import BooleanField, CharField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import Transpiler

from chorus.services import user_pks_with_username

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

USERNAME = "@username"
TEAM_PK = "@team_pk"
# SCIM ids are unique across all resource types (RFC 7643 §3.1): a user is "42", a
# team "team-7", so a root /.search never shows two resources with one id.
TEAM_ID_PREFIX = "team-"


def team_pk(value: object) -> int | None:
    text = str(value or "").strip().lower()
    if text.startswith(TEAM_ID_PREFIX) and text[len(TEAM_ID_PREFIX):].isdigit():
        return int(text[len(TEAM_ID_PREFIX):])
    return None
INT_FIELDS = {"id", "manager_id", "members__id", "team_id"}
# Exact matches on these go through the LOWER(...) expression indexes.
LOWERED = {"email": "email_lower"}


class UnsupportedFilter(ValueError):
    """The filter names an attribute we cannot filter on, or does not parse."""


def _qualified(mapping: dict[tuple[str, str | None], str], uri: str) -> dict:
    """Each attribute bare and qualified by its schema URN (both are legal)."""
    out: dict[tuple[str, str | None, str | None], str] = {}
    for (attr, sub), field in mapping.items():
        out[(attr, sub, None)] = field
        out[(attr, sub, uri)] = field
    return out


USER_ATTRS = {
    **_qualified({
        ("userName", None): USERNAME,
        ("id", None): "id",
        ("externalId", None): "external_id",
        ("name", "givenName"): "first_name",
        ("name", "familyName"): "last_name",
        ("givenName", None): "first_name",
        ("familyName", None): "last_name",
        ("emails", None): "email",
        ("emails", "value"): "email",
        ("emails", "type"): "email_type",
        ("emails", "primary"): "email_primary",
        ("title", None): "title",
        ("active", None): "is_active",
        ("chorus_role", None): "role__name",
        ("chorus_license_type", None): "license_type",
    }, CORE_USER),
    ("manager", "value", ENTERPRISE_USER): "manager_id",
    ("manager", None, ENTERPRISE_USER): "manager_id",
}

GROUP_ATTRS = _qualified({
    ("displayName", None): "name",
    ("id", None): TEAM_PK,
    ("externalId", None): "external_id",
    ("members", None): "members__id",
    ("members", "value"): "members__id",
}, CORE_GROUP)


class _Transpiler(Transpiler):
    def __init__(self, attr_map, *args, org=None, **kwargs):
        super().__init__(attr_map, *args, **kwargs)
        self.org = org
    def visit_AttrPath(self, node):
        field = super().visit_AttrPath(node)
        if field is None:
            name = node.attr_name + (f".{node.sub_attr.value}" if node.sub_attr else "")
            raise UnsupportedFilter(f"Filtering on '{name}' is not supported.")
        return field

    def visit_AttrExpr(self, node):
        if not isinstance(node.attr_path.attr_name, str):
            return super().visit_AttrExpr(node)
        field = self.visit(node.attr_path)
        op, value = self.visit_AttrExprValue(node)
        if field == TEAM_PK:
            pk = team_pk(value)
            query = Q(pk=pk) if pk is not None and op == "iexact" else Q(pk__in=[])
        elif field in INT_FIELDS and op != "isnull":
            query = Q(**{f"{field}__{'exact' if op == 'iexact' else op}": int(value)}) if str(value).isdigit() \
                else Q(pk__in=[])
        elif field == USERNAME and op == "iexact":
            query = Q(pk__in=user_pks_with_username(org=self.org, username=str(value)))
        elif field in LOWERED and op == "iexact":
            query = Q(**{LOWERED[field]: str(value).lower()})
        else:
            query = Q(**{f"{'user_name' if field == USERNAME else field}__{op}": value})
        return ~query if node.value.lower() == "ne" else query


def _to_q(expression: str, attr_map: dict, org=None) -> Q:
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(expression))
        query = _Transpiler(attr_map, org=org).transpile(tree)
    except UnsupportedFilter:
        raise
    except (SCIMParserError, ValueError, NotImplementedError, AttributeError, TypeError) as exc:
        raise UnsupportedFilter("The filter could not be parsed.") from exc
    if query is None:
        raise UnsupportedFilter("The filter could not be parsed.")
    return query


def user_queryset(org) -> QuerySet:
    from chorus.models import User

    return (
        User.objects.for_org(org)
        .select_related("role", "manager", "team")
        .alias(
            email_lower=Lower("email"),
            user_name=Coalesce("scim_username", "email"),
            email_type=Value("work", output_field=CharField()),
            email_primary=Value(True, output_field=BooleanField()),
        )
    )


def group_queryset(org) -> QuerySet:
    from chorus.models import Team

    return Team.objects.for_org(org)


def users_filter(qs: QuerySet, expression: str, *, org) -> QuerySet:
    return qs.filter(_to_q(expression, USER_ATTRS, org=org))


def groups_filter(qs: QuerySet, expression: str) -> QuerySet:
    return qs.filter(_to_q(expression, GROUP_ATTRS)).distinct()


class UserFilterQuery:
    """Named in ``SCIM_SERVICE_PROVIDER`` so django-scim2's adapters find an
    ``attr_map``; searching goes through :func:`users_filter`."""

    attr_map = USER_ATTRS


class GroupFilterQuery:
    attr_map = GROUP_ATTRS
