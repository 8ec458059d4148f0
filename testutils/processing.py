"""Running the processing stage in tests: workers are not running, so a test that
imports engagements runs what a worker would (``process_queued``)."""

from __future__ import annotations


def process_queued(*, limit: int = 1000) -> dict[str, int]:
    """Claim and run every due engagement, as the workers' schedule does."""
    from integrations.processing.services import processing_run_due

    return processing_run_due(limit=limit, budget_seconds=None)
