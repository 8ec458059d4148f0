from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0002_outbox_schedule")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="waits",
            field=models.PositiveIntegerField(
                default=0, help_text="Attempts that only waited (a rate limit, a record it links to still on its "
                                     "way); they do not count towards giving up."),
        ),
        migrations.AddField(
            model_name="delivery",
            name="write_attempted_at",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="Set before the first write that carries this delivery is sent: from then on the other "
                          "system may have it (a lost answer is an unknown outcome), so every later attempt looks "
                          "it up before writing again."),
        ),
    ]
