"""Zapier's subscribe and unsubscribe (REST hooks) and what a 410 from Zapier does."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.zapier.models import ZapierHook
from integrations.http import UnsafeUrl, public_url_check

UNKNOWN_EVENT = "Unknown event: use one of {events}."


def zapier_hook_subscribe(*, token, event: str, target_url: str) -> ZapierHook:
    """Subscribe ``target_url`` (Zapier's unique URL for one Zap) to ``event`` for the
    token's user. The URL must be https and public (it is fetched by Chorus: SSRF),
    checked again before every delivery. Subscribing the same Zap again returns the
    same hook."""
    if event not in ZapierHook.Event.values:
        raise ValidationError({"event": UNKNOWN_EVENT.format(events=", ".join(ZapierHook.Event.values))})
    target_url = (target_url or "").strip()
    try:
        public_url_check(target_url, allow_private=settings.ZAPIER_HOOKS_ALLOW_PRIVATE)
    except UnsafeUrl as exc:
        raise ValidationError({"target_url": str(exc)}) from exc
    if len(target_url) > ZapierHook._meta.get_field("target_url").max_length:
        raise ValidationError({"target_url": "This address is too long."})
    existing = ZapierHook.objects.for_org(token.org).filter(event=event, target_url=target_url,
                                                             deleted_at__isnull=True)
    hook = existing.first()
    if hook is not None:
        return hook
    try:
        with transaction.atomic():
            return ZapierHook.objects.create(org=token.org, user=token.user, token=token, event=event,
                                             target_url=target_url)
    except IntegrityError:  # the same subscribe, concurrently
        return existing.get()


def zapier_hook_unsubscribe(*, hook: ZapierHook, reason: str = ZapierHook.Ended.UNSUBSCRIBED) -> None:
    """End a subscription (kept for the record; it delivers nothing more)."""
    ZapierHook.objects.filter(pk=hook.pk, deleted_at__isnull=True).update(deleted_at=timezone.now(),
                                                                          deleted_reason=reason)
    hook.deleted_at = hook.deleted_at or timezone.now()
    hook.deleted_reason = hook.deleted_reason or reason
