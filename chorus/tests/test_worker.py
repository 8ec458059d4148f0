"""A django-q2 worker freezes what start-up built, so the garbage collector's full
collections during a task walk only what the task allocated (chorus/worker.py)."""

import gc

from django_q.signals import post_spawn


def test_a_spawned_worker_freezes_its_start_up_objects():
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        post_spawn.send(sender="django_q", proc_name="Process-1")  # what django-q2's worker sends once spawned
        assert gc.get_freeze_count() > 50_000  # Django, the apps, their modules: tens of thousands of objects
        assert len(gc.get_objects()) < gc.get_freeze_count()  # a full collection walks far fewer now
    finally:
        gc.unfreeze()
