from django.core.management.base import BaseCommand

from slack.manifest import manifest_text


class Command(BaseCommand):
    help = "Print the Slack app manifest with CHORUS_BASE_URL filled in (paste it into api.slack.com/apps)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=None, help="Instead of CHORUS_BASE_URL.")

    def handle(self, *args, base_url=None, **options):
        self.stdout.write(manifest_text(base_url=base_url), ending="")
