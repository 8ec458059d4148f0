"""Every 15 minutes: meetings that ended become Unrecorded Meetings unless a
recording of them arrived (see ``integrations.conferencing.unrecorded``)."""

from django.db import migrations

NAME = "calendars: unrecorded meetings"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.conferencing.tasks.unrecorded_meetings_task", "schedule_type": "I",
                  "minutes": 15, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("conferencing", "0004_calendarevent_engagement_and_more"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
