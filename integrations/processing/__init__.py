"""Conversation processing (issue 13): transcript → trackers (Moments), next steps,
recording-notification verdict and the post-meeting brief, between "imported" and
"ready".

``transcript``, ``analysis`` and ``briefs``' extractive writer are pure functions over
:class:`~integrations.processing.transcript.Segment` lists (no models, no I/O);
``speech`` and ``briefs`` hold the engines (offline defaults, OpenAI-compatible HTTP
services when configured); ``services`` is the stage that runs them per engagement
and stores the results (``models``), resumable and idempotent.
"""
