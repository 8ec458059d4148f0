"""Once a day: read each enabled SAML configuration's Metadata Url again so a
certificate the identity provider rolled over is taken before the old one expires."""

from django.db import migrations

NAME = "sso: refresh SAML metadata"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "sso.tasks.saml_metadata_refresh_task", "schedule_type": "D", "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("sso", "0002_scim_settings"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
