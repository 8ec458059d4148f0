"""The outbox: enqueue deliveries, and let any number of workers send them.

A worker claims due rows, hands them to the target's sender in batches of the
sender's ``batch_size`` (one batch never mixes organisations or targets), then
records each result. Claims are safe with many workers on many hosts:

* on PostgreSQL the candidate rows are locked with ``SELECT … FOR UPDATE SKIP
  LOCKED`` so workers do not queue behind each other;
* on every database the claim itself is a conditional ``UPDATE`` (only rows still
  due are taken, stamped with this worker's token), so two workers can never take
  the same row, and results are written back only to rows still holding the token.

A claim is a lease: a worker that dies leaves rows whose ``claimed_until`` passes,
and they become due again. Attempts are counted at claim time and never handed
back, so a row that crashes its worker every time still gives up after
``OUTBOX_MAX_ATTEMPTS``. A rate limit is nobody's fault: a throttled delivery is due
again exactly when the other system said (no backoff on top, no longer pause than its
Retry-After), and such waits (``waits``) do not count towards giving up.

"A write may have reached the other system" is a persisted fact, not a guess from the
attempt count: a sender calls :func:`deliveries_write_attempted` before it sends a
write, and on every later attempt looks those deliveries up before writing again
(a 503 or a dropped connection after the other side committed is an unknown outcome).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from integrations.models import Delivery
from integrations.registry import SENDERS, RateLimited, SendResult

log = logging.getLogger(__name__)
S = Delivery.Status


def delivery_enqueue(*, org, target: str, kind: str, idempotency_key: str, engagement=None,
                     payload: dict | None = None) -> tuple[Delivery, bool]:
    """Queue one delivery. Enqueueing the same ``idempotency_key`` again returns the
    existing row: the other system gets one copy."""
    return Delivery.objects.get_or_create(
        org=org, idempotency_key=idempotency_key,
        defaults={"target": target, "kind": kind, "engagement": engagement, "payload": payload or {}},
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff after the ``attempts``-th failed attempt, capped."""
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS
    return float(min(settings.OUTBOX_BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempts - 1)))


def _due(now: datetime) -> Q:
    return Q(status__in=[S.QUEUED, S.RETRYING], next_attempt_at__lte=now) | Q(
        status=S.SENDING, claimed_until__lt=now
    )


