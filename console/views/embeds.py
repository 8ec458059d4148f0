"""The embedded views (``console.embeds`` says what they show):

* ``/integrations/salesforce/canvas/`` — Salesforce POSTs a signed request (the
  signature authenticates the POST, so no CSRF token); framable by that org's
  Salesforce origins only;
* ``/integrations/outreach/tile/`` — Outreach frames it with the account in the query
  string; signed in by a cookie of its own set by ``/integrations/outreach/connect/``
  (first-party), as Clari's views are.

X-Frame-Options is lifted for these responses only; ``Content-Security-Policy:
frame-ancestors`` names who may frame them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from chorus.views import OrgMemberMixin
from console import embeds
from crm.providers.salesforce import canvas

log = logging.getLogger(__name__)

RECORD_WORDS = {"Account": "account", "Opportunity": "opportunity", "Lead": "lead"}


def _framed(response, header: str):
    response["Content-Security-Policy"] = header
    response["Referrer-Policy"] = "same-origin"
    return response


def _refused(request, *, status: int, title: str, message: str, frame: str, embed: str = "salesforce"):
    return _framed(render(request, "console/embed_refused.html",
                          {"title": title, "message": message, "embed": embed}, status=status), frame)


@csrf_exempt
@xframe_options_exempt
@sensitive_post_parameters("signed_request")
def salesforce_canvas(request):
    """The Chorus view on a Salesforce Lead, Account or Opportunity page. The signed
    request (it carries the user's Salesforce OAuth token) is never logged, and is
    masked in Django's error reports."""
    if request.method != "POST":
        response = _refused(request, status=405, title="Open this page from Salesforce",
                            message="Salesforce opens this page with a signed POST from the Chorus component on a "
                                    "Lead, Account or Opportunity page; it shows nothing on its own.",
                            frame=embeds.frame_ancestors_header([]))
        response["Allow"] = "POST"
        return response
    try:
        payload = canvas.verify_and_decode(request.POST.get("signed_request"), secret=settings.SALESFORCE_CANVAS_SECRET,
                                           max_age=settings.SALESFORCE_CANVAS_MAX_AGE_SECONDS)
        signed = canvas.parse(payload)
        connection, user = canvas.resolve(signed)
    except canvas.CanvasRefused as refused:
        # The reason only: never the signed request or the OAuth token in it.
        log.info("Salesforce canvas request refused: %s", refused.reason)
        frame = embeds.frame_ancestors_header(embeds.salesforce_frame_ancestors(refused.instance_url))
        return _refused(request, status=refused.status, title=refused.title, message=refused.message, frame=frame)

    org = connection.org
    frame = embeds.frame_ancestors_header(
        embeds.salesforce_frame_ancestors(connection.config.get("instance_url") or signed.instance_url))
    ctx = {"embed": "salesforce", "user": user, "org": org, "record_type": signed.record_type,
           "record_word": RECORD_WORDS.get(signed.record_type, "record")}
    if not signed.record_id:
        ctx["notice"] = ("Add the Chorus component to a Lead, Account or Opportunity page",
                         "The Chorus view shows the recordings of the record on the page it sits on; this page has no "
                         "record. In Lightning App Builder, add the Chorus component to a Lead, Account or "
                         "Opportunity record page.")
    elif signed.record_type not in canvas.SUPPORTED_TYPES:
        ctx["notice"] = ("Chorus is shown on Leads, Accounts and Opportunities",
                         f"The Chorus view is supported on Leads, Accounts and Opportunities only; it cannot be "
                         f"configured on {signed.record_type or 'this'} pages"
                         f"{' (such as Contacts)' if signed.record_type != 'Contact' else ''}. "
                         f"Open the contact's account or opportunity to see its recordings.")
    else:
        qs = embeds.engagements_of_salesforce_record(org, signed.record_type, signed.record_id)
        ctx["recordings"] = embeds.recordings(qs, org)
        ctx["record_name"] = embeds.salesforce_record_name(org, signed.record_type, signed.record_id)
    return _framed(render(request, "console/embed_recordings.html", ctx), frame)


@xframe_options_exempt
def outreach_tile(request):
    """The Chorus tile on Outreach's Account page. Outreach first asks ``?ping=true``
    (an empty 200), then frames the tile with ``acc.id``, ``acc.name``,
    ``acc.domain`` and always ``locale``, ``theme``, ``uid`` (extensibility-sdk
    docs/url-parsing.md, docs/context.md). Every page posts ``cxt:sdk:ready`` to the
    parent, or Outreach shows an error after 10 s."""
    frame = embeds.outreach_frame_ancestors()
    if request.method not in ("GET", "HEAD"):
        return _framed(HttpResponse(status=405, headers={"Allow": "GET, HEAD"}), frame)
    if request.GET.get("ping") == "true":
        return _framed(HttpResponse(b"", content_type="text/plain"), frame)
    user = embeds.outreach_user(request.COOKIES.get(embeds.OUTREACH_COOKIE))
    ctx = {"embed": "outreach", "theme": "dark" if request.GET.get("theme") == "dark" else "light"}
    if user is None:
        ctx["signed_out"] = True
        return _framed(render(request, "console/embed_recordings.html", ctx), frame)
    org = user.org
    ctx.update(user=user, org=org)
    if not embeds.outreach_enabled(org):
        ctx["notice"] = ("The Chorus tile is off",
                         "Your Chorus admin has not switched on Sync Outreach and Chorus (Settings > Integrations), "
                         "so the tile shows nothing.")
        return _framed(render(request, "console/embed_recordings.html", ctx), frame)
    domain, name = request.GET.get("acc.domain", ""), request.GET.get("acc.name", "")
    account = embeds.outreach_account(org, domain=domain, name=name)
    if account is None:
        named = " or ".join(f"“{v}”" for v in (domain.strip(), name.strip()) if v) or "this account"
        ctx["notice"] = ("No matching account",
                         f"No account in Chorus matches {named}. Chorus matches Outreach accounts to your CRM "
                         f"accounts by website domain, then by name.")
        return _framed(render(request, "console/embed_recordings.html", ctx), frame)
    ctx.update(record_name=account.name, record_type="Account", record_word="account",
               recordings=embeds.recordings(embeds.engagements_of_account(account), org))
    return _framed(render(request, "console/embed_recordings.html", ctx), frame)


class OutreachConnectView(OrgMemberMixin, View):
    """Opened first-party (a new tab from the tile): signs this browser in for the tile
    with a cookie of its own (SameSite=None, as the tile is inside Outreach's frame),
    scoped to ``/integrations/outreach/``."""

    def get(self, request):
        enabled = embeds.outreach_enabled(self.org)
        response = render(request, "console/outreach_connect.html", {"enabled": enabled})
        if enabled:
            response.set_cookie(embeds.OUTREACH_COOKIE, embeds.outreach_token(user=request.user),
                                max_age=embeds.OUTREACH_COOKIE_MAX_AGE, path=embeds.OUTREACH_COOKIE_PATH,
                                secure=True, httponly=True, samesite="None")
        return response
