"""The one error every processing step and engine raises."""

from __future__ import annotations


class ProcessingError(Exception):
    """A step could not finish. ``permanent``: trying again cannot help (a file that
    is not audio, a refused model); otherwise the job is tried again later, not
    before ``retry_after`` seconds when the service named a wait (``Retry-After``).
    The message is shown to admins on the engagement page: it names the service
    and the problem, never a secret or what was said."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
