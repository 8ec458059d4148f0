"""The embedded views: Chorus recordings inside Salesforce (the canvas app on Lead,
Account and Opportunity pages; seed: "The Chorus iFrame is only supported for Leads,
Accounts, Opportunities") and inside Outreach (the Chorus tile on the Account page;
seed: "Sync Outreach and Chorus").

Both show one CRM record's recordings, newest first, each with a player and its
Moments; the player's source is a signed media URL because no Chorus cookie reaches
a frame inside another site. This module finds the engagements and builds what the
shared template (``console/embed_recordings.html``) renders; the views only decide
who is asking and which origins may frame the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import QuerySet

from chorus.domains import registrable_domain
from chorus.models import Engagement, Moment, Organization, Participant, User
from console import clari, outreach
from console.views.recordings import clock, one_per_sentence, player_media
from crm.models import AccountDomain, CrmAccount, CrmContact, CrmOpportunity
from crm.providers.salesforce.canvas import id_variants
from integrations.storage.models import RecordingFile
from integrations.storage.services import signed_media_url

LIMIT = 25

# --- Framing -----------------------------------------------------------------------------


def salesforce_frame_ancestors(instance_url: str) -> list[str]:
    """The origins a Salesforce org shows the canvas app from, from its instance URL:
    My Domain ``https://acme.my.salesforce.com`` → itself, Lightning
    (``acme.lightning.force.com``) and the Visualforce domains of the org and of the
    package's namespace (``acme--c.vf.force.com``, ``acme--affectlayer.vf.force.com``);
    a sandbox ``acme--uat.sandbox.my.salesforce.com`` → the ``.sandbox.`` forms of
    those. Any other instance URL: just its origin. Nothing usable: no origin."""
    parsed = urlparse(instance_url or "")
    host = (parsed.hostname or "").lower()
    if parsed.scheme != "https" or not host:
        return []
    origin = f"https://{host}" + (f":{parsed.port}" if parsed.port else "")
    for suffix, sandbox in ((".sandbox.my.salesforce.com", ".sandbox"), (".my.salesforce.com", "")):
        if host.endswith(suffix):
            name = host[: -len(suffix)]
            if name and "." not in name:
                return [origin, f"https://{name}{sandbox}.lightning.force.com",
                        f"https://{name}--c{sandbox}.vf.force.com",
                        f"https://{name}--affectlayer{sandbox}.vf.force.com"]
    return [origin]


def frame_ancestors_header(origins: list[str]) -> str:
    return "frame-ancestors " + (" ".join(origins) if origins else "'none'")


def outreach_frame_ancestors() -> str:
    """Outreach's host requirements: ``frame-ancestors 'self' *.outreach.io``."""
    return f"frame-ancestors 'self' {settings.OUTREACH_FRAME_ANCESTORS}".strip()


# --- Which engagements -------------------------------------------------------------------


def engagements_of_salesforce_record(org: Organization, record_type: str, record_id: str) -> QuerySet[Engagement]:
    """This org's engagements with a Salesforce Account, Opportunity or Lead (15- or
    18-character id); a Lead's are those with a participant using the lead's email."""
    ids = id_variants(record_id)
    engagements = Engagement.objects.for_org(org)
    if record_type == "Account":
        return engagements.filter(crm_account_id__in=ids)
    if record_type == "Opportunity":
        return engagements.filter(crm_opportunity_id__in=ids)
    if record_type == "Lead":
        lead = (CrmContact.objects.for_org(org).filter(kind=CrmContact.Kind.LEAD, remote_id__in=ids)
                .exclude(email="").order_by("id").first())
        if lead is None:
            return engagements.none()
        return engagements.filter(id__in=Participant.objects.for_org(org).filter(email__iexact=lead.email)
                                  .values("engagement_id"))
    return engagements.none()


def salesforce_record_name(org: Organization, record_type: str, record_id: str) -> str:
    """The synced name of the record the canvas sits on (the header), if Chorus has it."""
    model = {"Account": CrmAccount, "Opportunity": CrmOpportunity, "Lead": CrmContact}.get(record_type)
    if model is None or not record_id:
        return ""
    row = model.objects.for_org(org).filter(remote_id__in=id_variants(record_id)).order_by("id").first()
    return (row.name or getattr(row, "email", "")) if row is not None else ""


def engagements_of_account(account: CrmAccount) -> QuerySet[Engagement]:
    return Engagement.objects.for_org(account.org).filter(crm_account_id__in=id_variants(account.remote_id))


def outreach_account(org: Organization, *, domain: str, name: str) -> CrmAccount | None:
    """The org's account an Outreach account is: by its domain (registrable, through
    the indexed account domains; the most used one wins), else by its name."""
    wanted = registrable_domain(domain.strip()) if domain.strip() else ""
    if wanted:
        hit = (AccountDomain.objects.for_org(org).filter(domain=wanted).select_related("account")
               .order_by("-weight", "account_id").first())
        if hit is not None and hit.account.org_id == org.pk:
            return hit.account
    if name.strip():
        return CrmAccount.objects.for_org(org).filter(name__iexact=name.strip()).order_by("id").first()
    return None


# --- What the template renders -----------------------------------------------------------


@dataclass
class Recordings:
    items: list[Engagement]
    count: int
    limit: int

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))


def recordings(queryset: QuerySet[Engagement], org: Organization, *, limit: int = LIMIT) -> Recordings:
    """At most ``limit`` engagements, newest first, each with ``media`` (tag, type and
    a signed URL, or None) and ``key_moments`` (time order, one per sentence and
    tracker, with a clock). A fixed number of queries however many there are."""
    qs = queryset.filter(org=org).select_related("owner").order_by("-started_at", "-id")
    items = list(qs[:limit])
    count = len(items) if len(items) < limit else qs.count()
    ids = [e.pk for e in items]
    files: dict[int, RecordingFile] = {}
    for rf in (RecordingFile.objects.for_org(org).filter(engagement_id__in=ids)
               .exclude(file_type__iexact="TRANSCRIPT").order_by("id")):
        files.setdefault(rf.engagement_id, rf)
    moments: dict[int, list[Moment]] = {pk: [] for pk in ids}
    for m in (Moment.objects.for_org(org).filter(engagement_id__in=ids).select_related("tracker")
              .order_by("engagement_id", "at_seconds", "id")):
        moments[m.engagement_id].append(m)
    for e in items:
        rf = files.get(e.pk)
        e.media = player_media(rf, signed_media_url(e)) if rf else None
        e.key_moments = one_per_sentence(moments[e.pk])
        e.clock_length = clock(e.duration_seconds) if e.duration_seconds else ""
    return Recordings(items=items, count=count, limit=limit)


# --- The Outreach tile's sign-in (like Clari's: a cookie of its own) ----------------------

OUTREACH_COOKIE = "chorus_outreach"
OUTREACH_COOKIE_PATH = "/integrations/outreach/"
OUTREACH_COOKIE_MAX_AGE = 30 * 24 * 3600
OUTREACH_SALT = "console.outreach.tile"


def outreach_token(*, user: User) -> str:
    return clari.signed_user_token(user=user, salt=OUTREACH_SALT)


def outreach_user(token: str | None) -> User | None:
    """The active user an Outreach tile cookie names while it is fresh (whether the
    org switched the tile on is the view's question: it says so)."""
    return clari.signed_user(token, salt=OUTREACH_SALT, max_age=OUTREACH_COOKIE_MAX_AGE)


def outreach_enabled(org: Organization) -> bool:
    return outreach.outreach_tile_enabled(org=org)
