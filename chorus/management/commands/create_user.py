from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chorus import services
from chorus.models import LicenseType, Organization, Role


class Command(BaseCommand):
    help = "Create or update a user in an organisation (idempotent; sets the password when given)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", default=None, help='Role name, e.g. "Admin" or "Rep (SDR)".')
        parser.add_argument("--license", choices=LicenseType.values, default=None)
        parser.add_argument("--password", default=None)
        parser.add_argument("--first-name", default=None)
        parser.add_argument("--last-name", default=None)

    def handle(self, slug, email, role, license, password, first_name, last_name, **opts):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        role_obj = None
        if role:
            role_obj = Role.objects.for_org(org).filter(name__iexact=role.strip()).first()
            if role_obj is None:
                names = ", ".join(Role.objects.for_org(org).values_list("name", flat=True))
                raise CommandError(f"No role {role!r} in {slug}. Roles: {names}.")
        try:
            user, created = services.user_create_or_update(
                org=org, email=email, role=role_obj, license_type=license, password=password,
                first_name=first_name, last_name=last_name,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {user.email} in {org.slug} ({user.role}, {user.license_type}).")
