"""The core domain: organisations (tenants), people, roles, teams and engagements.

Every tenant-owned model has an ``org`` foreign key and an :class:`OrgManager`, so
code reads ``Model.objects.for_org(org)``. Writes go through ``chorus.services``.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from chorus.domains import registrable_domain
from chorus.tenancy import OrgManager, OrgQuerySet


class Organization(models.Model):
    class Package(models.TextChoices):
        STANDARD = "standard", "Standard"
        ENTERPRISE = "enterprise", "Enterprise"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Internal email domains: attendees outside them are external (prospects).
    email_domains = models.JSONField(default=list, blank=True)
    package = models.CharField(max_length=20, choices=Package.choices, default=Package.STANDARD)
    api_access = models.BooleanField(
        default=False, help_text="The public API and Zapier are available to this organisation."
    )
    # Seed: "Before you configure provisioning you must reach out to the Chorus
    # support team to activate the feature." Support flips this in the Django admin.
    scim_provisioning_allowed = models.BooleanField(
        "SCIM provisioning activated by support", default=False
    )
    # Meeting Recording Rules: people Chorus leaves out. An entry is an email
    # address or a domain (which also covers its subdomains).
    ignored_participants = models.JSONField(
        default=list, blank=True,
        help_text="Neither colleagues nor prospects (assistants, partners, shared mailboxes): a meeting with only "
                  "colleagues and ignored people is not a customer meeting.")
    blocked_participants = models.JSONField(
        "Block list", default=list, blank=True,
        help_text="Meetings with anyone on this list are not recorded and not pushed to the CRM.")
    notetaker_display_name = models.CharField(
        "Display As", max_length=80, default="Chorus Notetaker",
        help_text="The name the Chorus Notetaker joins meetings with.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_enterprise(self) -> bool:
        return self.package == self.Package.ENTERPRISE

    def is_internal_email(self, email: str) -> bool:
        return address_listed(email, self.email_domains)

    def is_ignored_email(self, email: str) -> bool:
        return address_listed(email, self.ignored_participants)

    def is_blocklisted_email(self, email: str) -> bool:
        return address_listed(email, self.blocked_participants)

    def participant_flags(self, email: str) -> dict[str, bool]:
        """``Participant`` flags for one address (internal, ignored, block-listed)."""
        return {"is_internal": self.is_internal_email(email), "is_ignored": self.is_ignored_email(email),
                "is_blocklisted": self.is_blocklisted_email(email)}


def address_listed(email: str, entries) -> bool:
    """Is ``email`` on a list of addresses and domains? A domain covers its
    subdomains (``acme.com`` lists ``eu.acme.com``); an address matches itself."""
    email = (email or "").strip().lower()
    if "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1]
    for entry in entries or ():
        entry = entry.lower()
        if entry == email or ("@" not in entry and (domain == entry or domain.endswith("." + entry))):
            return True
    return False


class LicenseType(models.TextChoices):
    RECORDER = "recorder", "Recorder"
    LISTENER = "listener", "Listener"


class Role(models.Model):
    """A role with its permissions. The six built-ins of the seed are created for
    every organisation (so each org can set their compliance options); custom roles
    are added per org."""

    BUILTIN_NAMES = (
        "Rep (AE/Other)",
        "Rep (SDR)",
        "Manager (AE/Other)",
        "Manager (SDR)",
        "Enablement/Leadership",
        "Admin",
    )
    ADMIN = "Admin"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100)
    is_builtin = models.BooleanField(default=False)
    is_admin = models.BooleanField(
        default=False, help_text="Members may change the organisation's settings and integrations."
    )
    # Roles and Permissions > Compliance
    compliance_mode_enabled = models.BooleanField(
        "Compliance Mode enabled", default=False,
        help_text="Users with this setting turned on will be enrolled in automated workflows "
        "to ensure compliant call recording.",
    )
    compliance_mode_enforced = models.BooleanField("Compliance Mode enforced", default=False)
    delete_calls_without_notification = models.BooleanField(
        "Delete calls without recording notification", default=False,
        help_text="Calls owned by users with this setting turned on will be automatically deleted "
        "if there is no recording notification at the beginning of the call.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["-is_builtin", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "org", name="role_name_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A team is the set of people who report to one manager (seed: "Automatically
    Update Teams in Chorus"). SCIM groups map onto teams too."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=200)
    manager = models.OneToOneField(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_team"
    )
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "org", name="team_name_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class UserQuerySet(OrgQuerySet):
    """Email look-ups go through ``LOWER(email)`` so they use the index (``__iexact``
    compiles to LIKE/UPPER, which scans the org's users)."""

    def with_email(self, email: str):
        return self.alias(_email_lower=Lower("email")).filter(_email_lower=(email or "").strip().lower())

    def waiting_for_manager(self, email: str):
        return self.alias(_pending_lower=Lower("pending_manager_email")).filter(
            _pending_lower=(email or "").strip().lower()
        )


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Email is the login; it is unique within an organisation (SCIM
    uniqueness is per org, so a conflict never reveals another tenant's user).
    Support staff have no org and use the Django admin."""

    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=200, blank=True)
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    license_type = models.CharField(
        max_length=20, choices=LicenseType.choices, default=LicenseType.RECORDER
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    # A manager named (by SCIM) before they exist: linked when they arrive.
    pending_manager_email = models.EmailField(blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    # Identity-provider id (SCIM externalId) and ids in other systems
    # ({"salesforce": "005…", "hubspot": "123", "zoom": "…"}).
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    # SCIM userName when the identity provider's differs from the email (an Azure
    # UPN); NULL means userName is the email.
    scim_username = models.CharField("SCIM userName", max_length=255, null=True, blank=True)
    external_ids = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Support staff: may use the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "org", name="user_email_unique_per_org"),
            models.UniqueConstraint(
                Lower("email"), condition=models.Q(org__isnull=True), name="staff_email_unique"
            ),
            models.UniqueConstraint(Lower("scim_username"), "org", name="user_scim_username_unique_per_org"),
        ]
        indexes = [
            models.Index(Lower("email"), name="user_email_lower_idx"),
            # SCIM: "who was waiting for this manager?" on every user created.
            models.Index(Lower("pending_manager_email"), "org", name="user_pending_manager_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def initials(self) -> str:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return "".join(p[0] for p in parts).upper() or self.email[:2].upper()

    @property
    def is_org_admin(self) -> bool:
        return bool(self.org_id and self.role_id and self.role.is_admin)


class PersonalApiToken(models.Model):
    """A personal API token (public API, Zapier). Only a SHA-256 hash is stored;
    the token is shown once when it is created."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Tracker(models.Model):
    """A word or topic Chorus listens for (a competitor, "Budget", "Pain"…)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="trackers")
    name = models.CharField(max_length=120)
    keywords = models.JSONField(default=list, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint("org", "name", name="tracker_name_unique_per_org")]

    def __str__(self) -> str:
        return self.name


class Engagement(models.Model):
    """One customer interaction: a recorded meeting, a dialer call, an email or an
    unrecorded meeting. ``source`` + ``external_id`` identify it in the system it
    came from, so imports are idempotent."""

    class Kind(models.TextChoices):
        RECORDING = "recording", "Recording"
        DIALER_CALL = "dialer_call", "Dialer call"
        EMAIL = "email", "Email"
        UNRECORDED_MEETING = "unrecorded_meeting", "Unrecorded Meeting"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="engagements")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=500, blank=True, help_text="Empty for unscheduled meetings.")
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="engagements")
    source = models.CharField(max_length=64, help_text="Where it came from: zoom, five9, outreach, seed…")
    external_id = models.CharField(max_length=255, blank=True)
    recording_url = models.URLField(max_length=1000, blank=True)
    recording_disabled = models.BooleanField(default=False, help_text="The user asked Chorus not to record.")
    recording_notification_detected = models.BooleanField(
        null=True, blank=True, help_text="Was a recording notification heard at the start? Unknown if empty."
    )
    transcript = models.TextField(blank=True)
    next_steps = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    action_items = models.JSONField(default=list, blank=True)
    crm_account_id = models.CharField(max_length=64, blank=True, db_index=True)
    crm_opportunity_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["org", "-started_at"], name="engagement_org_started_idx")]
        constraints = [
            models.UniqueConstraint(
                "org", "source", "external_id",
                condition=~models.Q(external_id=""),
                name="engagement_source_id_unique_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        return self.title or "Unscheduled Meeting"

    @property
    def next_step_items(self) -> list[dict]:
        """``next_steps`` as processing stores them ({"text", "speaker", "at_seconds"});
        rows written before processing existed hold bare sentences."""
        return [_said(s) for s in self.next_steps or []]

    @property
    def action_item_items(self) -> list[dict]:
        """``action_items`` as {"text", "speaker"} (bare sentences in older rows)."""
        return [_said(a) for a in self.action_items or []]


def _said(item) -> dict:
    if isinstance(item, dict):
        return {"text": str(item.get("text", "")), "speaker": str(item.get("speaker") or ""),
                "at_seconds": item.get("at_seconds")}
    return {"text": str(item), "speaker": "", "at_seconds": None}


def email_domain_of(email: str) -> str:
    """The registrable domain of an address (``ann@mail.acme.co.uk`` → ``acme.co.uk``),
    the key account matching finds attendees by."""
    return registrable_domain(email or "")[:255]


class ParticipantQuerySet(OrgQuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for p in objs:
            p.email_domain = email_domain_of(p.email)
        return super().bulk_create(objs, *args, **kwargs)


class Participant(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="participants")
    name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    # Filled from ``email`` on every save and bulk insert: after a CRM sync, the
    # attendees of changed accounts are found by an index, not a scan.
    email_domain = models.CharField(max_length=255, blank=True, editable=False)
    is_internal = models.BooleanField(default=False)
    is_ignored = models.BooleanField(default=False)
    is_blocklisted = models.BooleanField(default=False)

    objects = OrgManager.from_queryset(ParticipantQuerySet)()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["org", "email_domain"], condition=~models.Q(email_domain=""),
                                name="participant_org_domain_idx")]

    def save(self, *args, **kwargs):
        self.email_domain = email_domain_of(self.email)
        if kwargs.get("update_fields") is not None and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_domain"}
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name or self.email


class Moment(models.Model):
    """A tracker hit: which tracker, when in the engagement, and what was said."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="moments")
    tracker = models.ForeignKey(Tracker, on_delete=models.CASCADE, related_name="moments")
    at_seconds = models.PositiveIntegerField(default=0)
    text = models.TextField(blank=True)
    speaker = models.CharField(max_length=200, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["engagement", "at_seconds"]

    def __str__(self) -> str:
        return f"{self.tracker} @ {self.at_seconds}s"


class AuditEvent(models.Model):
    """Who changed which setting, when, from what to what (shown on the settings
    pages and in the Django admin). Values of secrets are never recorded."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
