"""The Redis broker for real (README "Running at scale"): a task queued with django-q2's
``async_task`` in this process is picked up from Redis by a separate ``manage.py
qcluster`` process, which writes to the test database. Runs when REDIS_URL is set
(``make test-postgres`` starts a Redis of its own); under pytest-xdist each worker has
its own Redis database and cluster name (chorus/settings.py), which the subprocess
inherits through PYTEST_XDIST_WORKER."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from chorus.models import Organization

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test-postgres starts a Redis)"),
]


def create_org(slug: str) -> str:
    """The task the qcluster subprocess runs: one row it can only have written itself."""
    Organization.objects.create(name=f"Queued {slug}", slug=slug, email_domains=[f"{slug}.example"])
    return slug


def _test_database_url() -> str:
    """DATABASE_URL for the database this test runs on (the test database, not the
    one DATABASE_URL names)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    assert connection.vendor == "postgresql", connection.vendor
    auth = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def qcluster(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chorus.settings", "DATABASE_URL": _test_database_url(),
           "REDIS_URL": settings.REDIS_URL, "Q_WORKERS": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "qcluster.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,  # noqa: S603
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_qcluster_process_runs_a_task_queued_on_redis(qcluster):
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.tasks import async_task

    proc, log = qcluster
    broker = get_broker()
    assert type(broker).__name__ == "Redis"
    assert broker.list_key == f"django_q:{settings.Q_CLUSTER['name']}:q"

    task_id = async_task(f"{__name__}.create_org", "queued-on-redis", broker=broker)

    deadline = time.monotonic() + 60
    while not Organization.objects.filter(slug="queued-on-redis").exists():
        assert proc.poll() is None, f"qcluster exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"the task did not run within 60 s:\n{log.read_text()}"
        time.sleep(0.2)

    # The cluster records the result after the task returns: wait for it too.
    while not Task.objects.filter(id=task_id).exists():
        assert time.monotonic() < deadline, f"no result saved within 60 s:\n{log.read_text()}"
        time.sleep(0.2)
    task = Task.objects.get(id=task_id)
    assert task.success, task.result
    assert task.result == "queued-on-redis"
    assert broker.queue_size() == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
