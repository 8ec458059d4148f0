"""SCIM filters (RFC 7644 §3.4.2.2) → Django ``Q`` objects, scoped to one organisation in SQL.

django-scim2's stock filter runs a raw ``SELECT`` over every tenant's rows and drops
the other tenants in Python, and a filter on an attribute it does not know matches
nothing: an IdP reads that empty answer as "no such user" and creates a duplicate.
Here scim2-filter-parser parses the filter and :class:`_QueryBuilder` turns its tree
into a ``WHERE`` clause on a queryset that is ``for_org`` already.

Every filterable attribute is declared once below with its SCIM type, so each of the
ten operators either means what RFC 7644 says for that type or is a 400
``invalidFilter`` *before* any query: string comparisons are case-insensitive unless
the attribute is ``caseExact`` (RFC 7643: ``id`` and ``externalId``), ``gt``/``ge``/
``lt``/``le`` on booleans are refused (the RFC says so), and values are checked
against the type (an id that is not a number cannot reach an integer column, a
DateTime must parse). Attributes not declared here answer ``invalidFilter``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import BooleanField, CharField, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat, Lower, NullIf, Trim
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils.dateparse import parse_datetime
from scim2_filter_parser import ast as fast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from chorus.services import user_pks_with_username

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# SCIM ids are unique across all resource types (RFC 7643 §3.1): a user is "42", a
# team "team-7", so a root /.search never shows two resources with one id.
TEAM_ID_PREFIX = "team-"
# Primary keys are 64-bit: a longer number is no id of ours and must never reach SQL
# (SQLite answers "datatype mismatch" or Python's OverflowError).
MAX_PK = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
MAX_FILTER_LENGTH = 4096
MAX_NESTING = 50

STRING, BOOLEAN, DATETIME, ID = "string", "boolean", "dateTime", "id"
_ORDERING = {"gt": GreaterThan, "ge": GreaterThanOrEqual, "lt": LessThan, "le": LessThanOrEqual}
_DJANGO_ORDERING = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
_SUBSTRING = {"co": "contains", "sw": "startswith", "ew": "endswith"}


# scim2-filter-parser gives "and" and "or" the same precedence, so `a or b and c` is
# read as `(a or b) and c`. RFC 7644 §3.4.2.2: "not" before "and" before "or". The
# same grammar rules with the RFC's precedence table:
ScimFilterParser = type(SCIMParser)("ScimFilterParser", (SCIMParser,), {
    "_": None, "__module__": __name__,
    **{name: rule for name, rule in vars(SCIMParser).items() if callable(rule) and hasattr(rule, "rules")},
    "precedence": (("left", "OR"), ("left", "AND"), ("right", "NOT")),
})


class UnsupportedFilter(ValueError):
    """The filter names an attribute we cannot filter on, uses an operator the
    attribute's type does not allow, has a value of the wrong type, or does not parse."""


def scim_pk(value: object, prefix: str = "") -> int | None:
    """The primary key a SCIM id names (``"42"``, or ``"team-7"`` with ``prefix``),
    or None when it cannot be one of ours: ASCII digits only (``str.isdigit`` accepts
    ``"²"``, which ``int()`` refuses) and within a 64-bit key."""
    text = str(value if value is not None else "").strip().lower()
    if prefix:
        if not text.startswith(prefix):
            return None
        text = text[len(prefix):]
    if not _DIGITS.fullmatch(text):
        return None
    pk = int(text)
    return pk if 0 < pk <= MAX_PK else None


def team_pk(value: object) -> int | None:
    return scim_pk(value, TEAM_ID_PREFIX)


@dataclass(frozen=True)
class Attr:
    """One filterable attribute. ``field`` is the model field or queryset alias that
    holds its value. ``exact`` builds an ``eq`` through an index (or from an id);
    ``text`` is the alias holding an ID attribute as SCIM text (for ``co``, ``gt``…);
    ``within`` turns a condition on a multi-valued attribute's items (a team's
    members) into a condition on the resource."""

    field: str
    kind: str = STRING
    case_exact: bool = False
    exact: Callable[[str, Any], Q] | None = None
    text: str | None = None
    prefix: str = ""
    within: Callable[[Q, Any], Q] | None = None


def _attrs(urn: str, table: dict[tuple[str, str | None], Attr]) -> dict[tuple[str, str, str | None], Attr]:
    return {(urn.lower(), name.lower(), sub.lower() if sub else None): attr for (name, sub), attr in table.items()}


