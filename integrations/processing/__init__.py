"""Conversation processing (issue 13): transcript → trackers (Moments), next steps,
recording-notification verdict and the post-meeting brief.

The modules here are pure functions over :class:`~integrations.processing.transcript.Segment`
lists: no models, no I/O, no engines that need a network, so the processing stage
that stores their results can be retried and tested without any of those.
"""
