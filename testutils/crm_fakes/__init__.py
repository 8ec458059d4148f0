"""Local stand-ins for Salesforce, HubSpot and Dataverse that keep what they are
sent, for wire-level tests and ``bench/crm_push.py``: one module per vendor, each a
request handler for a pytest-httpserver ``HTTPServer`` (HTTPS with a trustme CA in
tests and bench), so the real client libraries talk to them over the wire.

Each follows the vendor's documented behaviour, not ours: it refuses what the real
API refuses (unknown objects, fields, properties, columns and navigation
properties — the page each rule comes from is cited beside it) and can apply a write
and then lose or fail its answer (``base.py``: ``faults``, ``next_faults``).
"""

from testutils.crm_fakes.base import AFTER_COMMIT, FAULT_KINDS, SLOW_SECONDS, FakeCrm, hang_up, reset
from testutils.crm_fakes.dataverse import FakeDataverse
from testutils.crm_fakes.hubspot import FakeHubSpot
from testutils.crm_fakes.runs import (
    TRACKER_NAMES,
    Killed,
    budget_meeting,
    drain,
    drain_through_kills,
    kill_twice,
    matrix,
    record_waits,
    seed_engagements,
    serve,
)
from testutils.crm_fakes.salesforce import FakeSalesforce

__all__ = [
    "AFTER_COMMIT", "FAULT_KINDS", "SLOW_SECONDS", "TRACKER_NAMES", "FakeCrm", "FakeDataverse", "FakeHubSpot",
    "FakeSalesforce", "Killed", "budget_meeting", "drain", "drain_through_kills", "hang_up", "kill_twice", "matrix",
    "record_waits", "reset", "seed_engagements", "serve",
]