def outbox_claim(*, limit: int, now: datetime | None = None, org_id: int | None = None,
                 target: str | None = None) -> tuple[str, list[Delivery]]:
    """Claim up to ``limit`` due rows (of one org and target when given)."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    scope = {k: v for k, v in (("org_id", org_id), ("target", target)) if v is not None}
    with transaction.atomic():
        candidates = Delivery.objects.filter(_due(now), **scope).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return token, []
        Delivery.objects.filter(_due(now), id__in=ids).update(
            status=S.SENDING, claim_token=token, attempts=F("attempts") + 1,
            claimed_until=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
        )
    rows = list(Delivery.objects.filter(claim_token=token, status=S.SENDING).select_related("org", "engagement"))
    return token, rows


def _chunks(rows: list, size: int):
    it = iter(rows)
    while chunk := list(islice(it, max(1, size))):
        yield chunk


MAX_UPDATE_GROUPS = 20


def deliveries_write_attempted(*, deliveries: list[Delivery], now: datetime | None = None) -> None:
    """Persist, before a write carrying ``deliveries`` is sent, that the other system
    may have them from now on (one UPDATE; rows already marked are left alone). Any
    later attempt sees ``write_attempted_at`` and looks them up before writing again."""
    todo = [d for d in deliveries if d.write_attempted_at is None]
    if not todo:
        return
    now = now or timezone.now()
    Delivery.objects.filter(id__in=[d.id for d in todo], write_attempted_at__isnull=True).update(
        write_attempted_at=now)
    for d in todo:
        d.write_attempted_at = now


def _hold_back(org_id: int, target: str, until: datetime) -> None:
    """Rows of the same org and target that fall due before ``until`` wait too."""
    Delivery.objects.filter(
        org_id=org_id, target=target, status__in=[S.QUEUED, S.RETRYING], next_attempt_at__lt=until
    ).update(next_attempt_at=until)


def _finish(token: str, rows: list[Delivery], results: dict[int, SendResult], now: datetime) -> dict[str, int]:
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    max_attempts = settings.OUTBOX_MAX_ATTEMPTS
    waited: set[int] = set()
    hold: datetime | None = None
    for d in rows:
        r = results.get(d.id) or SendResult(d.id, ok=False, error="The sender returned no result for this delivery.")
        d.claimed_until, d.claim_token = None, ""
        failures = d.attempts - d.waits  # rate-limit and dependency waits don't count towards giving up
        if r.ok:
            d.status, d.remote_id, d.sent_at, d.last_error = S.SENT, r.remote_id or d.remote_id, now, ""
        elif r.permanent:
            d.status, d.last_error = S.FAILED, r.error
        elif r.throttled or r.waiting:
            d.status, d.last_error, d.waits = S.RETRYING, r.error, d.waits + 1
            wait = r.retry_after if r.retry_after is not None else backoff_seconds(max(1, failures))
            d.next_attempt_at = now + timedelta(seconds=wait)
            waited.add(d.id)
            if r.throttled:
                hold = max(hold or d.next_attempt_at, d.next_attempt_at)
        elif failures >= max_attempts:
            d.status, d.last_error = S.FAILED, f"Gave up after {d.attempts} attempts: {r.error}"
        else:
            d.status, d.last_error = S.RETRYING, r.error
            d.next_attempt_at = now + timedelta(seconds=max(backoff_seconds(failures), r.retry_after or 0))
        counts["sent" if d.status == S.SENT else d.status] += 1
    ids = [d.id for d in rows]
    still_ours = set(Delivery.objects.filter(id__in=ids, claim_token=token).values_list("id", flat=True))
    sent = [d for d in rows if d.id in still_ours and d.status == S.SENT]
    others = [d for d in rows if d.id in still_ours and d.status != S.SENT]
    # The common case, a batch sent, costs two statements: the shared columns in
    # one UPDATE and the remote ids in one CASE update.
    if sent:
        Delivery.objects.filter(id__in=[d.id for d in sent], claim_token=token).update(
            status=S.SENT, sent_at=now, last_error="", claimed_until=None, claim_token=""
        )
        Delivery.objects.bulk_update(sent, ["remote_id"])
    # The rest share their outcome in large groups (one error for a whole chunk): an
    # UPDATE per group; a CASE update only when the outcomes are too varied.
    groups: dict[tuple, list[int]] = defaultdict(list)
    for d in others:
        groups[(d.status, d.last_error, d.next_attempt_at, d.id in waited)].append(d.id)
    if len(groups) > MAX_UPDATE_GROUPS:
        Delivery.objects.bulk_update(others, ["status", "last_error", "next_attempt_at", "claimed_until",
                                              "claim_token", "waits"])
    else:
        for (status, error, next_attempt_at, waits), ids in groups.items():
            extra = {"waits": F("waits") + 1} if waits else {}
            Delivery.objects.filter(id__in=ids, claim_token=token).update(
                status=status, last_error=error, next_attempt_at=next_attempt_at, claimed_until=None, claim_token="",
                **extra)
    if hold:
        _hold_back(rows[0].org_id, rows[0].target, hold)
    return counts


def _defer(token: str, rows: list[Delivery], exc: RateLimited, now: datetime) -> None:
    """A rate limit is nobody's fault: wait as told — the attempt is kept (never
    handed back), the wait is counted in ``waits`` so it does not bring giving up
    closer. Rows of the same org and target that fall due before then wait too."""
    until = now + timedelta(seconds=exc.retry_after)
    message = f"{exc} — retrying after {int(exc.retry_after)} s"
    Delivery.objects.filter(id__in=[d.id for d in rows], claim_token=token).update(
        status=S.RETRYING, waits=F("waits") + 1, next_attempt_at=until, last_error=message,
        claimed_until=None, claim_token="",
    )
    _hold_back(rows[0].org_id, rows[0].target, until)


def outbox_process(*, limit: int = 1000, now: datetime | None = None, org_id: int | None = None,
                   target: str | None = None) -> dict[str, int]:
    """Claim up to ``limit`` due deliveries, send them, record the results."""
    now = now or timezone.now()
    token, rows = outbox_claim(limit=limit, now=now, org_id=org_id, target=target)
    totals = {"claimed": len(rows), "sent": 0, "retrying": 0, "failed": 0, "deferred": 0}
    groups: dict[tuple[int, str], list[Delivery]] = defaultdict(list)
    for d in rows:
        groups[(d.org_id, d.target)].append(d)
    for (_org_id, target), group in groups.items():
        sender = SENDERS.get(target)
        if sender is None:
            results = {d.id: SendResult(d.id, ok=False, permanent=True,
                                        error=f"No sender is registered for “{target}”.") for d in group}
            for k, v in _finish(token, group, results, now).items():
                totals[k] += v
            continue
        for batch in _chunks(group, sender.batch_size):
            try:
                results = {r.delivery_id: r for r in sender.send(batch)}
            except RateLimited as exc:
                _defer(token, batch, exc, now)
                totals["deferred"] += len(batch)
                continue
            except Exception as exc:  # a bug or outage: retry the batch, keep the worker alive
                log.exception("outbox sender %s failed on a batch of %d", target, len(batch))
                error = f"{type(exc).__name__}: {exc}"[:2000]
                results = {d.id: SendResult(d.id, ok=False, error=error) for d in batch}
            for k, v in _finish(token, batch, results, now).items():
                totals[k] += v
    return totals


def outbox_drain(*, limit: int = 1000, max_rounds: int = 50, org_id: int | None = None,
                 target: str | None = None) -> dict[str, int]:
    """Process until nothing is due (bounded, so one task never runs forever); ``more``
    says the rounds ran out with work left."""
    totals: dict[str, int] = defaultdict(int)
    for _ in range(max_rounds):
        result = outbox_process(limit=limit, org_id=org_id, target=target)
        for k, v in result.items():
            totals[k] += v
        if result["claimed"] < limit:
            break
    else:
        totals["more"] = 1
    return dict(totals)


# --- The scheduled job: one unit per org and target with due deliveries --------------------------

OUTBOX_JOB = "outbox"
ROUNDS_PER_RUN = 5  # 5,000 deliveries, then the unit goes behind the others


def outbox_due_units(now: datetime):
    from integrations.scheduler import Unit

    pairs = (Delivery.objects.filter(_due(now)).values("org_id", "target").annotate(first=Min("next_attempt_at"))
             .order_by("first").values_list("org_id", "target"))  # the longest waiting first
    return [Unit(key=f"org:{org_id}:{target}", org_id=org_id, provider=target) for org_id, target in pairs]


def outbox_unit_run(unit) -> dict[str, int]:
    return outbox_drain(org_id=unit.org_id, target=unit.provider, max_rounds=ROUNDS_PER_RUN)


def delivery_retry_now(*, deliveries) -> int:
    """Support's "retry now": failed or waiting rows become due at once with a
    fresh set of attempts. ``write_attempted_at`` stays: a write that may have
    reached the other system still has to be looked up first."""
    return deliveries.exclude(status__in=[S.SENT, S.SENDING]).update(
        status=S.QUEUED, attempts=0, waits=0, next_attempt_at=timezone.now(), claimed_until=None, claim_token=""
    )
