"""What every CRM push sender shares: one batch of an org's deliveries is sent in
dependency order (accounts, contacts, then the task or event that names them, the
tracker fields, the custom objects, the transcript), each kind in the largest
requests the CRM allows.

Exactly once:

* a delivery claimed for the first time (``attempts == 1``) cannot have reached the
  CRM before, so it is created straight away;
* a delivery claimed again (a timeout, a dropped connection, a worker killed after
  the CRM answered) is first looked up by its Chorus key, and only created when the
  CRM does not have it — or upserted on an external id where the object has one;
* a rate limit before anything of the batch was written hands the whole batch back
  to the outbox (``RateLimited``: no attempt is spent); after a write, only the
  rest of the batch waits, with the server's Retry-After.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any

from django.utils import timezone

from crm.push.models import CrmPushState
from crm.push.services import KINDS, crm_connection_for_push
from integrations.models import Delivery
from integrations.registry import RateLimited, SendResult

log = logging.getLogger(__name__)

DEPENDENCY_WAIT_SECONDS = 30.0
NO_CONNECTION = "No CRM is connected: connect one under CRM Connect and Chorus pushes again."


class Throttled(Exception):
    """The CRM asked us to wait (429/503, Salesforce REQUEST_LIMIT_EXCEEDED) or we
    stop ourselves before the allowance runs out."""

    def __init__(self, message: str, retry_after: float, *, daily: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.daily = daily


class Transient(Exception):
    """A timeout, dropped connection or server error: the outcome is unknown, so the
    deliveries are retried and looked up first."""


def chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass
class Batch:
    """The state of one ``send``: results so far, remote ids by Chorus key, and
    whether anything was written (after which a rate limit can't return the
    whole batch)."""

    deliveries: list[Delivery]
    results: dict[int, SendResult] = field(default_factory=dict)
    remote: dict[str, str] = field(default_factory=dict)  # idempotency key → remote id (sent)
    pending: set[str] = field(default_factory=set)  # keys not settled yet: dependants wait
    wrote: bool = False
    stopped: Throttled | None = None
    usage: tuple[int, int] | None = None
    http_calls: int = 0
    keys: set[str] = field(init=False)  # the Chorus keys of this batch's deliveries

    def __post_init__(self) -> None:
        self.keys = {d.idempotency_key for d in self.deliveries}

    def ok(self, d: Delivery, remote_id: str) -> None:
        self.results[d.id] = SendResult(d.id, ok=True, remote_id=str(remote_id))
        self.remote[d.idempotency_key] = str(remote_id)
        self.pending.discard(d.idempotency_key)

    def fail(self, d: Delivery, error: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        self.results[d.id] = SendResult(d.id, ok=False, error=error[:2000], permanent=permanent,
                                        retry_after=retry_after)
        if permanent:
            self.pending.discard(d.idempotency_key)

    def open(self, items: list[Delivery]) -> list[Delivery]:
        return [d for d in items if d.id not in self.results]

    def ref(self, key: str) -> str:
        return self.remote.get(key, "") if key else ""


class CrmPushSender:
    """Base of the three senders; a subclass implements ``open_api`` and one
    ``send_<kind>(api, deliveries, batch)`` per kind it supports."""

    target = ""
    label = ""
    # Deliveries per send; each kind is split to the API's own maximum. Large, so one
    # claim of an org's rows fills whole API calls (see the outbox `limit`).
    batch_size = 5000

    def open_api(self, connection):
        raise NotImplementedError

    # -- the batch ----------------------------------------------------------------------------

    def send(self, deliveries: list[Delivery]) -> list[SendResult]:
        org = deliveries[0].org
        connection = crm_connection_for_push(org=org)
        if connection is None or connection.provider != self.target:
            return [SendResult(d.id, ok=False, permanent=True, error=NO_CONNECTION) for d in deliveries]
        batch = Batch(deliveries)
        self._load_references(batch)
        api = self.open_api(connection)
        by_kind: dict[str, list[Delivery]] = defaultdict(list)
        for d in deliveries:
            by_kind[d.kind].append(d)
        try:
            for kind in KINDS:
                items = by_kind.pop(kind, [])
                if items:
                    self._send_kind(api, kind, items, batch)
            for kind, items in by_kind.items():
                for d in items:
                    batch.fail(d, f"{self.label} does not take “{kind}” objects from Chorus.", permanent=True)
        finally:
            self._record_state(org, batch)
        return [batch.results.get(d.id) or SendResult(d.id, ok=False, error="Not sent.") for d in deliveries]

    def _send_kind(self, api, kind: str, items: list[Delivery], batch: Batch) -> None:
        if batch.stopped:
            for d in items:
                batch.fail(d, str(batch.stopped), retry_after=batch.stopped.retry_after)
            return
        ready = []
        for d in items:
            deps = [k for k in self.dependencies(d) if k in batch.pending]
            if deps:
                batch.fail(d, "Waiting for the contact or account it is linked to.",
                           retry_after=DEPENDENCY_WAIT_SECONDS)
            else:
                ready.append(d)
        if not ready:
            return
        handler = getattr(self, f"send_{kind}", None)
        if handler is None:
            for d in ready:
                batch.fail(d, f"{self.label} does not take “{kind}” objects from Chorus.", permanent=True)
            return
        try:
            handler(api, ready, batch)
        except Throttled as exc:
            batch.stopped = exc
            if not batch.wrote:
                raise RateLimited(exc.retry_after, str(exc)) from exc
            for d in batch.open(ready):
                batch.fail(d, str(exc), retry_after=exc.retry_after)
        except Transient as exc:
            for d in batch.open(ready):
                batch.fail(d, str(exc))

    @staticmethod
    def each_chunk(batch: Batch, items: list[Delivery], size: int, send_chunk) -> None:
        """``send_chunk`` for ``size`` deliveries at a time. A call whose outcome is
        unknown (Transient) sends only its own chunk round again and the next chunk
        goes on, so one timeout in a large batch does not hold back the rest; a rate
        limit (Throttled) still stops the batch."""
        for chunk in chunks(items, size):
            try:
                send_chunk(chunk)
            except Transient as exc:
                for d in batch.open(chunk):
                    batch.fail(d, str(exc))

    @staticmethod
    def answers_by_record(items: list[Delivery], batch: Batch, object_of=lambda obj: obj
                          ) -> dict[tuple[str, str], list[Delivery]]:
        """Required-field answers grouped by the CRM record they go to ((object, id) →
        deliveries), so one update writes every answer of a record; an answer whose
        record (the pushed task) was never made fails for good."""
        by_record: dict[tuple[str, str], list[Delivery]] = {}
        for d in items:
            rid = d.payload.get("record_id") or batch.ref(d.payload.get("activity_key", ""))
            if not rid:
                batch.fail(d, "The CRM record to write this answer to was not created.", permanent=True)
                continue
            by_record.setdefault((object_of(d.payload["object"]), rid), []).append(d)
        return by_record

    @staticmethod
    def dependencies(d: Delivery) -> list[str]:
        p = d.payload
        keys = list(p.get("contact_keys") or [])
        if p.get("account_key") and d.kind != "account":
            keys.append(p["account_key"])
        if p.get("activity_key"):
            keys.append(p["activity_key"])
        return keys

    def _load_references(self, batch: Batch) -> None:
        """Remote ids of the contacts/accounts/activities these deliveries link to, in
        one query; those still on their way make their dependants wait."""
        in_batch = batch.keys
        batch.pending |= in_batch
        wanted = {k for d in batch.deliveries for k in self.dependencies(d)} - in_batch
        if not wanted:
            return
        org_id = batch.deliveries[0].org_id
        for key, status, remote_id in Delivery.objects.filter(org_id=org_id, idempotency_key__in=wanted) \
                .values_list("idempotency_key", "status", "remote_id"):
            if status == Delivery.Status.SENT:
                batch.remote[key] = remote_id
            elif status != Delivery.Status.FAILED:
                batch.pending.add(key)

    # -- API allowance --------------------------------------------------------------------------

    def note_usage(self, batch: Batch, used: int, limit: int) -> None:
        """Remember the allowance; stop before it is spent (the last 5 % stay for the
        customer's own integrations)."""
        batch.usage = (used, limit)
        if limit and used >= limit * 0.95 and not batch.stopped:
            batch.stopped = Throttled(
                f"{self.label}'s daily API allowance is almost used ({used:,} of {limit:,}). Chorus pauses "
                "pushing and resumes as the allowance frees up.", 3600.0, daily=True)

    def _record_state(self, org, batch: Batch) -> None:
        stopped = batch.stopped
        if batch.usage is None and stopped is None:
            return
        defaults: dict[str, Any] = {"updated_at": timezone.now()}
        if batch.usage:
            defaults["api_used"], defaults["api_limit"] = batch.usage
        if stopped and stopped.daily:
            defaults["paused_until"] = timezone.now() + timedelta(seconds=stopped.retry_after)
            defaults["message"] = str(stopped)
        else:
            defaults["paused_until"], defaults["message"] = None, ""
        CrmPushState.objects.update_or_create(org=org, provider=self.target, defaults=defaults)
