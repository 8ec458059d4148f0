"""Settings > SSO: the values to copy into the identity provider, the IdP's SAML
settings and SCIM provisioning. Thin views: the work is in ``sso.saml.configure``,
``sso.scim.provisioning`` and ``sso.tokens``. The SAML endpoints are in ``sso.saml.views``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, form_errors_to
from sso.forms import SamlConfigForm, ScimTokenForm
from sso.models import ScimToken
from sso.saml.configure import saml_config_get, saml_config_update
from sso.saml.idp_metadata import certificates_describe
from sso.saml.sp import sp_values
from sso.scim.adapters import DEFAULT_LICENSE, DEFAULT_ROLE
from sso.scim.provisioning import scim_provisioning_active, scim_provisioning_set
from sso.tokens import scim_token_create, scim_token_revoke

# The seed's "Configure Azure for Chorus" step 13: where each field comes from.
AZURE_MAPPING = (
    ("SAML Customer Url", "Login URL",
     "https://login.microsoftonline.com/738b610e-619f-4e65-89b0-47b1acf3f9aa/saml2"),
    ("SAML App ID (most providers) / Tenant ID (Azure)", "User access URL",
     "738b610e-619f-4e65-89b0-47b1acf3f9aa — only the ID, not the full URL"),
    ("SAML Secondary ID (Azure App Id)", "Identifier (Entity ID) / Application ID", "https://chorus.ai"),
    ("SAML Certificate", "Certificate (Base64)", "Certificate (Base64)"),
    ("Metadata Url", "App Federation Metadata Url",
     "https://login.microsoftonline.com/<tenant>/federationmetadata/2007-06/federationmetadata.xml?appid=<app id>"),
    ("Metadata XML", "Federation Metadata XML", "Ensure the default “none” value is removed"),
)
AZURE_CLAIMS = (("Email", "user.mail"), ("FirstName", "user.givenname"), ("LastName", "user.surname"),
                ("Name", "user.userprincipalname"))
# The SCIM section says what Chorus does with its custom attributes (name, when one is
# left out, what it means): the same rules the /Schemas document states.
SCIM_ATTRIBUTES = (
    ("chorus_role", f"Optional · default {DEFAULT_ROLE}",
     "One of your Chorus roles, built-in or custom (create custom roles under Roles and Permissions first). "
     f"A user created without it gets {DEFAULT_ROLE}; an update that leaves it out keeps the current role; "
     f"removing it gives {DEFAULT_ROLE} again."),
    ("chorus_license_type", f"Optional · default {DEFAULT_LICENSE}",
     f"recorder or listener. A user created without it gets {DEFAULT_LICENSE}; an update that leaves it out "
     f"keeps the current licence; removing it gives {DEFAULT_LICENSE} again."),
    ("manager_email", "Optional",
     "The manager's email. Teams follow managers; a manager provisioned later is linked when they arrive."),
)


@method_decorator(never_cache, name="dispatch")
class SsoSettingsView(OrgAdminMixin, View):
    """Settings > SSO: the values to copy into the identity provider, the IdP's
    SAML settings, and SCIM provisioning (switch, bearer tokens)."""

    template_name = "sso/settings_sso.html"

    def render(self, *, saml_form=None, token_form=None, new_token=None, scim_error=None, status=200):
        config = saml_config_get(org=self.org)
        tokens = ScimToken.objects.for_org(self.org).filter(revoked_at__isnull=True).select_related("created_by")
        ctx = {
            "org": self.org,
            "sp": sp_values(),
            "config": config,
            "saml_form": saml_form or SamlConfigForm.for_config(config),
            "certificates": certificates_describe(config.certificate),
            "azure_mapping": AZURE_MAPPING,
            "azure_claims": AZURE_CLAIMS,
            "scim_attributes": SCIM_ATTRIBUTES,
            "scim_allowed": self.org.scim_provisioning_allowed,
            "scim_active": scim_provisioning_active(org=self.org),
            "scim_error": scim_error,
            "token_form": token_form or ScimTokenForm(),
            "tokens": tokens,
            "new_token": new_token,
        }
        return render(self.request, self.template_name, ctx, status=status)

    def get(self, request):
        return self.render()

    def post(self, request):
        action = self.ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            return self.render(status=400)
        return action(self, request)

    def save_saml(self, request):
        form = SamlConfigForm(request.POST)
        if form.is_valid():
            try:
                config, imported = saml_config_update(org=self.org, actor=request.user, data=form.cleaned_data)
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                note = " The entity ID, sign-on URL and certificate were filled from the metadata." if imported else ""
                state = "on" if config.enabled else "off"
                messages.success(request, f"SAML settings saved. SAML sign-in is {state}.{note}")
                for warning in config.warnings:
                    messages.warning(request, warning)
                return redirect(reverse("settings-sso") + "#saml")
        return self.render(saml_form=form, status=400)

    def set_scim(self, request):
        try:
            scim_provisioning_set(org=self.org, actor=request.user, enabled=request.POST.get("enabled") == "1")
        except ValidationError as exc:
            return self.render(scim_error=" ".join(exc.messages), status=400)
        active = scim_provisioning_active(org=self.org)
        messages.success(request, "SCIM provisioning is on." if active else "SCIM provisioning is off.")
        return redirect(reverse("settings-sso") + "#scim")

    def create_token(self, request):
        form = ScimTokenForm(request.POST)
        if not scim_provisioning_active(org=self.org):
            return self.render(token_form=form, scim_error="Turn SCIM provisioning on before generating a token.",
                               status=400)
        if not form.is_valid():
            return self.render(token_form=form, status=400)
        _token, raw = scim_token_create(org=self.org, created_by=request.user, name=form.cleaned_data["name"])
        # Shown once, in this response only: only its hash is stored.
        response = self.render(new_token=raw)
        response["Cache-Control"] = "no-store"
        return response

    def revoke_token(self, request):
        token_id = request.POST.get("token", "")
        if not token_id.isdigit():
            raise Http404("No such token.")
        token = get_for_org_or_404(ScimToken.objects.filter(revoked_at__isnull=True), self.org, pk=int(token_id))
        scim_token_revoke(token=token)
        messages.success(request, f"Token {token.prefix}… revoked. Identity providers using it can no longer "
                                  "provision users.")
        return redirect(reverse("settings-sso") + "#scim")

    ACTIONS = {
        "saml": save_saml,
        "scim": set_scim,
        "token_create": create_token,
        "token_revoke": revoke_token,
    }
