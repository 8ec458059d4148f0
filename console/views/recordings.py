"""Recordings, the engagement page, Deals and Analytics. Thin views: they take the
org from ``request.user`` and read through ``for_org``; the console is the top
layer, so it reads the CRM's and the outbox's rows directly."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from chorus.filters import RecordingFilter
from chorus.models import Engagement, Moment, Participant
from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin
from crm.filters import (
    ENGAGEMENT_PATHS,
    OPPORTUNITY_PATHS,
    OpportunityFilter,
    crm_fields_of,
    crm_filterset_class,
)
from crm.models import AccountMatch, CrmOpportunity
from crm.push.services import engagement_push_status
from dialers.compliance import compliance_settings
from integrations.processing.briefs import MIN_BRIEF_SECONDS, brief_eligible
from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
from integrations.processing.services import processing_retry
from integrations.processing.transcript import ZOOM_SPEAKER
from integrations.registry import PROVIDERS
from integrations.storage.models import RecordingFile


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.org_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("recordings")


def recording_filterset(request, org, queryset):
    cls = crm_filterset_class(RecordingFilter, org=org, paths=ENGAGEMENT_PATHS)
    return cls(request.GET or None, queryset=queryset, org=org)


def query_without_page(request) -> str:
    """The list's filters, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class RecordingListView(OrgMemberMixin, TemplateView):
    template_name = "console/recordings.html"
    page_size = 25

    def get_context_data(self, **kwargs):
        base = Engagement.objects.for_org(self.org)
        filterset = recording_filterset(self.request, self.org, base)
        qs = (
            (filterset.qs if filterset.is_bound else base)
            .select_related("owner", "account_match__account", "account_match__opportunity")
            .order_by("-started_at", "-id")
            .prefetch_related(
                Prefetch("participants", queryset=Participant.objects.filter(is_internal=False), to_attr="externals"),
                Prefetch("moments", queryset=Moment.objects.select_related("tracker"), to_attr="hits"),
            )
        )
        page = Paginator(qs, self.page_size).get_page(self.request.GET.get("page"))
        for engagement in page.object_list:
            engagement.tracker_names = sorted({m.tracker.name for m in engagement.hits})
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query_without_page(self.request), **kwargs)


# --- The engagement page -----------------------------------------------------------------

S = ProcessingStatus
STATUS_BADGE = {S.QUEUED: "badge-blue", S.TRANSCRIBING: "badge-blue", S.ANALYSING: "badge-blue",
                S.READY: "badge-green", S.FAILED: "badge-red"}
SAME_SENTENCE_SECONDS = 30
VIDEO_TYPES = {"MP4", "MOV", "WEBM", "MKV"}
# The seed's own sentence; briefs are for the Enterprise package.
BRIEF_TOO_SHORT = "We cannot generate Meeting Summary or Action Items for meetings less than 10 minutes."
BRIEF_NOT_ENTERPRISE = "Post-meeting briefs (Meeting Summary and Action Items) are part of the Enterprise package."
RETRY_QUEUED = ("Chorus processes this conversation again now: the transcript, Moments, next steps and brief "
                "are replaced when it is done. Reload the page to follow it.")
RETRY_BUSY = "Chorus is processing this conversation right now; Retry is offered again when it is done."
RETRY_NEVER = "This conversation was never processed (nothing to listen to, or imported before processing existed)."


def clock(seconds: float | None) -> str:
    """83.4 → "1:23", 3725 → "1:02:05": where a line sits in the player."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def transcript_source_label(source: str) -> str:
    """The row's ``transcript_source`` in words: a provider's own file, or the engine."""
    if not source:
        return ""
    if source == "pocketsphinx":
        return "Speech-to-text (pocketsphinx, offline)"
    if source.startswith("openai:"):
        return f"Speech-to-text ({source.removeprefix('openai:')}, OpenAI-compatible service)"
    provider = PROVIDERS.get(source)
    return f"{provider.label if provider else source.title()} transcript"


def brief_engine_label(engine: str) -> str:
    if engine == "extractive":
        return "Chorus extractive summary (offline)"
    if engine.startswith("openai:"):
        return f"{engine.removeprefix('openai:')} (OpenAI-compatible service)"
    return engine


def retry_offered(processing: EngagementProcessing | None) -> bool:
    """Retry from the page: after a failure, while a failed try waits for its next one,
    on a ready engagement (to find Moments again after tracker edits), and when a
    worker's lease ran out mid-stage. Not while a worker is at it or before a first try."""
    if processing is None:
        return False
    if processing.status in (S.FAILED, S.READY):
        return True
    if processing.status == S.QUEUED:
        return bool(processing.last_error)
    return processing.claimed_until is None or processing.claimed_until < timezone.now()


