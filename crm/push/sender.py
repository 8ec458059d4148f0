"""What every CRM push sender shares: one batch of an org's deliveries is sent in
dependency order (accounts, contacts, then the task or event that names them, the
tracker fields, the custom objects, the transcript), each kind in the largest
requests the CRM allows.

Exactly once, whatever happened to an earlier attempt:

* a write whose answer was lost (a 5xx after the CRM committed, a reset
  connection, a timeout, a worker killed after the CRM answered) has an *unknown*
  outcome, never "nothing written". Before a create is sent, its deliveries are
  marked (``Delivery.write_attempted_at``, persisted); a delivery marked by an
  earlier attempt is looked up by the key its record carries before anything is
  created again. Upserts on an external id and updates are their own look-up;
* the outbox never hands an attempt back, and a rate limit only makes the
  deliveries wait (exactly the server's Retry-After) without counting towards
  giving up.

Each kind is on its own: a kind the CRM refuses for good (a missing object, field
or permission) is settled once with a sentence that says what to fix, a kind that
fails for a while is retried, and neither touches another kind's deliveries or
the results the batch already has. A rate limit stops the rest of the batch; what
was settled before it stays settled.
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
from integrations.outbox import deliveries_write_attempted
from integrations.registry import SendResult

log = logging.getLogger(__name__)

DEPENDENCY_WAIT_SECONDS = 30.0
NO_CONNECTION = "No CRM is connected: connect one under CRM Connect and Chorus pushes again."


class Throttled(Exception):
    """The CRM asked us to wait (a rate limit, read as its documentation says) or we
    stop ourselves before the daily allowance runs out. ``str(exc)`` says which
    limit, for the page; ``retry_after`` is the server's own wait."""

    def __init__(self, message: str, retry_after: float, *, daily: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.daily = daily


class Transient(Exception):
    """A timeout, dropped connection or server error: the outcome is unknown, so the
    deliveries are retried, and looked up first where a create may have landed."""


class Refused(Exception):
    """The CRM refused what the call carried, for good: a missing object, field or
    permission, an invalid request. The deliveries are settled once with
    ``str(exc)``, which says what an admin does about it."""


def chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass
class Batch:
    """The state of one ``send``: results so far, remote ids by Chorus key, which
    deliveries an earlier attempt may have written, and whether a rate limit
    stopped the batch."""

    deliveries: list[Delivery]
    results: dict[int, SendResult] = field(default_factory=dict)
    remote: dict[str, str] = field(default_factory=dict)  # idempotency key → remote id (sent)
    pending: set[str] = field(default_factory=set)  # keys not settled yet: dependants wait
    stopped: Throttled | None = None
    usage: tuple[int, int] | None = None
    http_calls: int = 0
    context: dict[str, Any] = field(default_factory=dict)  # what one CRM's sender keeps for the send
    keys: set[str] = field(init=False)  # the Chorus keys of this batch's deliveries
    maybe_written: set[int] = field(init=False)  # ids an earlier attempt may have written

    def __post_init__(self) -> None:
        self.keys = {d.idempotency_key for d in self.deliveries}
        self.maybe_written = {d.id for d in self.deliveries if d.write_attempted_at is not None}

    def retried(self, items: list[Delivery]) -> list[Delivery]:
        """Those of ``items`` an earlier attempt may have written: look them up first."""
        return [d for d in items if d.id in self.maybe_written]

    def before_write(self, items: list[Delivery]) -> None:
        """Persist that a write carrying ``items`` is about to be sent."""
        deliveries_write_attempted(deliveries=items)

    def ok(self, d: Delivery, remote_id: str) -> None:
        self.results[d.id] = SendResult(d.id, ok=True, remote_id=str(remote_id))
        self.remote[d.idempotency_key] = str(remote_id)
        self.pending.discard(d.idempotency_key)

    def fail(self, d: Delivery, error: str, *, permanent: bool = False, retry_after: float | None = None,
             waiting: bool = False) -> None:
        self.results[d.id] = SendResult(d.id, ok=False, error=error[:2000], permanent=permanent,
                                        retry_after=retry_after, waiting=waiting)
        if permanent:
            self.pending.discard(d.idempotency_key)

    def wait(self, d: Delivery, exc: Throttled) -> None:
        """A rate limit: due again after exactly the server's wait, not counted."""
        self.results[d.id] = SendResult(d.id, ok=False, error=str(exc)[:2000], retry_after=exc.retry_after,
                                        throttled=True)

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
            self.prepare(api, batch)
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

    def prepare(self, api, batch: Batch) -> None:
        """Before the first kind: what a CRM needs set up first (HubSpot's properties)."""

    def _send_kind(self, api, kind: str, items: list[Delivery], batch: Batch) -> None:
        if batch.stopped:
            for d in items:
                batch.wait(d, batch.stopped)
            return
        ready = []
        for d in items:
            deps = [k for k in self.dependencies(d) if k in batch.pending]
            if deps:
                batch.fail(d, "Waiting for the contact or account it is linked to.",
                           retry_after=DEPENDENCY_WAIT_SECONDS, waiting=True)
            else:
                ready.append(d)
        if not ready:
            return
        handler = getattr(self, f"send_{kind}", None)
        if handler is None:
            for d in ready:
                batch.fail(d, f"{self.label} does not take “{kind}” objects from Chorus.", permanent=True)
            return
        self.settle(batch, ready, lambda: handler(api, ready, batch), what=kind)

    def settle(self, batch: Batch, items: list[Delivery], send, *, what: str) -> None:
        """Run ``send`` for ``items`` and settle whatever it left open by what went
        wrong: a rate limit stops the batch (they wait as told), an unknown outcome
        is retried, a refusal is final. Nothing outside ``items`` is touched."""
        try:
            send()
        except Throttled as exc:
            batch.stopped = exc
            for d in batch.open(items):
                batch.wait(d, exc)
        except Transient as exc:
            for d in batch.open(items):
                batch.fail(d, str(exc))
        except Refused as exc:
            for d in batch.open(items):
                batch.fail(d, str(exc), permanent=True)
        except Exception as exc:  # a bug or an answer nobody expected: this kind only
            log.exception("%s push of %s failed", self.label, what)
            for d in batch.open(items):
                batch.fail(d, f"Unexpected error while sending to {self.label} ({type(exc).__name__}); "
                              "Chorus retries.")

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
        """What the CRM Objects Creation section shows: the allowance seen, and which
        limit stopped pushes until when (cleared by the next batch that isn't stopped)."""
        stopped = batch.stopped
        if batch.usage is None and stopped is None:
            CrmPushState.objects.for_org(org).filter(provider=self.target).exclude(message="").update(
                message="", paused_until=None, updated_at=timezone.now())
            return
        defaults: dict[str, Any] = {"updated_at": timezone.now()}
        if batch.usage:
            defaults["api_used"], defaults["api_limit"] = batch.usage
        if stopped:
            defaults["paused_until"] = timezone.now() + timedelta(seconds=stopped.retry_after)
            defaults["message"] = str(stopped)[:500]
        else:
            defaults["paused_until"], defaults["message"] = None, ""
        CrmPushState.objects.update_or_create(org=org, provider=self.target, defaults=defaults)
