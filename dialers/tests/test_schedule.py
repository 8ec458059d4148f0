"""The hourly import through the scheduler (integrations/scheduler.py): a connection
left "syncing" by a killed worker is imported again once its lease passes, not hours
later; a running one is not queued or started twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dialers import services, tasks
from dialers.import_run import _claim
from integrations.models import Connection, ConnectionStatus, JobLease
from integrations.scheduler import connection_unit, lease_acquire

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(monkeypatch):
    """dialer_import_run replaced by its claim: what a run would find."""
    seen = []
    monkeypatch.setattr(services, "dialer_import_run", lambda *, connection: seen.append(_claim(connection)) or {})
    return seen


def test_a_killed_workers_import_is_taken_over_once_its_lease_passes(org, runs, django_capture_on_commit_callbacks):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK)
    held = lease_acquire(services.DIALER_IMPORT_JOB, connection_unit(conn))
    Connection.objects.filter(pk=conn.pk).update(status=ConnectionStatus.SYNCING, updated_at=timezone.now())
    # It runs (or its worker was just killed): not queued, not started twice.
    assert services.dialer_imports_due() == 0
    assert tasks.dialer_import_task(conn.pk) == {"skipped": "running on another worker"}
    # The worker was killed: its lease passes without renewal; the status still says syncing.
    held.update(held_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks():
        assert services.dialer_imports_due() == 1
    assert tasks.dialer_import_task(conn.pk) == {} and runs == [True]  # released and claimed again
    lease = JobLease.objects.get(job=services.DIALER_IMPORT_JOB)
    assert lease.held_until is None and lease.last_finished_at


def test_import_now_runs_under_the_lease(org, other_org, runs):
    conn = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.QUEUED)
    assert tasks.dialer_import_task(conn.pk) == {} and runs == [True]
    assert JobLease.objects.get().key == f"connection:{conn.pk}"
    theirs = Connection.objects.create(org=other_org, provider="salesforce", status=ConnectionStatus.OK)
    assert tasks.dialer_import_task(theirs.pk) == {"skipped": "connection gone"}  # not a dialer