def _username_eq(value: str, org) -> Q:
    return Q(pk__in=user_pks_with_username(org=org, username=value))


def _email_eq(value: str, org) -> Q:
    # LOWER(email) = … goes through the expression index.
    return Q(email_lower=value.lower())


def _members(condition: Q, org) -> Q:
    """A team matches when one of its members (a user of the same organisation) does."""
    from chorus.models import User

    members = User.objects.for_org(org).filter(team__isnull=False).alias(scim_id=Cast("pk", CharField()))
    return Q(pk__in=members.filter(condition).values("team_id"))


_USER_ID = Attr("pk", ID, case_exact=True, text="scim_id")
_EMAIL = Attr("email", exact=_email_eq)
_GIVEN, _FAMILY = Attr("first_name"), Attr("last_name")
_TEAM = Attr("team_id", ID, text="team_scim_id", prefix=TEAM_ID_PREFIX)
_MANAGER = Attr("manager_id", ID, case_exact=True, text="manager_scim_id")
_USER_CREATED = Attr("date_joined", DATETIME)

USER_ATTRS = {
    **_attrs(CORE_USER, {
        ("userName", None): Attr("user_name", exact=_username_eq),
        ("id", None): _USER_ID,
        ("externalId", None): Attr("external_id", case_exact=True),
        ("displayName", None): Attr("display_name"),
        ("name", "givenName"): _GIVEN,
        ("name", "familyName"): _FAMILY,
        ("givenName", None): _GIVEN,
        ("familyName", None): _FAMILY,
        ("emails", None): _EMAIL,
        ("emails", "value"): _EMAIL,
        ("emails", "type"): Attr("email_type"),
        ("emails", "primary"): Attr("email_primary", BOOLEAN),
        ("title", None): Attr("title"),
        ("active", None): Attr("is_active", BOOLEAN),
        ("chorus_role", None): Attr("role__name"),
        ("chorus_license_type", None): Attr("license_type"),
        ("manager_email", None): Attr("manager_email"),
        ("groups", None): _TEAM,
        ("groups", "value"): _TEAM,
        ("groups", "display"): Attr("team__name"),
        ("meta", "created"): _USER_CREATED,
        ("meta", "lastModified"): _USER_CREATED,
    }),
    **_attrs(ENTERPRISE_USER, {("manager", None): _MANAGER, ("manager", "value"): _MANAGER}),
}

_MEMBER = Attr("pk", ID, case_exact=True, text="scim_id", within=_members)
_TEAM_CREATED = Attr("created_at", DATETIME)

GROUP_ATTRS = _attrs(CORE_GROUP, {
    ("displayName", None): Attr("name"),
    ("id", None): Attr("pk", ID, text="scim_id", prefix=TEAM_ID_PREFIX),
    ("externalId", None): Attr("external_id", case_exact=True),
    ("members", None): _MEMBER,
    ("members", "value"): _MEMBER,
    ("meta", "created"): _TEAM_CREATED,
    ("meta", "lastModified"): _TEAM_CREATED,
})


# --- Values, checked against the attribute's type before any query ----------------------


def _boolean(raw: str, name: str) -> bool:
    # The parser keeps true and "true" alike; Entra sends "True" strings in bodies too.
    text = raw.strip().lower()
    if text not in ("true", "false"):
        raise UnsupportedFilter(f"'{name}' is a boolean: compare it with true or false.")
    return text == "true"


def _datetime(raw: str, name: str) -> datetime:
    try:
        value = parse_datetime(raw.strip())
    except ValueError:
        value = None
    if value is None:
        raise UnsupportedFilter(f"'{name}' is a DateTime: compare it with a value like \"2024-05-13T04:42:34Z\".")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _string(raw: str, name: str) -> str:
    if "\x00" in raw:
        raise UnsupportedFilter(f"The value compared with '{name}' contains a NUL character.")
    return raw


