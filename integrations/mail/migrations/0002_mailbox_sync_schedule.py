"""Import emails every 10 minutes, like calendars (each round is incremental:
Gmail history id, Graph delta links)."""

from django.db import migrations

NAME = "mail: import due mailboxes"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.mail.tasks.mailboxes_sync_due_task", "schedule_type": "I",
                  "minutes": 10, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("mail", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
