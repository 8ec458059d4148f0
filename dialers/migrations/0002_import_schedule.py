"""Import every connected dialer's new calls every hour (seed: "It will then upload
and analyze calls on an hourly basis"), on whichever qcluster worker picks it up."""

from django.db import migrations

NAME = "dialers: hourly import"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "dialers.tasks.dialer_imports_due_task", "schedule_type": "H", "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("dialers", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
