"""Zapier REST-hook deliveries: "New Post-Meeting Brief" and "New Action Items".

Two halves joined by the outbox (as slack/delivery.py):

* :func:`zapier_ready`, a ready listener (order 70, after ``crm.matching`` whose
  account it names), writes one outbox row per (active hook, engagement) keyed
  ``zapier:{hook_id}:{engagement_id}`` — for every engagement with a brief
  (Enterprise, ≥ 10 minutes), and for "New Action Items" only when the brief has
  action items. Two queries whatever the batch size: the hooks, the insert.
* :class:`ZapierSender` POSTs the item(s) to the Zap's target URL, built at send time
  from the engagement as it is then (the row only says which hook). A brief is one
  JSON object; action items are a JSON array, one object per item — Zapier runs the
  Zap once per object of an array it receives at a hook URL (the Node app's
  ``perform`` returns ``bundle.cleanedRequest`` as a list either way).

Answers (docs.zapier.com/platform/build/cli-hook-trigger, hook-trigger):

* 2xx → sent (Zapier's own request id, when it returns one, is kept as remote id);
* 410 Gone → the Zap no longer exists (Zapier answers 410 for a subscription URL
  without a subscription, zapier/visual-builder#619): the hook is ended and the
  delivery settled (sent, nothing to do), and the hook's other rows are settled the
  same way when they come up;
* 429 → throttled for exactly ``Retry-After`` (the whole batch raises
  :class:`RateLimited` when nothing was settled yet);
* 5xx, timeouts, connection errors → retried by the outbox with backoff;
* any other answer (4xx, a redirect) → failed for good with the reason.

"Never twice", as far as it can be. Zapier offers no way to ask whether a hook
delivery arrived, so a POST whose answer was lost (a timeout, a reset, a 502 from
Zapier's edge after the Zap ran) is an unknown outcome that can only be sent again:
REST hooks are at-least-once by nature. What Chorus guarantees: one row per (hook,
engagement) however often the engagement is announced (the idempotency key), never a
second POST after a 2xx, and the *same* ``id`` on every attempt, so a duplicate is
recognisable — Zapier's own deduplication is keyed on ``id``
(docs.zapier.com/platform/build/deduplication; documented for polling), and a Zap
that must never act twice can filter on it. ``write_attempted_at`` is still recorded
before each POST so support sees which deliveries may have arrived.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F

from api.zapier.models import ZapierHook
from api.zapier.selectors import action_item_items, action_items_indexed, brief_item, engagement_has_brief
from api.zapier.services import zapier_hook_unsubscribe
from chorus.models import Engagement
from integrations.http import UnsafeUrl, http_session, parse_retry_after, public_url_check
from integrations.models import Delivery
from integrations.outbox import deliveries_write_attempted
from integrations.registry import RateLimited, SendResult

log = logging.getLogger(__name__)

LISTENER = "zapier.hooks"
TARGET = "zapier"
TIMEOUT = (5, 20)  # connect, read (seconds): Zapier answers a hook at once, the Zap runs later

NO_BRIEF = "The meeting has no brief any more."
NO_ITEMS = "The meeting has no action items any more."
HOOK_ENDED = "The Zap was turned off before Chorus sent this (Zapier unsubscribed it)."
HOOK_GONE = "Zapier answered 410 Gone: the Zap no longer exists; Chorus stopped sending to it."
TOKEN_REVOKED = "The API token this Zap signed in with was revoked: sign in to Chorus again in Zapier."
USER_INACTIVE = "The Chorus user this Zap signed in as is deactivated."
NOT_ALLOWED = "Zapier is for Enterprise organisations with API access; this organisation has neither any more."
REFUSED = "Zapier refused the delivery ({status}): {body}"
TRANSIENT = "Zapier answered {status}; Chorus retries."
NO_ANSWER = "Zapier did not answer ({error}); Chorus sends again (the item keeps its id)."
RATE_LIMITED = "Zapier rate limit (429)"


# --- The ready listener --------------------------------------------------------------------------


def zapier_ready(*, org, engagements) -> None:
    """Queue a delivery to each active hook for the engagements with a brief.
    Outbox rows only; never calls Zapier."""
    if not (org.is_enterprise and org.api_access):
        return
    briefed = [e for e in engagements if engagement_has_brief(e)]
    if not briefed:
        return
    hooks = list(ZapierHook.objects.for_org(org).filter(
        deleted_at__isnull=True, token__revoked_at__isnull=True, user__is_active=True,
    ).order_by("id").values_list("id", "event"))
    if not hooks:
        return
    with_items = {e.id for e in briefed if action_items_indexed(e)}
    rows = [Delivery(org=org, target=TARGET, kind=event, engagement=e, payload={"hook_id": hook_id},
                     idempotency_key=f"zapier:{hook_id}:{e.id}")
            for hook_id, event in hooks for e in briefed
            if event == ZapierHook.Event.NEW_BRIEF or e.id in with_items]
    if rows:
        # A key queued already (the engagement announced again) stays the one row.
        with transaction.atomic(savepoint=False):
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)


# --- The sender ----------------------------------------------------------------------------------


def delivery_body(hook: ZapierHook, engagement: Engagement, account_name: str) -> dict | list | None:
    """What is POSTed, or None when there is nothing to send any more."""
    if not engagement_has_brief(engagement):
        return None
    if hook.event == ZapierHook.Event.NEW_ACTION_ITEMS:
        return action_item_items(engagement, account_name=account_name) or None
    return brief_item(engagement, account_name=account_name)


class ZapierSender:
    """POSTs queued items to Zaps' target URLs; see the module docstring."""

    target = TARGET
    batch_size = 50  # one POST each: keeps a batch well inside the outbox lease

    def session(self):
        return http_session(timeout=TIMEOUT)

    def send(self, deliveries: list[Delivery]) -> list[SendResult]:
        org = deliveries[0].org
        if not (org.is_enterprise and org.api_access):
            return [SendResult(d.id, ok=False, permanent=True, error=NOT_ALLOWED) for d in deliveries]
        hook_ids = {d.payload.get("hook_id") for d in deliveries}
        hooks = {h.id: h for h in ZapierHook.objects.for_org(org).filter(id__in=hook_ids)
                 .select_related("token", "user")}
        engagement_ids = {d.engagement_id for d in deliveries if d.engagement_id}
        engagements = {e.id: e for e in Engagement.objects.for_org(org).filter(id__in=engagement_ids)
                       .select_related("owner").annotate(account_name=F("account_match__account__name"))}

        results: dict[int, SendResult] = {}
        todo: list[tuple[Delivery, ZapierHook, object]] = []
        for d in deliveries:
            hook = hooks.get(d.payload.get("hook_id"))
            refusal = self._refusal(hook)
            if refusal is not None:
                results[d.id] = refusal(d.id)
                continue
            e = engagements.get(d.engagement_id)
            body = delivery_body(hook, e, e.account_name or "") if e is not None else None
            if body is None:
                error = NO_ITEMS if e is not None and hook.event == ZapierHook.Event.NEW_ACTION_ITEMS else NO_BRIEF
                results[d.id] = SendResult(d.id, ok=False, permanent=True, error=error)
                continue
            todo.append((d, hook, body))

        if todo:
            deliveries_write_attempted(deliveries=[d for d, _, _ in todo])
            session = self.session()
            gone: set[int] = set()
            for d, hook, body in todo:
                if hook.id in gone:
                    results[d.id] = SendResult(d.id, ok=True, remote_id="gone")
                    continue
                try:
                    results[d.id] = self._post(session, d, hook, body)
                except RateLimited as exc:
                    if not results:
                        raise
                    for rest, _, _ in todo:
                        if rest.id not in results:
                            results[rest.id] = SendResult(rest.id, ok=False, throttled=True, error=str(exc),
                                                          retry_after=exc.retry_after)
                    break
                if results[d.id].remote_id == "gone":
                    gone.add(hook.id)
        return [results[d.id] for d in deliveries]

    @staticmethod
    def _refusal(hook: ZapierHook | None):
        """Why nothing is sent for this hook (a result for a delivery id), or None."""
        if hook is None or hook.deleted_reason == ZapierHook.Ended.GONE:
            return lambda did: SendResult(did, ok=True, remote_id="gone")
        if not hook.is_active:
            return lambda did: SendResult(did, ok=False, permanent=True, error=HOOK_ENDED)
        if hook.token.revoked_at is not None:
            return lambda did: SendResult(did, ok=False, permanent=True, error=TOKEN_REVOKED)
        if not hook.user.is_active:
            return lambda did: SendResult(did, ok=False, permanent=True, error=USER_INACTIVE)
        return None

    def _post(self, session, d: Delivery, hook: ZapierHook, body) -> SendResult:
        try:
            # Checked again at send time: the name may resolve elsewhere by now.
            public_url_check(hook.target_url, allow_private=settings.ZAPIER_HOOKS_ALLOW_PRIVATE)
        except UnsafeUrl as exc:
            return SendResult(d.id, ok=False, permanent=True, error=f"{hook.target_url}: {exc}")
        try:
            response = session.post(hook.target_url, json=body, allow_redirects=False,
                                    headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            return SendResult(d.id, ok=False, error=NO_ANSWER.format(error=type(exc).__name__))
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(d.id, ok=True, remote_id=_request_id(response))
        if status == 410:
            zapier_hook_unsubscribe(hook=hook, reason=ZapierHook.Ended.GONE)
            log.info("zapier hook %s answered 410 Gone: ended", hook.id)
            return SendResult(d.id, ok=True, remote_id="gone")
        if status == 429:
            raise RateLimited(parse_retry_after(response.headers.get("Retry-After"), default=60.0), RATE_LIMITED)
        if status >= 500 or status == 408:
            retry_after = response.headers.get("Retry-After")
            return SendResult(d.id, ok=False, error=TRANSIENT.format(status=status),
                              retry_after=parse_retry_after(retry_after) if retry_after else None)
        return SendResult(d.id, ok=False, permanent=True,
                          error=REFUSED.format(status=status, body=(response.text or "").strip()[:300] or "no body"))


def _request_id(response) -> str:
    """Zapier answers a hook with its own ids (``request_id``/``id``) when it has them."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        return str(data.get("request_id") or data.get("id") or "")[:255]
    return ""