def processing_of(engagement: Engagement) -> EngagementProcessing | None:
    try:
        return engagement.processing
    except ObjectDoesNotExist:
        return None


def media_of(engagement: Engagement) -> dict | None:
    """The recording the player plays (what processing listens to: never a transcript
    file), served by ``recording-media`` — a short signed URL for a Custom Media Bucket."""
    rf = (RecordingFile.objects.for_org(engagement.org).filter(engagement=engagement)
          .exclude(file_type__iexact="TRANSCRIPT").order_by("id").first())
    return player_media(rf, reverse("recording-media", args=[engagement.pk]))


def player_media(rf: RecordingFile | None, url: str) -> dict | None:
    """What the player needs of a recording file: ``<video>`` or ``<audio>``, its type, where."""
    if rf is None:
        return None
    content_type = (rf.content_type or "").lower()
    is_video = content_type.startswith("video/") or (
        not content_type.startswith("audio/") and rf.file_type.upper() in VIDEO_TYPES)
    return {"tag": "video" if is_video else "audio", "content_type": content_type, "url": url}


def transcript_lines(engagement: Engagement) -> list[TranscriptSegment]:
    """Speaker turns with their clock time, the speaker named once per run of turns
    and a colour per speaker (at most six, then they repeat)."""
    segments = list(TranscriptSegment.objects.filter(engagement=engagement).order_by("position"))
    colours: dict[str, int] = {}
    previous = None
    for s in segments:
        s.clock = clock(s.start_seconds)
        s.colour = colours.setdefault(s.speaker, len(colours) % 6)
        s.same_speaker = s.speaker == previous
        previous = s.speaker
    return segments


def key_moments(engagement: Engagement) -> list[Moment]:
    """Moments in time order, each sentence once per tracker."""
    return one_per_sentence(engagement.moments.select_related("tracker").order_by("at_seconds", "id"))


def one_per_sentence(moments) -> list[Moment]:
    """Moments (in time order) with their clock, each sentence once per tracker: two
    phrases of one tracker in one sentence ("budget" … "set aside") are two hits but one
    thing said."""
    shown, last_at = [], {}
    for m in moments:
        key = (m.tracker_id, m.text)
        if key in last_at and m.at_seconds - last_at[key] <= SAME_SENTENCE_SECONDS:
            continue
        last_at[key] = m.at_seconds
        m.clock = clock(m.at_seconds)
        shown.append(m)
    return shown


def brief_context(engagement: Engagement, processing: EngagementProcessing | None,
                  segments: list[TranscriptSegment]) -> dict:
    """The post-meeting brief, or why there is none."""
    lines = []
    for line in engagement.summary.splitlines():
        named = ZOOM_SPEAKER.match(line)  # "Speaker: sentence", as the brief writers store it
        speaker, text = (named.group(1).strip(), line[named.end():]) if named else ("", line)
        if text.strip():
            lines.append({"speaker": speaker, "text": text.strip()})
    brief = {"summary": lines, "action_items": engagement.action_item_items,
             "engine": brief_engine_label(processing.brief_engine) if processing else "", "why_none": ""}
    if lines or brief["action_items"]:
        return brief
    if processing is None:
        return brief
    duration = max(engagement.duration_seconds, int(segments[-1].end_seconds) if segments else 0)
    if processing.status == S.FAILED:
        brief["why_none"] = "No brief: processing failed before it was written."
    elif processing.status != S.READY:
        brief["why_none"] = "The brief is written when processing is done."
    elif not engagement.org.is_enterprise:
        brief["why_none"] = BRIEF_NOT_ENTERPRISE
    elif not brief_eligible(duration):
        brief["why_none"] = BRIEF_TOO_SHORT
    else:
        brief["why_none"] = "Nothing was said that makes a summary."
    return brief


def notification_context(engagement: Engagement, processing: EngagementProcessing | None) -> dict | None:
    """Whether a recording notification was heard at the start: the phrase and when, or
    in how many seconds it was not heard (today's Compliance window), or unknown."""
    verdict = engagement.recording_notification_detected
    if verdict is None and (processing is None or not processing.is_done):
        return None
    found = {"verdict": verdict, "phrase": processing.notification_phrase if processing else "",
             "clock": "", "at_seconds": None, "window": None}
    if verdict and processing and processing.notification_at_seconds is not None:
        found["at_seconds"] = processing.notification_at_seconds
        found["clock"] = clock(processing.notification_at_seconds)
    if verdict is False:
        found["window"] = compliance_settings(org=engagement.org).window_seconds
    return found


