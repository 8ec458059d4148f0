from django.core.management.base import BaseCommand

from console.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create (or top up) the demo organisation and print where to log in."

    def add_arguments(self, parser):
        parser.add_argument("--engagements", type=int, default=50)

    def handle(self, engagements, **opts):
        result = seed_demo(engagements=engagements)
        self.stdout.write(
            f"Demo organisation {result.org.name} ({result.org.slug}): "
            f"{result.created_engagements} new engagements.\n"
            f"Log in as admin: {result.admin.email} / {DEMO_PASSWORD}"
        )
