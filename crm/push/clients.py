"""What every CRM's push sender shares: the HTTP session (``PushHttp``: the shared
:class:`~integrations.http.HttpSession`, whose ``last_response`` carries the
rate-limit headers that client libraries' exceptions drop) and the token refresh.

Why not reuse CRM Connect's session (``CrmHttpSession``): it sleeps through 429/503
inside the call (right for a sync job), while a push must hand a rate limit back to
the outbox (throttled results: the worker moves on and the deliveries wait exactly
as told), and must never re-send a write by itself (a lost answer is an unknown
outcome the sender looks up). Token refresh stays with CRM Connect:
:func:`refresh_access_token` asks the provider session for a fresh token.
"""

from __future__ import annotations

from integrations.http import HttpSession

PushHttp = HttpSession


def refresh_access_token(connection) -> str | None:
    """A fresh access token through CRM Connect's provider session (which persists
    it on the connection), or None when that is not possible."""
    try:
        from crm.services import crm_session_open

        session = crm_session_open(connection=connection)
        http = getattr(getattr(session, "sf", None), "session", None) or getattr(session, "http", None)
        refresh = getattr(http, "_refresh", None) or getattr(session, "_refresh", None)
        return refresh() if refresh else None
    except Exception:  # the sender reports "reconnect" to the admin instead
        return None
