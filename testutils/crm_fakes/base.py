"""What the three CRM fakes share: a request handler for a pytest-httpserver
``HTTPServer`` that keeps what it is sent, and the ways real CRMs fail.

``faults`` (0..1) makes that share of calls fail, ``next_faults`` scripts the next
calls' faults in order ("" = none). The kinds, and whether the write was applied:

* ``429`` — a rate limit with ``Retry-After: 1``; nothing applied;
* ``503`` — service unavailable with ``Retry-After: 1``; nothing applied;
* ``commit503`` — the write is applied, then a 503 (a proxy or node that fails after
  the commit) with no ``Retry-After``;
* ``slow`` — applied, then an answer slower than the client's timeout;
* ``drop`` — applied, then the connection is closed without an answer (FIN);
* ``reset`` — applied, then the connection is reset (RST);
* ``500`` — an internal error, nothing applied, no ``Retry-After`` (scripted only).

The last four are the cases that duplicate records when a retry re-creates blindly:
"a write whose answer was lost may have been applied" (shared/notes/api-limits.md).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, defaultdict

from werkzeug import Request, Response

SLOW_SECONDS = 0.6  # longer than the timeout tests and the bench give the clients
FAULT_KINDS = ("429", "503", "commit503", "slow", "drop", "reset")
AFTER_COMMIT = {"commit503", "slow", "drop", "reset"}
RETRY_AFTER_SECONDS = 1


class FakeCrm:
    def __init__(self, *, faults: float = 0.0, seed: int = 7, limit: int = 1_000_000,
                 fault_kinds: tuple[str, ...] = FAULT_KINDS):
        self.faults = faults
        self.fault_kinds = fault_kinds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, object]] = []  # method, path, json body (or text)
        self.fault_counts: Counter = Counter()
        self.records: dict[str, list[dict]] = defaultdict(list)
        self.ids = itertools.count(1)
        self.limit = limit
        self.used = 0
        self.index: dict[tuple, dict] = {}  # (kind, field, value) → record, for upserts
        self.next_faults: list[str] = []  # faults for the next calls, in order ("" = none), before `faults`
        # (name, pattern, fault): the first call whose "METHOD path\nbody" matches gets
        # the fault (once each, in order) — to fail every write kind every way.
        self.fault_plan: list[tuple[str, re.Pattern, str]] = []
        self.fault_log: list[tuple[str, str]] = []  # (name, fault) of the plan's faults as they struck

    # -- faults ------------------------------------------------------------------------------

    def plan_faults(self, writes: dict[str, str], faults: tuple[str, ...] = tuple(sorted(AFTER_COMMIT))) -> None:
        """Each write kind (name → regex over "METHOD path\nbody") gets each of
        ``faults`` once, on its first matching calls."""
        for name, pattern in writes.items():
            self.fault_plan += [(name, re.compile(pattern, re.S), f) for f in faults]

    def _fault(self, text: str = "") -> str:
        planned = next((f for _, pattern, f in self.fault_plan if pattern.search(text)), "")
        if planned:  # one request may carry several write kinds (a $batch): the fault strikes them all
            struck = [(name, f) for name, pattern, f in self.fault_plan if f == planned and pattern.search(text)]
            self.fault_plan = [e for e in self.fault_plan if (e[0], e[2]) not in struck]
            self.fault_log += struck
            self.fault_counts[planned] += 1
            return planned
        if self.next_faults:
            kind = self.next_faults.pop(0)
        elif self.faults and self.rng.random() < self.faults:
            kind = self.rng.choice(self.fault_kinds)
        else:
            return ""
        if kind:
            self.fault_counts[kind] += 1
        return kind

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.used += 1
            body = request.get_data(as_text=True)
            try:
                parsed = json.loads(body) if body and request.mimetype == "application/json" else body
            except ValueError:
                parsed = body
            self.calls.append((request.method, request.path, parsed))
            fault = self._fault(f"{request.method} {request.path}\n{body}" if self.fault_plan else "")
            if fault == "429":
                return self.too_many()
            if fault == "503":
                return Response("Service Unavailable", status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            if fault == "500":
                return Response("Internal Server Error", status=500)
            response = self.dispatch(request, parsed)
        if fault == "commit503":
            return Response("Service Unavailable", status=503)  # the write above was applied
        if fault == "slow":
            time.sleep(SLOW_SECONDS)  # the write happened; the client gives up before hearing so
        if fault == "drop":
            hang_up(request)  # the write happened; the client hears nothing at all
        if fault == "reset":
            reset(request)  # the write happened; the connection is reset under the client
        return response

    def too_many(self) -> Response:
        return Response(json.dumps({"message": "slow down"}), status=429,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, content_type="application/json")

    def dispatch(self, request: Request, body) -> Response:
        raise NotImplementedError

    def json(self, data, status: int = 200, **headers) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json", headers=headers)

    def count(self, kind: str) -> int:
        return len(self.records[kind])

    def duplicates(self, kind: str, key: str) -> int:
        c = Counter(r.get(key) for r in self.records[kind])
        return sum(n - 1 for n in c.values() if n > 1)


def hang_up(request: Request) -> None:
    """Close the connection without an answer, as a crashed proxy or a restarted
    node does: the client sees the peer go away (``RemoteDisconnected``, a
    ``ConnectionError`` to requests, a ``ProtocolError`` to urllib3), never an HTTP
    status. werkzeug's dev server hands its socket over in the environ; writing the
    response afterwards fails with a broken pipe, which werkzeug ignores."""
    request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)


def reset(request: Request) -> None:
    """Reset the connection (RST, ``ECONNRESET`` at the client): SO_LINGER with a
    zero timeout makes the close abortive, as a load balancer killing the flow does."""
    sock = request.environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
