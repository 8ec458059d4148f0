"""configure_saml <slug> --metadata-file F [--provider okta|azure|jumpcloud|generic]

Support tooling: import an identity provider's metadata for an organisation and
turn SAML sign-in on (the same service as Settings > SSO)."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chorus.models import Organization
from sso.models import SamlConfig
from sso.saml.configure import saml_config_from_metadata


class Command(BaseCommand):
    help = "Configure an organization's SAML identity provider from its metadata XML and turn SAML sign-in on."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--metadata-file", required=True, help="The identity provider's metadata XML file.")
        parser.add_argument("--provider", choices=SamlConfig.Provider.values, default=None)
        parser.add_argument("--disabled", action="store_true", help="Save the settings but leave SAML sign-in off.")

    def handle(self, *args, slug, metadata_file, provider, disabled, **options):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organization with slug “{slug}”.")
        try:
            xml = Path(metadata_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {metadata_file}: {exc}") from exc
        try:
            config = saml_config_from_metadata(org=org, metadata_xml=xml, provider=provider, enable=not disabled)
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(problems) from exc
        self.stdout.write(
            f"SAML for {org.slug}: provider {config.provider}, IdP {config.idp_entity_id}, "
            f"sign-on URL {config.customer_url or '-'}, sign-in {'on' if config.enabled else 'off'}."
        )
