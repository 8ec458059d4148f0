"""Every 5 minutes: Zoom events whose retry time has come (Zoom was unreachable or
busy), and events whose worker died mid-way, are queued again."""

from django.db import migrations

NAME = "zoom: retry due events"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.conferencing.tasks.zoom_events_retry_due_task", "schedule_type": "I",
                  "minutes": 5, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("conferencing", "0006_zoom_event_retries"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
