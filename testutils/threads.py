"""Run a test's "workers" as threads, each closing its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import close_old_connections


def run_in_threads(target: Callable[[], None], count: int, *, timeout: float = 60) -> list[BaseException]:
    """Run ``target`` in ``count`` threads at once and wait for them; the exceptions
    they raised (a test asserts there are none, or which)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 (reported to the test)
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors
