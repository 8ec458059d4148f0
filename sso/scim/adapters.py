"""SCIM 2.0 adapters (django-scim2) for Chorus users and teams.

The adapters translate between SCIM documents and ``chorus.services``; they hold no
business rules. Request bodies reach them already folded into one canonical state
(``sso.scim.patch``), whichever identity provider sent them; the adapters map that
state onto users and teams, all inside the view's transaction.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse
from django_scim.adapters import SCIMGroup, SCIMUser

from chorus import services
from chorus.models import LicenseType, Team, User
from sso.scim.filters import CORE_GROUP, CORE_USER, ENTERPRISE_USER, TEAM_ID_PREFIX, scim_pk
from sso.scim.patch import StateMixin, bad_value, lookup

BOOL_STRINGS = {"true": True, "false": False}
# chorus_role and chorus_license_type are optional (the seed's JumpCloud steps map
# neither; its Azure steps call them "not working natively"): a user created without
# them, or whose IdP removes them, gets these. chorus.services.user_provision's
# defaults are the same; Settings > SSO documents them.
DEFAULT_ROLE = "Rep (AE/Other)"
DEFAULT_LICENSE = LicenseType.RECORDER.value
# Columns that keep what the IdP sends whole (others are cut to fit by the services):
# longer text would be a database error on PostgreSQL, so it is a 400 here.
MAX_LENGTHS = {"userName": 255, "manager_email": 254, "email": 254}

ROLE_MISSING = (
    "The Chorus role “{name}” does not exist in this organisation. Create it in Chorus under "
    "Settings > Roles and Permissions first, then provision the user again."
)
LICENSE_INVALID = "chorus_license_type must be one of: recorder, listener."
EMAIL_MISSING = "A user needs an email address: send emails (or a userName that is an email address)."


def base_location(request=None, *args, **kwargs) -> str:
    """``BASE_LOCATION_GETTER``: resource locations use the public base URL."""
    return settings.CHORUS_BASE_URL


class _Adapter(StateMixin):
    """What both adapters need besides the state: the token's organisation, and
    absolute ``$ref`` URLs on the public base URL."""

    @property
    def org(self):
        return self.request.scim_org

    def ref(self, url_name: str, pk: Any) -> str:
        return urljoin(base_location(), reverse(url_name, kwargs={"uuid": str(pk)}))


def _string(state: dict, key: str, *, required: bool = False) -> str:
    value = state.get(key)
    if value is None:
        if required:
            raise bad_value(f"{key} is required.")
        return ""
    if not isinstance(value, str):
        raise bad_value(f"{key} must be a string.")
    if "\x00" in value:  # PostgreSQL refuses NUL in text: a 400, not a database error
        raise bad_value(f"{key} must not contain NUL characters.")
    value = value.strip()
    if required and not value:
        raise bad_value(f"{key} is required.")
    limit = MAX_LENGTHS.get(key)
    if limit is not None and len(value) > limit:
        raise bad_value(f"{key} is longer than {limit} characters.")
    return value


def _boolean(value: Any) -> bool:
    """Entra sends ``"True"`` / ``"False"`` strings for booleans."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in BOOL_STRINGS:
        return BOOL_STRINGS[value.strip().lower()]
    raise bad_value("active must be true or false.")


def _manager_id(value: Any) -> str | None:
    """Enterprise ``manager`` as ``{"value": id}``, a bare id, or empty to clear."""
    if isinstance(value, dict):
        value = lookup(value, "value")
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad_value("manager must be {\"value\": \"<user id>\"}, a user id, or empty.")
    return str(value).strip() or None


# --- Users ------------------------------------------------------------------------------


