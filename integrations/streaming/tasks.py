"""django-q2 entry points of Zoom Streaming."""

from __future__ import annotations


def stream_finalize_task(session_id: int) -> str:
    from integrations.streaming.services import stream_finalize

    session = stream_finalize(session_id=session_id)
    return session.status if session else "skipped"


def stream_sessions_sweep_task() -> int:
    from integrations.streaming.services import stream_sessions_sweep

    return stream_sessions_sweep()
