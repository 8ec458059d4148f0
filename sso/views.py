"""Settings > SSO, and the SAML endpoints (ACS, metadata, SP-initiated login).
Thin views: the work is in ``sso.saml`` and ``sso.tokens``."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.views import AssertionConsumerServiceView
from saml2.validate import ResponseLifetimeExceed, ToEarly

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, form_errors_to
from sso import saml
from sso.forms import SamlConfigForm, ScimTokenForm, SsoLoginForm
from sso.models import ScimToken
from sso.tokens import scim_token_create, scim_token_revoke

logger = logging.getLogger(__name__)

NO_SSO_FOR_DOMAIN = ("Single sign-on is not set up for this email domain. Log in with your password, "
                     "or ask your Chorus admin to turn on SAML sign-in in Settings > SSO.")

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


@method_decorator(never_cache, name="dispatch")
class SsoSettingsView(OrgAdminMixin, View):
    """Settings > SSO: the values to copy into the identity provider, the IdP's
    SAML settings, and SCIM provisioning (switch, bearer tokens)."""

    template_name = "sso/settings_sso.html"

    def render(self, *, saml_form=None, token_form=None, new_token=None, scim_error=None, status=200):
        config = saml.saml_config_get(org=self.org)
        tokens = ScimToken.objects.for_org(self.org).filter(revoked_at__isnull=True).select_related("created_by")
        ctx = {
            "org": self.org,
            "sp": saml.sp_values(),
            "config": config,
            "saml_form": saml_form or SamlConfigForm.for_config(config),
            "certificates": saml.certificates_describe(config.certificate),
            "azure_mapping": AZURE_MAPPING,
            "azure_claims": AZURE_CLAIMS,
            "scim_allowed": self.org.scim_provisioning_allowed,
            "scim_active": saml.scim_provisioning_active(org=self.org),
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
                config, imported = saml.saml_config_update(org=self.org, actor=request.user, data=form.cleaned_data)
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
            saml.scim_provisioning_set(org=self.org, actor=request.user, enabled=request.POST.get("enabled") == "1")
        except ValidationError as exc:
            return self.render(scim_error=" ".join(exc.messages), status=400)
        active = saml.scim_provisioning_active(org=self.org)
        messages.success(request, "SCIM provisioning is on." if active else "SCIM provisioning is off.")
        return redirect(reverse("settings-sso") + "#scim")

    def create_token(self, request):
        form = ScimTokenForm(request.POST)
        if not saml.scim_provisioning_active(org=self.org):
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


class SamlAcsView(AssertionConsumerServiceView):
    """POST /login/saml. djangosaml2 + pysaml2 verify the Response against the IdP
    that ``saml.saml_config_loader`` chose from its Issuer; our checks follow in
    ``custom_validation`` (issuer binding, SHA-256, replay) and in the backend
    (user by email within that org). Any refusal: a page saying why, no session."""

    def get(self, request, *args, **kwargs):
        return redirect("sso-login")

    def custom_validation(self, response):
        try:
            self.next_path = saml.saml_response_verify(
                config=getattr(self.request, "chorus_saml_config", None), response=response,
                relay_state=self.request.POST.get("RelayState"),
            )
        except saml.SamlLoginRefused as refusal:
            self.request.chorus_saml_refusal = refusal
            raise

    def handle_acs_failure(self, request, exception=None, status=403, **kwargs):
        refusal = getattr(request, "chorus_saml_refusal", None)
        if refusal is None:
            if getattr(request, "chorus_saml_config", None) is None:
                refusal = saml.SamlLoginRefused("unknown_idp")
            elif isinstance(exception, ResponseLifetimeExceed | ToEarly):
                refusal = saml.SamlLoginRefused("expired")
            else:
                refusal = saml.SamlLoginRefused("invalid")
        logger.info("SAML sign-in refused: %s (%s)", refusal.reason, type(exception).__name__)
        request.saml_session.flush()  # no half-finished SAML state survives a failure
        return render(request, "sso/saml_error.html", {"refusal": refusal}, status=403)

    def custom_redirect(self, user, relay_state, session_info):
        return getattr(self, "next_path", None) or "/"


@method_decorator(never_cache, name="dispatch")
class SsoLoginView(View):
    """GET/POST /login/sso/: SP-initiated sign-in. The email's domain picks the
    organisation; the browser goes to its IdP with an AuthnRequest."""

    template_name = "sso/sso_login.html"

    def get(self, request):
        next_path = saml.safe_local_path(request.GET.get("next")) or "/"
        return render(request, self.template_name, {"form": SsoLoginForm(), "next": next_path})

    def post(self, request):
        form = SsoLoginForm(request.POST)
        next_path = saml.safe_local_path(request.POST.get("next")) or "/"
        if form.is_valid():
            config = saml.saml_config_for_email(email=form.cleaned_data["email"])
            if config is None:
                form.add_error("email", NO_SSO_FOR_DOMAIN)
            else:
                try:
                    request_id, location = saml.saml_authn_request(config=config, next_path=next_path)
                except ValidationError:
                    logger.warning("SAML config of org %s cannot start a sign-in", config.org_id)
                    form.add_error("email", NO_SSO_FOR_DOMAIN)
                else:
                    OutstandingQueriesCache(request.saml_session).set(request_id, next_path)
                    return HttpResponseRedirect(location)
        return render(request, self.template_name, {"form": form, "next": next_path}, status=400)