class _QueryBuilder:
    """Walks scim2-filter-parser's tree. Value paths (``emails[type eq "work"]``,
    ``members[value eq "42"]``) evaluate their inner filter on one item of the
    multi-valued attribute, as RFC 7644 asks, and the trailing form Entra sends
    (``emails[type eq "work"].value eq "…"``) adds its comparison to that item."""

    def __init__(self, attrs: dict, core_urn: str, org):
        self.attrs, self.core_urn, self.org = attrs, core_urn, org

    def build(self, node, parent: fast.AttrPath | None = None, depth: int = 0) -> Q:
        if depth > MAX_NESTING:
            raise UnsupportedFilter("The filter is nested too deeply.")
        if isinstance(node, fast.Filter):
            if node.namespace is not None:
                if parent is not None or node.namespace.sub_attr is not None:
                    raise UnsupportedFilter("A value filter must follow a multi-valued attribute, like emails[…].")
                query = self.value_path(node.namespace, node.expr, depth=depth)
            else:
                query = self.build(node.expr, parent, depth + 1)
            return ~query if node.negated else query
        if isinstance(node, fast.LogExpr):
            op = node.op.lower()
            queries = [self.build(operand, parent, depth + 1) for operand in self._operands(node, op)]
            combined = queries[0]
            for query in queries[1:]:
                combined = combined & query if op == "and" else combined | query
            return combined
        if isinstance(node, fast.AttrExpr):
            return self.attr_expr(node, parent)
        raise UnsupportedFilter("The filter could not be parsed.")

    @staticmethod
    def _operands(node: fast.LogExpr, op: str) -> list:
        """``a or b or c`` is ``((a or b) or c)``: walk the left spine instead of
        recursing, so a long list of alternatives is not "nested too deeply"."""
        rights = []
        while True:
            rights.append(node.expr2)
            left = node.expr1
            inner = left.expr if isinstance(left, fast.Filter) and not left.negated and left.namespace is None \
                else left
            if not (isinstance(inner, fast.LogExpr) and inner.op.lower() == op):
                return [left, *reversed(rights)]
            node = inner

    def value_path(self, path: fast.AttrPath, inner, extra: fast.AttrExpr | None = None, depth: int = 0) -> Q:
        attr = self.attr(path, None)  # the parent must be filterable itself
        query = self.build(inner, parent=path, depth=depth + 1)
        if extra is not None:
            query &= self.compare(self.attr(extra.attr_path, None), extra, item=True)
        return attr.within(query, self.org) if attr.within else query

    def attr_expr(self, node: fast.AttrExpr, parent: fast.AttrPath | None) -> Q:
        path = node.attr_path
        if isinstance(path.attr_name, fast.Filter):  # emails[type eq "work"].value eq "…"
            if parent is not None:
                raise UnsupportedFilter("Value filters cannot be nested.")
            namespace = path.attr_name.namespace
            return self.value_path(fast.AttrPath(namespace.attr_name, None, namespace.uri),
                                   path.attr_name.expr, extra=self._with_sub(node, namespace))
        return self.compare(self.attr(path, parent), node, item=parent is not None)

    @staticmethod
    def _with_sub(node: fast.AttrExpr, namespace: fast.AttrPath) -> fast.AttrExpr:
        # Carry the trailing sub-attribute (".value") as the path of the comparison.
        return fast.AttrExpr(node.value, namespace, node.comp_value)

    def attr(self, path: fast.AttrPath, parent: fast.AttrPath | None) -> Attr:
        if not isinstance(path.attr_name, str):
            raise UnsupportedFilter("Value filters cannot be nested.")
        if parent is not None:  # inside emails[…]: "type" means emails.type
            if path.sub_attr is not None or path.uri is not None:
                raise UnsupportedFilter(f"Inside {parent.attr_name}[…] use its sub-attributes only.")
            name, sub, uri = parent.attr_name, path.attr_name, parent.uri
        else:
            name, sub, uri = path.attr_name, path.sub_attr.value if path.sub_attr else None, path.uri
        key = ((uri or self.core_urn).lower(), name.lower(), sub.lower() if sub else None)
        attr = self.attrs.get(key)
        if attr is None:
            label = f"{uri}:" if uri else ""
            raise UnsupportedFilter(f"Filtering on '{label}{name}{'.' + sub if sub else ''}' is not supported.")
        return attr

    def compare(self, attr: Attr, node: fast.AttrExpr, *, item: bool) -> Q:
        """One comparison; on a multi-valued attribute outside a value path, the
        resource matches when one of its items does (RFC 7644 §3.4.2.2)."""
        query = self._compare(attr, node.value.lower(), node.comp_value.value if node.comp_value else None,
                              str(node.attr_path.attr_name))
        return attr.within(query, self.org) if attr.within and not item else query

    def _compare(self, attr: Attr, op: str, raw: str | None, name: str) -> Q:
        f = attr.field
        if op == "pr":
            present = Q(**{f"{f}__isnull": False})
            return present & ~Q(**{f: ""}) if attr.kind == STRING else present
        if raw is None:
            raise UnsupportedFilter(f"The operator '{op}' needs a value.")
        if attr.kind == BOOLEAN:
            if op not in ("eq", "ne"):
                raise UnsupportedFilter(f"'{name}' is a boolean: only eq, ne and pr apply to it.")
            query = Q(**{f: _boolean(raw, name)})
            return ~query if op == "ne" else query
        if attr.kind == DATETIME:
            if op in _SUBSTRING:
                raise UnsupportedFilter(f"'{name}' is a DateTime: use eq, ne, gt, ge, lt, le or pr.")
            value = _datetime(raw, name)
            if op in ("eq", "ne"):
                return ~Q(**{f: value}) if op == "ne" else Q(**{f: value})
            return Q(**{f"{f}__{_DJANGO_ORDERING[op]}": value})
        value = _string(raw, name)
        if attr.kind == ID:
            if op in ("eq", "ne"):
                pk = scim_pk(value, attr.prefix)
                query = Q(**{f: pk}) if pk is not None else Q(pk__in=[])
                return ~query if op == "ne" else query
            # Other operators compare the id as the text SCIM shows ("team-7").
            return Q(**{f"{f}__isnull": False}) & self._text(attr.text or f, attr.case_exact, op, value)
        if op in ("eq", "ne"):
            query = attr.exact(value, self.org) if attr.exact else self._text(f, attr.case_exact, "eq", value)
            return ~query if op == "ne" else query
        return self._text(f, attr.case_exact, op, value)

    @staticmethod
    def _text(field: str, case_exact: bool, op: str, value: str) -> Q:
        if op in _ORDERING:  # lexicographic; case-insensitive unless caseExact
            if case_exact:
                return Q(**{f"{field}__{_DJANGO_ORDERING[op]}": value})
            return Q(_ORDERING[op](Lower(field), value.lower()))
        lookup = "exact" if op == "eq" else _SUBSTRING[op]
        return Q(**{f"{field}__{lookup if case_exact else 'i' + lookup}": value})


