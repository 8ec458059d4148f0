"""Writes on the core domain. Views, management commands, SCIM and tasks all call
these functions; none of this logic lives in views, forms or signals."""

from __future__ import annotations

import hashlib
import secrets as pysecrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chorus.models import (
    AuditEvent,
    LicenseType,
    Organization,
    PersonalApiToken,
    Role,
    Team,
    User,
)
from chorus.trackers import trackers_seed_defaults

API_TOKEN_PREFIX = "chorus_"


# --- Audit -----------------------------------------------------------------------------


def audit_record(*, org: Organization, actor: User | None, action: str, target: str = "",
                 changes: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent.objects.create(org=org, actor=actor, action=action, target=target, changes=changes or {})


def _apply_changes(obj, *, fields: dict[str, Any]) -> dict[str, list[Any]]:
    """Set ``fields`` on ``obj`` and return ``{field: [old, new]}`` for those that changed."""
    changed = {}
    for name, value in fields.items():
        old = getattr(obj, name)
        if old != value:
            changed[name] = [old, value]
            setattr(obj, name, value)
    return changed


# --- Organisations and roles -----------------------------------------------------------


def normalize_domains(domains) -> list[str]:
    out: list[str] = []
    for raw in domains or []:
        d = raw.strip().lower().lstrip("@").rstrip(".")
        if d and d not in out:
            out.append(d)
    return out


@transaction.atomic
def organization_create(*, slug: str, name: str, domains: list[str] | None = None,
                        package: str = Organization.Package.STANDARD) -> Organization:
    """Create an organisation with the seed's six built-in roles. Idempotent on
    ``slug``: an existing org gets the new name and any missing domains or roles."""
    org, created = Organization.objects.get_or_create(
        slug=slug, defaults={"name": name, "email_domains": normalize_domains(domains), "package": package}
    )
    if not created:
        org.name = name or org.name
        org.email_domains = normalize_domains([*org.email_domains, *(domains or [])])
        org.save(update_fields=["name", "email_domains"])
    roles_ensure_builtin(org=org)
    if created:  # not again: a default tracker an admin deleted stays deleted
        trackers_seed_defaults(org=org)
    return org


def roles_ensure_builtin(*, org: Organization) -> None:
    existing = set(Role.objects.for_org(org).filter(is_builtin=True).values_list("name", flat=True))
    Role.objects.bulk_create(
        [
            Role(org=org, name=name, is_builtin=True, is_admin=(name == Role.ADMIN))
            for name in Role.BUILTIN_NAMES
            if name not in existing
        ]
    )


def role_create(*, org: Organization, name: str, actor: User | None = None, is_admin: bool = False) -> Role:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Enter a name for the role."})
    if Role.objects.for_org(org).filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A role named “{name}” already exists."})
    with transaction.atomic():
        role = Role.objects.create(org=org, name=name, is_admin=is_admin)
        audit_record(org=org, actor=actor, action="role.created", target=name)
    return role


def role_get_or_create(*, org: Organization, name: str) -> Role:
    role = Role.objects.for_org(org).filter(name__iexact=name.strip()).first()
    return role or role_create(org=org, name=name)


def role_update_compliance(*, role: Role, actor: User | None, compliance_mode_enabled: bool,
                           compliance_mode_enforced: bool, delete_calls_without_notification: bool) -> Role:
    """Roles and Permissions > Compliance. "Enforced" implies "Enabled"; deleting
    calls without a recording notification is an Enterprise feature (seed)."""
    if delete_calls_without_notification and not role.org.is_enterprise:
        raise ValidationError(
            {"delete_calls_without_notification": "Deleting non-compliant calls needs the Enterprise package."}
        )
    changed = _apply_changes(role, fields={
        "compliance_mode_enabled": compliance_mode_enabled or compliance_mode_enforced,
        "compliance_mode_enforced": compliance_mode_enforced,
        "delete_calls_without_notification": delete_calls_without_notification,
    })
    if changed:
        with transaction.atomic():
            role.save(update_fields=list(changed))
            audit_record(org=role.org, actor=actor, action="role.compliance_changed", target=role.name,
                         changes=changed)
    return role


def organization_update_settings(*, org: Organization, actor: User | None, **fields) -> Organization:
    """Organization Settings (name, email domains, ignored participants, block
    list, Display As)."""
    for name in ("email_domains", "ignored_participants", "blocked_participants"):
        if name in fields:
            fields[name] = normalize_domains(fields[name])
    if "notetaker_display_name" in fields:
        fields["notetaker_display_name"] = " ".join(fields["notetaker_display_name"].split())
        if not fields["notetaker_display_name"]:
            raise ValidationError({"notetaker_display_name": "The Notetaker needs a name."})
    changed = _apply_changes(org, fields=fields)
    if changed:
        with transaction.atomic():
            org.save(update_fields=list(changed))
            audit_record(org=org, actor=actor, action="organization.settings_changed", target=org.name,
                         changes=changed)
    return org


# --- Users and teams -------------------------------------------------------------------


@transaction.atomic
def user_create_or_update(*, org: Organization, email: str, role: Role | None = None,
                          license_type: str | None = None, password: str | None = None,
                          first_name: str | None = None, last_name: str | None = None,
                          title: str | None = None) -> tuple[User, bool]:
    """Create a user in ``org``, or update the one with this email (case-insensitive)."""
    email = User.objects.normalize_email(email.strip())
    if license_type and license_type not in LicenseType.values:
        raise ValidationError({"license_type": f"Licence type must be one of {', '.join(LicenseType.values)}."})
    user = User.objects.for_org(org).with_email(email).first()
    created = user is None
    if created:
        user = User(org=org, email=email, role=role or Role.objects.for_org(org).get(name="Rep (AE/Other)"))
        user.set_unusable_password()
    fields = {"role": role, "license_type": license_type, "first_name": first_name,
              "last_name": last_name, "title": title}
    for name, value in fields.items():
        if value is not None:
            setattr(user, name, value)
    if password:
        user.set_password(password)
    user.save()
    if created:
        user_link_pending_reports(manager=user)
    return user, created


def team_for_manager(*, manager: User) -> Team:
    """The team of the people who report to ``manager`` (created on first report)."""
    team = Team.objects.filter(manager=manager).first()
    if team:
        return team
    name = f"{manager.full_name}'s team"
    base, n = name, 2
    while Team.objects.for_org(manager.org).filter(name__iexact=name).exists():
        name, n = f"{base} ({n})", n + 1
    return Team.objects.create(org=manager.org, manager=manager, name=name)


def user_set_manager(*, user: User, manager: User | None) -> User:
    """Set (or clear) a user's manager and move them to that manager's team.
    A manager must be in the same org and may not create a reporting cycle."""
    if manager is not None:
        if manager.org_id != user.org_id:
            raise ValidationError({"manager": "The manager must belong to the same organisation."})
        node, seen = manager, set()
        while node is not None and node.pk not in seen:
            if node.pk == user.pk:
                raise ValidationError({"manager": "That manager would create a reporting cycle."})
            seen.add(node.pk)
            node = node.manager
    user.manager = manager
    user.pending_manager_email = ""
    user.team = team_for_manager(manager=manager) if manager else None
    user.save(update_fields=["manager", "pending_manager_email", "team"])
    return user


def user_set_manager_email(*, user: User, manager_email: str) -> User:
    """Seed: teams follow the manager field. A manager may be provisioned after
    their reports, so an unknown email is kept and linked when they arrive."""
    manager_email = (manager_email or "").strip()
    if not manager_email:
        return user_set_manager(user=user, manager=None)
    manager = User.objects.for_org(user.org).with_email(manager_email).first()
    if manager is None:
        user.manager, user.team, user.pending_manager_email = None, None, manager_email
        user.save(update_fields=["manager", "team", "pending_manager_email"])
        return user
    return user_set_manager(user=user, manager=manager)


def user_link_pending_reports(*, manager: User) -> int:
    reports = User.objects.for_org(manager.org).waiting_for_manager(manager.email)
    linked = 0
    for report in reports:
        try:
            user_set_manager(user=report, manager=manager)
            linked += 1
        except ValidationError:
            continue  # a cycle: leave it pending rather than fail the manager's creation
    return linked


# --- Personal API tokens ---------------------------------------------------------------


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[PersonalApiToken, str]:
    """Create a token and return it with its raw value, which is never stored."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the token a name, for example “Zapier”."})
    raw = API_TOKEN_PREFIX + pysecrets.token_urlsafe(32)
    token = PersonalApiToken.objects.create(
        org=user.org, user=user, name=name[:100], prefix=raw[: len(API_TOKEN_PREFIX) + 4],
        token_hash=_hash_token(raw),
    )
    return token, raw


def api_token_revoke(*, token: PersonalApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_authenticate(*, raw: str) -> PersonalApiToken | None:
    """Find an active token by its hash (a unique index: constant work, no scan)."""
    token = (
        PersonalApiToken.objects.select_related("user", "org")
        .filter(token_hash=_hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        PersonalApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# --- Provisioning (SCIM) ---------------------------------------------------------------


class ProvisioningConflict(Exception):
    """Another user or team of the same organisation already holds this value. The
    message names only the value the caller sent, never the other record."""


def role_find(*, org: Organization, name: str) -> Role | None:
    """An existing role of ``org`` by name, case-insensitively. Provisioning never
    creates roles: the seed asks admins to create custom roles in Chorus first."""
    name = " ".join((name or "").split())
    return Role.objects.for_org(org).filter(name__iexact=name).first() if name else None


def user_pks_with_username(*, org: Organization, username: str):
    """The ids of the users whose SCIM userName is ``username`` (case-insensitive):
    their stored userName, or their email when none is stored. A UNION of two
    look-ups on the LOWER(...) expression indexes, because an ``OR`` of the two makes
    SQLite and PostgreSQL scan the organisation's users."""
    from django.db.models.functions import Lower

    value = username.lower()
    base = User.objects.for_org(org).order_by()
    by_username = base.alias(u=Lower("scim_username")).filter(u=value).values("pk")
    by_email = base.alias(e=Lower("email")).filter(scim_username__isnull=True, e=value).values("pk")
    return by_username.union(by_email, all=True)


def _username_taken(*, org: Organization, username: str, exclude_pk: int | None) -> bool:
    qs = User.objects.for_org(org).filter(pk__in=user_pks_with_username(org=org, username=username))
    return qs.exclude(pk=exclude_pk).exists() if exclude_pk else qs.exists()


def _check_identity_free(*, org: Organization, email: str | None, username: str | None,
                         exclude_pk: int | None = None) -> None:
    from django.db.models.functions import Lower

    others = User.objects.for_org(org).exclude(pk=exclude_pk) if exclude_pk else User.objects.for_org(org)
    if email and others.alias(e=Lower("email")).filter(e=email.lower()).exists():
        raise ProvisioningConflict(f"A user with the email {email} already exists.")
    if username and _username_taken(org=org, username=username, exclude_pk=exclude_pk):
        raise ProvisioningConflict(f"A user with the userName {username} already exists.")


def _scim_username(*, email: str, username: str | None) -> str | None:
    """``None`` when the userName is the email (the common case), so look-ups use
    the email index and a later email change keeps them in step."""
    username = (username or "").strip()
    return None if not username or username.lower() == email.lower() else username


@transaction.atomic
def user_provision(*, org: Organization, email: str, username: str | None = None,
                   first_name: str = "", last_name: str = "", title: str = "",
                   external_id: str = "", is_active: bool = True, role: Role | None = None,
                   license_type: str | None = None) -> User:
    """Create a user from the identity provider. Unlike ``user_create_or_update`` an
    existing email is a conflict: the IdP must link by filtering first, otherwise
    two IdP identities would silently share one Chorus account."""
    email = User.objects.normalize_email(email.strip())
    _check_identity_free(org=org, email=email, username=username)
    if license_type and license_type not in LicenseType.values:
        raise ValidationError({"license_type": f"Licence type must be one of {', '.join(LicenseType.values)}."})
    user = User(
        org=org, email=email, scim_username=_scim_username(email=email, username=username),
        first_name=first_name[:150], last_name=last_name[:150], title=title[:200],
        external_id=external_id[:255], is_active=is_active,
        role=role or Role.objects.for_org(org).get(name="Rep (AE/Other)"),
        license_type=license_type or LicenseType.RECORDER,
    )
    user.set_unusable_password()
    user.save()
    user_link_pending_reports(manager=user)
    return user


@transaction.atomic
def user_update_profile(*, user: User, email: str | None = None, username: str | None = None,
                        first_name: str | None = None, last_name: str | None = None,
                        title: str | None = None, external_id: str | None = None,
                        role: Role | None = None, license_type: str | None = None) -> User:
    """Apply the identity provider's attributes; ``None`` leaves a field as it is.
    A new email links the reports that were waiting for it as their manager."""
    new_email = User.objects.normalize_email(email.strip()) if email is not None else user.email
    new_username = username if username is not None else (user.scim_username or user.email)
    _check_identity_free(
        org=user.org,
        email=new_email if new_email.lower() != user.email.lower() else None,
        username=new_username if new_username.lower() != (user.scim_username or user.email).lower() else None,
        exclude_pk=user.pk,
    )
    if license_type and license_type not in LicenseType.values:
        raise ValidationError({"license_type": f"Licence type must be one of {', '.join(LicenseType.values)}."})
    email_changed = new_email.lower() != user.email.lower()
    fields: dict[str, Any] = {
        "email": new_email,
        "scim_username": _scim_username(email=new_email, username=new_username),
    }
    for name, value, limit in (("first_name", first_name, 150), ("last_name", last_name, 150),
                               ("title", title, 200), ("external_id", external_id, 255)):
        if value is not None:
            fields[name] = value[:limit]
    if role is not None:
        fields["role"] = role
    if license_type:
        fields["license_type"] = license_type
    changed = _apply_changes(user, fields=fields)
    if changed:
        user.save(update_fields=list(changed))
    if email_changed:
        user_link_pending_reports(manager=user)
    return user


def user_set_active(*, user: User, is_active: bool) -> User:
    """Deactivation keeps everything (recordings, role, team, manager) and only
    stops sign-in: the auth backends refuse inactive users and their sessions end
    on the next request. Reactivation restores the same account."""
    if user.is_active != is_active:
        user.is_active = is_active
        user.save(update_fields=["is_active"])
        audit_record(org=user.org, actor=None, action="user.reactivated" if is_active else "user.deactivated",
                     target=user.email)
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """The IdP deleted the user (JumpCloud's Test Connection user, Entra after its
    soft-delete period). Their recordings stay with the organisation, unowned."""
    audit_record(org=user.org, actor=None, action="user.deleted", target=user.email)
    user.delete()


def team_create(*, org: Organization, name: str, external_id: str = "") -> Team:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "A team needs a name."})
    if Team.objects.for_org(org).filter(name__iexact=name).exists():
        raise ProvisioningConflict(f"A team named {name} already exists.")
    return Team.objects.create(org=org, name=name[:200], external_id=(external_id or "")[:255])