class ScimUser(_Adapter, SCIMUser):
    id_field = "id"
    url_name = "scim:users"
    resource_type = "User"
    CORE_URN = CORE_USER
    ATTRIBUTES = {
        CORE_USER: {name.lower(): name for name in (
            "userName", "name", "displayName", "emails", "title", "active", "externalId",
            "chorus_role", "chorus_license_type", "manager_email", "id", "meta", "schemas", "groups",
        )},
        ENTERPRISE_USER: {"manager": "manager"},
    }
    MULTI_VALUED = frozenset({"emails"})
    COMPLEX = frozenset({"name", "manager"})
    # PUT replaces the profile the IdP owns; the Chorus-side role, licence, manager and
    # status change only when the IdP sends them (many IdPs do not map them at all).
    PUT_CLEARS = frozenset({"name", "title", "externalId"})

    def current_state(self) -> dict:
        user: User = self.obj
        state: dict[str, Any] = {
            "userName": user.scim_username or user.email,
            "emails": [{"value": user.email, "type": "work"}],
            "active": user.is_active,
            "chorus_license_type": user.license_type,
            "chorus_role": user.role.name if user.role_id else None,
        }
        name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
        state["name"] = name or None
        state["title"] = user.title or None
        state["externalId"] = user.external_id or None
        state["manager_email"] = (user.manager.email if user.manager_id else user.pending_manager_email) or None
        state["manager"] = {"value": str(user.manager_id)} if user.manager_id else None
        return state

    @staticmethod
    def _email(state: dict, username: str) -> str | None:
        emails = [e for e in state.get("emails") or [] if isinstance(e, dict) and lookup(e, "value")]
        chosen = (
            next((e for e in emails if lookup(e, "primary") in (True, "true", "True")), None)
            or next((e for e in emails if str(lookup(e, "type")).lower() == "work"), None)
            or (emails[0] if emails else None)
        )
        email = str(lookup(chosen, "value")).strip() if chosen else ""
        if not email and "@" in username:
            email = username
        if not email:
            return None
        if len(email) > MAX_LENGTHS["email"]:
            raise bad_value(f"An email address is at most {MAX_LENGTHS['email']} characters long.")
        try:
            validate_email(email)
        except ValidationError:
            raise bad_value(f"'{email}' is not a valid email address.") from None
        return email

    def _role(self, state: dict):
        name = _string(state, "chorus_role")
        if not name:
            return None
        role = services.role_find(org=self.org, name=name)
        if role is None:
            raise bad_value(ROLE_MISSING.format(name=name))
        return role

    @staticmethod
    def _license(state: dict) -> str | None:
        value = _string(state, "chorus_license_type").lower()
        if value and value not in LicenseType.values:
            raise bad_value(LICENSE_INVALID)
        return value or None

    def _name(self, state: dict) -> tuple[str, str]:
        name = state.get("name") or {}
        if not isinstance(name, dict):
            raise bad_value("name must be an object.")
        return _string(name, "givenName"), _string(name, "familyName")

    def commit(self, state: dict, keys: set[str]) -> None:
        creating = self.obj.pk is None
        if creating:
            username = _string(state, "userName", required=True)
            email = self._email(state, username)
            if email is None:
                raise bad_value(EMAIL_MISSING)
            first, last = self._name(state)
            self.obj = services.user_provision(
                org=self.org, email=email, username=username, first_name=first, last_name=last,
                title=_string(state, "title"), external_id=_string(state, "externalId"),
                is_active=_boolean(state["active"]) if state.get("active") is not None else True,
                role=self._role(state), license_type=self._license(state),
            )
        else:
            profile: dict[str, Any] = {}
            if "userName" in keys:
                profile["username"] = _string(state, "userName", required=True)
            if "emails" in keys or "userName" in keys:
                email = self._email(state, profile.get("username", ""))
                if email is None and "emails" in keys:
                    raise bad_value(EMAIL_MISSING)
                if email is not None:
                    profile["email"] = email
            if "name" in keys:
                profile["first_name"], profile["last_name"] = self._name(state)
            if "title" in keys:
                profile["title"] = _string(state, "title")
            if "externalId" in keys:
                profile["external_id"] = _string(state, "externalId")
            if "chorus_role" in keys:
                profile["role"] = self._role(state) or services.role_find(org=self.org, name=DEFAULT_ROLE)
            if "chorus_license_type" in keys:
                profile["license_type"] = self._license(state) or DEFAULT_LICENSE
            services.user_update_profile(user=self.obj, **profile)
            if "active" in keys and state.get("active") is not None:
                services.user_set_active(user=self.obj, is_active=_boolean(state["active"]))
        if "manager" in keys and not ("manager_email" in keys and state.get("manager_email")):
            manager_id = _manager_id(state.get("manager"))
            manager = None
            if manager_id is not None:
                pk = scim_pk(manager_id)
                manager = User.objects.for_org(self.org).filter(pk=pk).first() if pk is not None else None
                if manager is None:
                    raise bad_value(f"manager {manager_id} is not a user of this organisation.")
            services.user_set_manager(user=self.obj, manager=manager)
        if "manager_email" in keys:
            services.user_set_manager_email(user=self.obj, manager_email=_string(state, "manager_email"))

    def to_dict(self) -> dict:
        user: User = self.obj
        location = self.location
        d: dict[str, Any] = {
            "schemas": [CORE_USER],
            "id": str(user.pk),
            "userName": user.scim_username or user.email,
            "displayName": user.full_name,
            "emails": [{"value": user.email, "type": "work"}],
            "active": user.is_active,
            "chorus_license_type": user.license_type,
        }
        if user.external_id:
            d["externalId"] = user.external_id
        name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
        if name:
            d["name"] = name
        if user.title:
            d["title"] = user.title
        if user.role_id:
            d["chorus_role"] = user.role.name
        manager_email = user.manager.email if user.manager_id else user.pending_manager_email
        if manager_email:
            d["manager_email"] = manager_email
        if user.team_id:
            team_id = f"{TEAM_ID_PREFIX}{user.team_id}"
            d["groups"] = [{"value": team_id, "$ref": self.ref("scim:groups", team_id),
                            "display": user.team.name}]
        if user.manager_id:
            d["schemas"].append(ENTERPRISE_USER)
            # No displayName: it is readOnly and optional, and echoing it back would
            # make the manager differ from the value the IdP sent.
            d[ENTERPRISE_USER] = {"manager": {"value": str(user.manager_id),
                                              "$ref": self.ref("scim:users", user.manager_id)}}
        d["meta"] = {"resourceType": "User", "created": user.date_joined.isoformat(),
                     "lastModified": user.date_joined.isoformat(), "location": location}
        return d

    def delete(self) -> None:
        services.user_delete(user=self.obj)


