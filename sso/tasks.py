"""django-q2 tasks: thin wrappers that call services."""


def saml_metadata_refresh_task() -> dict[str, int]:
    """The daily tick: one task per SAML configuration with a Metadata Url."""
    from integrations.scheduler import scheduler_tick
    from sso.saml.idp_metadata import SAML_METADATA_JOB

    return scheduler_tick(SAML_METADATA_JOB)