def _to_q(expression: str, attrs: dict, core_urn: str, org) -> Q:
    if len(expression) > MAX_FILTER_LENGTH:
        raise UnsupportedFilter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        tree = ScimFilterParser().parse(SCIMLexer().tokenize(expression))
    except (SCIMParserError, ValueError, AttributeError, TypeError, IndexError) as exc:
        raise UnsupportedFilter("The filter could not be parsed.") from exc
    if tree is None:
        raise UnsupportedFilter("The filter could not be parsed.")
    try:
        return _QueryBuilder(attrs, core_urn, org).build(tree)
    except RecursionError as exc:
        raise UnsupportedFilter("The filter is nested too deeply.") from exc


def user_queryset(org) -> QuerySet:
    from chorus.models import User

    return (
        User.objects.for_org(org)
        .select_related("role", "manager", "team")
        .alias(
            email_lower=Lower("email"),
            user_name=Coalesce("scim_username", "email", output_field=CharField()),
            display_name=Coalesce(
                NullIf(Trim(Concat("first_name", Value(" "), "last_name", output_field=CharField())), Value("")),
                "email", output_field=CharField()),
            email_type=Value("work", output_field=CharField()),
            email_primary=Value(True, output_field=BooleanField()),
            manager_email=Coalesce("manager__email", NullIf("pending_manager_email", Value("")),
                                   output_field=CharField()),
            scim_id=Cast("pk", CharField()),
            manager_scim_id=Cast("manager_id", CharField()),
            team_scim_id=Concat(Value(TEAM_ID_PREFIX), Cast("team_id", CharField()), output_field=CharField()),
        )
    )


def group_queryset(org) -> QuerySet:
    from chorus.models import Team

    return Team.objects.for_org(org).alias(
        scim_id=Concat(Value(TEAM_ID_PREFIX), Cast("pk", CharField()), output_field=CharField()),
    )


def users_filter(qs: QuerySet, expression: str, *, org) -> QuerySet:
    return qs.filter(_to_q(expression, USER_ATTRS, CORE_USER, org))


def groups_filter(qs: QuerySet, expression: str, *, org) -> QuerySet:
    return qs.filter(_to_q(expression, GROUP_ATTRS, CORE_GROUP, org))


class UserFilterQuery:
    """Named in ``SCIM_SERVICE_PROVIDER`` so django-scim2's adapters find an
    ``attr_map``; searching goes through :func:`users_filter`."""

    attr_map = USER_ATTRS


class GroupFilterQuery:
    attr_map = GROUP_ATTRS