# --- Groups (teams) ---------------------------------------------------------------------


class ScimGroup(_Adapter, SCIMGroup):
    """A SCIM Group is a Chorus team. Members are users of the same organisation;
    one user is in one team at a time."""

    id_field = "id"
    url_name = "scim:groups"
    resource_type = "Group"
    CORE_URN = CORE_GROUP
    ATTRIBUTES = {
        CORE_GROUP: {name.lower(): name for name in (
            "displayName", "externalId", "members", "id", "meta", "schemas",
        )},
    }
    MULTI_VALUED = frozenset({"members"})
    READ_ONLY = frozenset({"id", "meta", "schemas"})
    PUT_CLEARS = frozenset({"externalId", "members"})

    @property
    def id(self) -> str:
        return f"{TEAM_ID_PREFIX}{self.obj.pk}"

    def current_state(self) -> dict:
        team: Team = self.obj
        return {
            "displayName": team.name,
            "externalId": team.external_id or None,
            "members": [{"value": str(pk)} for pk in self._member_ids()],
        }

    def _member_ids(self) -> list[int]:
        team: Team = self.obj
        return list(User.objects.for_org(self.org).filter(team=team).order_by("pk").values_list("pk", flat=True))

    def _members(self, state: dict) -> list[User]:
        ids = {scim_pk(lookup(m, "value") if isinstance(m, dict) else m) for m in state.get("members") or []}
        if None in ids:
            raise bad_value("members must name users of this organisation by id.")
        users = list(User.objects.for_org(self.org).filter(pk__in=ids))
        if len(users) != len(ids):
            raise bad_value("members must name users of this organisation by id.")
        return users

    def commit(self, state: dict, keys: set[str]) -> None:
        if self.obj.pk is None:
            self.obj = services.team_create(org=self.org, name=_string(state, "displayName", required=True),
                                            external_id=_string(state, "externalId"))
        else:
            services.team_update(
                team=self.obj,
                name=_string(state, "displayName", required=True) if "displayName" in keys else None,
                external_id=_string(state, "externalId") if "externalId" in keys else None,
            )
        if "members" in keys:
            services.team_set_members(team=self.obj, users=self._members(state))

    def to_dict(self, *, with_members: bool = True) -> dict:
        team: Team = self.obj
        d: dict[str, Any] = {"schemas": [CORE_GROUP], "id": self.id, "displayName": team.name}
        if team.external_id:
            d["externalId"] = team.external_id
        if with_members:
            # type but no display: display is readOnly and would make the member
            # differ from the one the IdP added.
            members = [{"value": str(pk), "$ref": self.ref("scim:users", pk), "type": "User"}
                       for pk in self._member_ids()]
            if members:
                d["members"] = members
        d["meta"] = {"resourceType": "Group", "created": team.created_at.isoformat(),
                     "lastModified": team.created_at.isoformat(), "location": self.location}
        return d

    def delete(self) -> None:
        services.team_delete(team=self.obj)
