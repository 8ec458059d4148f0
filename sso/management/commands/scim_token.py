"""``scim_token <slug>``: support issues SCIM API access to an organisation (seed:
"Contact the Chorus Support team ... They will provide an API token specific to your
organization"). Issuing access also activates provisioning for the org, as support
does in the Django admin, unless ``--no-activate`` is given. The raw token is printed
once, as the last line, and only its hash is stored."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from chorus.models import Organization
from sso.scim.provisioning import scim_provisioning_active, scim_provisioning_set
from sso.tokens import scim_token_create


class Command(BaseCommand):
    help = "Create a SCIM bearer token for an organisation and print it (last line)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="Issued by support", help="A label to recognise the token.")
        parser.add_argument("--no-activate", action="store_true",
                            help="Only create the token; leave the organisation's SCIM switches as they are.")

    def handle(self, *args, slug, name, no_activate, **options):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug '{slug}'.")
        with transaction.atomic():
            if not no_activate and not scim_provisioning_active(org=org):
                Organization.objects.filter(pk=org.pk).update(scim_provisioning_allowed=True)
                org.scim_provisioning_allowed = True
                scim_provisioning_set(org=org, actor=None, enabled=True)
                self.stdout.write(f"SCIM provisioning activated for {org.slug}.")
            _token, raw = scim_token_create(org=org, name=name)
        if not scim_provisioning_active(org=org):
            self.stderr.write(f"Note: SCIM provisioning is off for {org.slug}; requests get 403 until it is on.")
        self.stdout.write(f"SCIM base URL: {settings.CHORUS_BASE_URL}/api/scim/v2")
        self.stdout.write(raw)
