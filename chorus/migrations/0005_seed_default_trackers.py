"""The Chorus default trackers for organisations made before new ones got them
(``chorus.trackers.trackers_seed_defaults``): each organisation gets the defaults it
has no tracker of that name for (ignoring case); existing trackers are left alone.
Reversing removes nothing: by then admins may have edited them or Moments point at them."""

from django.db import migrations

from chorus.trackers import DEFAULT_TRACKERS


def seed(apps, schema_editor):
    Organization = apps.get_model("chorus", "Organization")
    Tracker = apps.get_model("chorus", "Tracker")
    have: dict[int, set[str]] = {}
    for org_id, name in Tracker.objects.values_list("org_id", "name"):
        have.setdefault(org_id, set()).add(name.casefold())
    missing = [
        Tracker(org_id=org_id, name=name, keywords=list(phrases))
        for org_id in Organization.objects.values_list("id", flat=True)
        for name, phrases in DEFAULT_TRACKERS.items()
        if name.casefold() not in have.get(org_id, set())
    ]
    Tracker.objects.bulk_create(missing, batch_size=500, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("chorus", "0004_participant_email_domain")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
