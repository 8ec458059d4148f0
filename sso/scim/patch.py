"""SCIM documents and PATCH operations folded into one canonical *state* dict.

Identity providers spell the same change in many ways:

* Okta: custom attributes under ``urn:ietf:params:scim:schemas:core:2.0:User`` (bare
  keys, URN-prefixed keys, or a nested object), no-path ``replace`` with
  ``{"active": false}``.
* Azure / Entra: capitalised ops (``Replace``), ``"active": "False"`` strings, paths
  such as ``emails[type eq "work"].value``, no-path replace with dotted
  (``name.givenName``) or URN-qualified keys, the enterprise ``manager`` as a bare id.
* JumpCloud: repeated member adds, member removal by value list.

Every request body (POST, PUT and each PATCH operation) becomes that state here, so
the adapters in ``sso.scim.adapters`` see one shape whichever IdP sent it. A PATCH is
applied to the state of the stored object and only the attributes whose value
changed are committed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django_scim import exceptions
from scim2_filter_parser import ast as fast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParserError

from sso.scim.filters import ScimFilterParser

PATCH_OPS = ("add", "replace", "remove")
# The schemas RFC 7643/7644 define: a body naming one that is not its resource's own
# (core or extension) was meant for another endpoint.
STANDARD_URNS = ("urn:ietf:params:scim:schemas:core:", "urn:ietf:params:scim:api:messages:",
                 "urn:ietf:params:scim:schemas:extension:enterprise:")
SCHEMAS_MISSING = "schemas is required: send [\"{urn}\"]."
SCHEMAS_NOT_LIST = "schemas must be a list of schema URNs."
SCHEMAS_WRONG = "This is not a {resource}: schemas must include \"{urn}\" and no other resource type's schema."
_PATH_RE = re.compile(r"^([A-Za-z][\w-]*)(?:\[(.+)\])?(?:\.([A-Za-z$][\w$-]*))?$")
_URN_OBJECT = "@urn"


def bad_value(detail: str) -> exceptions.BadRequestError:
    return exceptions.BadRequestError(detail, scim_type="invalidValue")


def bad_syntax(detail: str) -> exceptions.BadRequestError:
    return exceptions.BadRequestError(detail, scim_type="invalidSyntax")


# --- Value filters inside PATCH paths (members[value eq "1"]) -------------------------


def _parse_filter(expression: str):
    try:
        return ScimFilterParser().parse(SCIMLexer().tokenize(expression))
    except (SCIMParserError, ValueError, AttributeError, TypeError) as exc:
        raise exceptions.BadRequestError("The path filter could not be parsed.", scim_type="invalidPath") from exc


def lookup(item: dict, name: str) -> Any:
    for key, value in item.items():
        if key.lower() == name.lower():
            return value
    return None


def _matches(node, item: dict) -> bool:
    """Evaluate a parsed value filter against one multi-valued item."""
    if isinstance(node, fast.Filter):
        result = _matches(node.expr, item)
        return not result if node.negated else result
    if isinstance(node, fast.LogExpr):
        left, right = _matches(node.expr1, item), _matches(node.expr2, item)
        return (left and right) if node.op.lower() == "and" else (left or right)
    if isinstance(node, fast.AttrExpr):
        path = node.attr_path
        name = path.sub_attr.value if path.sub_attr else path.attr_name
        actual = lookup(item, name)
        op = node.value.lower()
        if op == "pr":
            return actual not in (None, "", [])
        expected = node.comp_value.value if node.comp_value else None
        a, e = str(actual).lower(), str(expected).lower()
        return {
            "eq": a == e, "ne": a != e, "co": e in a, "sw": a.startswith(e), "ew": a.endswith(e),
        }.get(op, False) if actual is not None else op == "ne"
    return False


def _equalities(node) -> dict:
    """``type eq "work"`` → ``{"type": "work"}``: the item an add creates when none matches."""
    if isinstance(node, fast.Filter):
        return _equalities(node.expr)
    if isinstance(node, fast.LogExpr) and node.op.lower() == "and":
        return {**_equalities(node.expr1), **_equalities(node.expr2)}
    if isinstance(node, fast.AttrExpr) and node.value.lower() == "eq" and node.comp_value:
        path = node.attr_path
        return {path.sub_attr.value if path.sub_attr else path.attr_name: node.comp_value.value}
    return {}


# --- The canonical state ---------------------------------------------------------------


class StateMixin:
    """Folds SCIM documents and PATCH operations into a canonical state dict."""

    CORE_URN = ""
    # lower-case attribute name → canonical name, per schema URN
    ATTRIBUTES: dict[str, dict[str, str]] = {}
    MULTI_VALUED: frozenset[str] = frozenset()
    COMPLEX: frozenset[str] = frozenset()
    # Echoed back by IdPs in PUT bodies: accepted and ignored.
    READ_ONLY = frozenset({"id", "meta", "schemas", "groups", "displayName"})
    # Attributes a PUT clears when its body leaves them out.
    PUT_CLEARS: frozenset[str] = frozenset()

    def _target(self, path: str) -> tuple | None:
        """``(attr, filter, sub)`` for a path, ``(_URN_OBJECT, urn)`` for a bare
        schema URN (a nested object), ``None`` for attributes we do not keep."""
        text = path.strip()
        namespace = self.CORE_URN
        for urn in self.ATTRIBUTES:
            if text.lower() == urn.lower():
                return (_URN_OBJECT, urn)
            if text.lower().startswith(urn.lower() + ":"):
                namespace, text = urn, text[len(urn) + 1:]
                break
        else:
            if text.lower().startswith("urn:"):
                return None
        match = _PATH_RE.match(text)
        if not match:
            raise exceptions.BadRequestError(f"Invalid path '{path}'.", scim_type="invalidPath")
        attr, flt, sub = match.groups()
        canonical = self.ATTRIBUTES[namespace].get(attr.lower())
        if canonical is None:
            return None
        return canonical, flt, sub

    def _apply(self, state: dict, op: Any, path: Any, value: Any) -> None:
        op = str(op or "").lower()
        if op not in PATCH_OPS:
            raise bad_syntax(f"Unknown PATCH op '{op}'.")
        if not path:
            if op == "remove":
                raise exceptions.BadRequestError("A remove operation needs a path.", scim_type="noTarget")
            if not isinstance(value, dict):
                raise bad_syntax("A PATCH operation without a path needs an object value.")
            for key, item in value.items():
                self._apply_path(state, op, key, item)
            return
        if not isinstance(path, str):
            raise exceptions.BadRequestError("path must be a string.", scim_type="invalidPath")
        self._apply_path(state, op, path, value)

    def _apply_path(self, state: dict, op: str, path: str, value: Any) -> None:
        target = self._target(path)
        if target is None:
            return
        if target[0] == _URN_OBJECT:
            if op == "remove" or not isinstance(value, dict):
                raise bad_value(f"{target[1]} must be an object.")
            for key, item in value.items():
                self._apply_path(state, op, f"{target[1]}:{key}", item)
            return
        attr, flt, sub = target
        if attr in self.READ_ONLY:
            return
        if attr in self.MULTI_VALUED:
            state[attr] = self._apply_multi(list(state.get(attr) or []), op, flt, sub, value)
        elif attr in self.COMPLEX:
            current = state.get(attr)
            current = dict(current) if isinstance(current, dict) else ({"value": current} if current else {})
            if sub:
                if op == "remove":
                    current.pop(sub, None)
                else:
                    current[sub] = value
                state[attr] = current or None
            elif op == "remove" or value in (None, ""):
                state[attr] = None
            elif isinstance(value, dict):
                state[attr] = {**current, **value}
            else:
                state[attr] = value
        else:
            state[attr] = None if op == "remove" else value

    @staticmethod
    def _apply_multi(items: list, op: str, flt: str | None, sub: str | None, value: Any) -> list:
        items = [dict(i) if isinstance(i, dict) else {"value": i} for i in items]
        if flt:
            node = _parse_filter(flt)
            matched = [i for i in items if _matches(node, i)]
            if op == "remove":
                if sub:
                    for item in matched:
                        item.pop(sub, None)
                    return items
                return [i for i in items if not any(i is m for m in matched)]
            if not matched:
                matched = [_equalities(node)]
                items.append(matched[0])
            for item in matched:
                if sub:
                    item[sub] = value
                elif isinstance(value, dict):
                    item.update(value)
                else:
                    raise bad_value("A filtered path without a sub-attribute needs an object value.")
            return items
        if sub:
            if op == "remove":
                for item in items:
                    item.pop(sub, None)
            else:
                items = items or [{}]
                for item in items:
                    item[sub] = value
            return items
        values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        values = [v if isinstance(v, dict) else {"value": v} for v in values]

        def same(a: dict, b: dict) -> bool:
            return str(lookup(a, "value")) == str(lookup(b, "value"))

        if op == "replace":
            return values
        if op == "add":
            for v in values:
                if not any(same(v, i) for i in items):
                    items.append(v)
            return items
        if not values:
            return []
        return [i for i in items if not any(same(v, i) for v in values)]

    def state_from_document(self, document: Any) -> dict:
        if not isinstance(document, dict):
            raise bad_syntax("The request body must be a JSON object.")
        state: dict = {}
        for key, value in document.items():
            self._apply_path(state, "add", key, value)
        return state

    def handle_operations(self, operations: Any) -> None:
        if not isinstance(operations, list) or not operations:
            raise bad_syntax("A PATCH request needs an Operations list.")
        before = self.current_state()
        state = copy.deepcopy(before)
        for operation in operations:
            if not isinstance(operation, dict):
                raise bad_syntax("Each PATCH operation must be an object.")
            self._apply(state, lookup(operation, "op"), lookup(operation, "path"), lookup(operation, "value"))
        changed = {k for k in set(state) | set(before) if state.get(k) != before.get(k)}
        if changed:
            self.commit(state, changed)

    def check_schemas(self, document: Any) -> None:
        """A POST or PUT body names its resource's schema in ``schemas`` (RFC 7643 §3:
        REQUIRED, with the base schema). A body without it, or with the schema of
        another resource type (a Group body sent to /Users), is refused before
        anything is read from it. Extensions we do not know (an IdP's custom one) are
        tolerated: their attributes are not kept."""
        schemas = lookup(document, "schemas") if isinstance(document, dict) else None
        if schemas is None:
            raise bad_value(SCHEMAS_MISSING.format(urn=self.CORE_URN))
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise bad_syntax(SCHEMAS_NOT_LIST)
        ours = {urn.lower() for urn in self.ATTRIBUTES}
        named = {s.strip().lower() for s in schemas}
        foreign = [s for s in schemas if s.strip().lower() not in ours and s.strip().lower().startswith(STANDARD_URNS)]
        if self.CORE_URN.lower() not in named or foreign:
            raise bad_syntax(SCHEMAS_WRONG.format(urn=self.CORE_URN, resource=self.resource_type))

    def from_dict(self, d: dict, *, replace: bool = False) -> None:
        """POST (``replace=False`` on a new object) and PUT (``replace=True``)."""
        self.check_schemas(d)
        state = self.state_from_document(d)
        self.commit(state, set(state) | (self.PUT_CLEARS if replace else set()))

    def current_state(self) -> dict:
        raise NotImplementedError

    def commit(self, state: dict, keys: set[str]) -> None:
        raise NotImplementedError
