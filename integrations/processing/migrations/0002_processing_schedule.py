"""Every minute: engagements whose processing is due (queued, a retry whose time has
come, or a worker that died mid-way and whose lease expired) are claimed and run."""

from django.db import migrations

NAME = "processing: run due engagements"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.processing.tasks.processing_run_due_task", "schedule_type": "I",
                  "minutes": 1, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("processing", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
