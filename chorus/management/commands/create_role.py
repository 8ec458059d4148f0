from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chorus import services
from chorus.models import Organization, Role


class Command(BaseCommand):
    help = 'Create a custom role in an organisation: create_role <slug> "<name>" (idempotent).'

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--admin", action="store_true", help="Members may change settings.")

    def handle(self, slug, name, admin, **opts):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        role = Role.objects.for_org(org).filter(name__iexact=name.strip()).first()
        if role is None:
            try:
                role = services.role_create(org=org, name=name, is_admin=admin)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Role {role.name!r} ready in {org.slug}.")
