"""Sync calendars every 10 minutes (each sync is incremental: sync token,
delta link, or the ICS feed compared with what is stored)."""

from django.db import migrations

NAME = "calendars: sync due calendars"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.conferencing.tasks.calendars_sync_due_task", "schedule_type": "I",
                  "minutes": 10, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("conferencing", "0002_calendar_calendarevent_and_more"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
