from django.core.management.base import BaseCommand

from chorus import services
from chorus.models import Organization


class Command(BaseCommand):
    help = "Create an organisation with the built-in roles (idempotent on slug)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--domain", action="append", default=[], help="Internal email domain (repeatable).")
        parser.add_argument("--package", choices=Organization.Package.values, default=None)
        parser.add_argument("--api-access", action="store_true", default=None)

    def handle(self, slug, name, domain, package, api_access, **opts):
        org = services.organization_create(slug=slug, name=name, domains=domain,
                                           package=package or Organization.Package.STANDARD)
        changed = []
        if package and org.package != package:
            org.package = package
            changed.append("package")
        if api_access and not org.api_access:
            org.api_access = True
            changed.append("api_access")
        if changed:
            org.save(update_fields=changed)
        self.stdout.write(f"Organization {org.slug} ({org.name}) ready; domains: {', '.join(org.email_domains) or '—'}")
