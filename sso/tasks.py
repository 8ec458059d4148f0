"""django-q2 tasks: thin wrappers that call services."""


def saml_metadata_refresh_task() -> int:
    from sso.saml.idp_metadata import saml_metadata_refresh_all

    return saml_metadata_refresh_all()
