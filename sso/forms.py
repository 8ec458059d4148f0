from django import forms

from sso.models import SamlConfig

AZURE_HELP = {
    "customer_url": "Okta: Identity Provider Single Sign-On URL · Azure: Login URL · JumpCloud: IDP URL.",
    "app_id": "Okta: the app's ID · Azure: the Tenant ID, only the GUID after “tenantId=” in the User access URL.",
    "secondary_id": "Azure: the Application ID from the app's Properties page.",
    "certificate": "The identity provider's signing certificate: Azure “Certificate (Base64)”, "
                   "Okta X.509 Certificate, JumpCloud “SAML Certificate”. PEM or Base64.",
    "metadata_url": "Azure: App Federation Metadata Url · JumpCloud / Okta: Metadata URL. Chorus reads it when you "
                    "save (it fills the fields below) and daily, to take certificates your provider rolls over.",
    "metadata_xml": "Paste the XML your identity provider exports: it fills the entity ID, the sign-on URL "
                    "and the certificate. (Azure: make sure the default “none” value is removed.)",
    "idp_entity_id": "The Issuer of the identity provider's responses. Azure: https://sts.windows.net/<tenant>/ · "
                     "Okta: http://www.okta.com/<app id> · JumpCloud: the IdP Entity ID you chose.",
}


class SamlConfigForm(forms.Form):
    """The seed's SAML setup fields. Cross-field checks (certificate, metadata,
    Azure tenant id) are in ``sso.saml.configure.saml_config_update``."""

    provider = forms.ChoiceField(label="Identity provider", choices=SamlConfig.Provider.choices)
    customer_url = forms.URLField(label="SAML Customer Url", max_length=1000, required=False,
                                  help_text=AZURE_HELP["customer_url"], assume_scheme="https")
    app_id = forms.CharField(label="SAML App ID / Tenant ID", max_length=255, required=False,
                             help_text=AZURE_HELP["app_id"])
    secondary_id = forms.CharField(label="SAML Secondary ID (Azure App Id)", max_length=255, required=False,
                                   help_text=AZURE_HELP["secondary_id"])
    idp_entity_id = forms.CharField(label="IdP Entity ID (Issuer)", max_length=1000, required=False,
                                    help_text=AZURE_HELP["idp_entity_id"])
    certificate = forms.CharField(label="SAML Certificate", required=False, help_text=AZURE_HELP["certificate"],
                                  widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"}))
    metadata_url = forms.URLField(label="Metadata Url", max_length=1000, required=False,
                                  help_text=AZURE_HELP["metadata_url"], assume_scheme="https")
    metadata_xml = forms.CharField(label="Metadata XML", required=False, help_text=AZURE_HELP["metadata_xml"],
                                   widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"}))
    enabled = forms.BooleanField(label="Turn on SAML sign-in for this organization", required=False)

    @classmethod
    def for_config(cls, config: SamlConfig, data=None):
        return cls(data, initial={name: getattr(config, name) for name in cls.base_fields})


class ScimTokenForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100, required=False,
                           help_text="Where it will be used, e.g. “Okta” or “Azure (rotation 2026)”.")


class SsoLoginForm(forms.Form):
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autofocus": True,
                                                                                "autocomplete": "email"}))