def team_update(*, team: Team, name: str | None = None, external_id: str | None = None) -> Team:
    fields: dict[str, Any] = {}
    if name is not None:
        name = " ".join(name.split())
        if not name:
            raise ValidationError({"name": "A team needs a name."})
        if Team.objects.for_org(team.org).filter(name__iexact=name).exclude(pk=team.pk).exists():
            raise ProvisioningConflict(f"A team named {name} already exists.")
        fields["name"] = name[:200]
    if external_id is not None:
        fields["external_id"] = external_id[:255]
    changed = _apply_changes(team, fields=fields)
    if changed:
        team.save(update_fields=list(changed))
    return team


@transaction.atomic
def team_set_members(*, team: Team, users: list[User]) -> Team:
    """Make ``users`` the members of ``team``. A user is in one team at a time, so
    joining this team moves them out of their previous one."""
    if any(u.org_id != team.org_id for u in users):
        raise ValidationError({"members": "Members must belong to the team's organisation."})
    keep = {u.pk for u in users}
    User.objects.for_org(team.org).filter(team=team).exclude(pk__in=keep).update(team=None)
    User.objects.for_org(team.org).filter(pk__in=keep).update(team=team)
    return team


def team_delete(*, team: Team) -> None:
    """Members stay; they are simply no longer in a team."""
    team.delete()
