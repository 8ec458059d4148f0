"""Every 15 minutes: streams whose last piece the ingest never reported, and
recordings whose worker died while joining them, are finished."""

from django.db import migrations

NAME = "zoom streaming: finish stale sessions"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.streaming.tasks.stream_sessions_sweep_task", "schedule_type": "I",
                  "minutes": 15, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("streaming", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