class RecordingDetailView(OrgMemberMixin, TemplateView):
    """The engagement page: processing status, the player, the transcript, Moments,
    next steps and the brief (every time seeks the player), attendees, the CRM."""

    template_name = "console/recording_detail.html"

    def get_context_data(self, pk, **kwargs):
        engagement = get_for_org_or_404(
            Engagement.objects.select_related("org", "owner", "processing", "account_match__account",
                                              "account_match__opportunity"),
            self.org, pk=pk,
        )
        processing = processing_of(engagement)
        segments = transcript_lines(engagement)
        moments = key_moments(engagement)
        next_steps = engagement.next_step_items
        for step in next_steps:
            step["clock"] = clock(step["at_seconds"])
        media = media_of(engagement)
        return super().get_context_data(
            engagement=engagement,
            processing=processing,
            status_badge=STATUS_BADGE.get(processing.status, "") if processing else "",
            retrying=bool(processing and processing.status == S.QUEUED and processing.last_error),
            can_retry=retry_offered(processing),
            transcript_source=transcript_source_label(processing.transcript_source) if processing else "",
            media=media,
            has_media=media is not None,
            participants=engagement.participants.all(),
            moments=moments,
            next_steps=next_steps,
            segments=segments,
            brief=brief_context(engagement, processing, segments),
            min_brief_minutes=MIN_BRIEF_SECONDS // 60,
            notification=notification_context(engagement, processing),
            push=engagement_push_status(engagement=engagement),
            **kwargs,
        )


class ProcessingRetryView(OrgAdminMixin, View):
    """The engagement page's Retry (admins): processing again from the start, fresh tries."""

    def post(self, request, pk):
        engagement = get_for_org_or_404(Engagement.objects.select_related("org", "processing"), self.org, pk=pk)
        processing = processing_of(engagement)
        if processing is None:
            messages.error(request, RETRY_NEVER)
        elif not retry_offered(processing):
            messages.info(request, RETRY_BUSY)
        else:
            processing_retry(engagement=engagement, actor=request.user)
            messages.success(request, RETRY_QUEUED)
        # No #processing: the card is the page's first, and the flash above it stays in view.
        return redirect("recording", pk=engagement.pk)


class DealListView(OrgMemberMixin, TemplateView):
    """Deals: the CRM's opportunities with the conversations matched to them,
    filterable by the Custom CRM Filters."""

    template_name = "console/deals.html"

    def get_context_data(self, **kwargs):
        matches = AccountMatch.objects.filter(opportunity=OuterRef("pk"))
        base = CrmOpportunity.objects.for_org(self.org)
        cls = crm_filterset_class(OpportunityFilter, org=self.org, paths=OPPORTUNITY_PATHS)
        filterset = cls(self.request.GET or None, queryset=base, org=self.org)
        deals = (
            (filterset.qs if filterset.is_bound else base)
            .select_related("account")
            .annotate(
                conversations=Coalesce(Subquery(matches.values("opportunity").annotate(n=Count("id")).values("n")), 0),
                last_activity=Subquery(matches.order_by("-engagement__started_at").values("engagement__started_at")[:1]),
            )
            .order_by("is_closed", "close_date", "name")
        )
        page = Paginator(deals, 50).get_page(self.request.GET.get("page"))
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), page=page,
                                        query=query_without_page(self.request), has_crm=base.exists(), **kwargs)


class AnalyticsView(OrgMemberMixin, TemplateView):
    """Conversations counted by opportunity stage and by tracker, under the same
    filters as Recordings."""

    template_name = "console/analytics.html"

    def get_context_data(self, **kwargs):
        base = Engagement.objects.for_org(self.org)
        filterset = recording_filterset(self.request, self.org, base)
        engagements = filterset.qs if filterset.is_bound else base
        by_stage = list(
            engagements.values(stage=F("account_match__opportunity__stage")).annotate(n=Count("id")).order_by("-n")
        )
        by_tracker = list(
            Moment.objects.for_org(self.org).filter(engagement__in=engagements.values("pk"))
            .values(name=F("tracker__name")).annotate(n=Count("engagement", distinct=True)).order_by("-n")[:30]
        )
        for rows in (by_stage, by_tracker):
            top = max((r["n"] for r in rows), default=1)
            for r in rows:
                r["pct"] = round(100 * r["n"] / top)
        return super().get_context_data(filter=filterset, crm_fields=crm_fields_of(filterset), by_stage=by_stage,
                                        by_tracker=by_tracker, total=engagements.count(), **kwargs)
