"""A failed recording download remembers when it may be tried again (a server's
Retry-After longer than a run waits); a refused one is labelled "Refused for good"."""

from django.db import migrations, models

STATUSES = [("pending", "Waiting for download"), ("stored", "Stored"), ("failed", "Download failed (will retry)"),
            ("rejected", "Refused for good"), ("none", "No recording")]


class Migration(migrations.Migration):
    dependencies = [("dialers", "0002_import_schedule")]
    operations = [
        migrations.AddField("dialercall", "media_retry_at", models.DateTimeField(
            null=True, blank=True,
            help_text="A failed download is not tried before this (the server's Retry-After); empty: the next run.")),
        migrations.AlterField("dialercall", "media_attempts", models.PositiveSmallIntegerField(
            default=0, help_text="Hourly runs that tried the download.")),
        migrations.AlterField("dialercall", "media_status", models.CharField(
            choices=STATUSES, default="pending", max_length=16)),
    ]
