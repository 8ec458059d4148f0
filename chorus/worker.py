"""Start-up of a django-q2 worker process.

A worker is forked with everything Django and the apps built at start-up (models,
URL patterns, templates, settings: some 170,000 objects the garbage collector tracks).
Every full collection walks all of them again although none ever becomes garbage;
in a task that allocates (an import page of 1,000 calls makes tens of thousands of
objects) that is four full collections of ~85 ms each, every one holding the GIL
that the task's download threads want. ``gc.freeze()`` moves them to the permanent
generation once, at worker start (CPython's advice for forked servers); what a
task allocates is collected as before.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def worker_started(**_signal) -> None:
    """django-q2's ``post_spawn`` receiver (connected in ``ChorusConfig.ready``)."""
    gc.collect()  # what start-up left as garbage goes first; the rest is kept for good
    gc.freeze()
    log.debug("Worker started: %s objects frozen for the garbage collector", gc.get_freeze_count())
