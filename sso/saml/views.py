"""The SAML endpoints: the assertion consumer service (/login/saml) and SP-initiated
sign-in (/login/sso/). Thin views over djangosaml2: the checks are in ``sso.saml.acs``
and ``sso.saml.login``; any refusal is a page saying why, never a session."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.views import AssertionConsumerServiceView
from saml2.validate import ResponseLifetimeExceed, ToEarly

from sso.forms import SsoLoginForm
from sso.saml.acs import SamlLoginRefused, saml_response_verify
from sso.saml.login import saml_authn_request, saml_config_for_email
from sso.saml.relay_state import relay_state_target, safe_local_path

logger = logging.getLogger(__name__)

FOREIGN_RELAY_STATE = ("You are signed in. The sign-in link asked to open a page outside Chorus, so we opened "
                       "your home page instead. If this keeps happening, ask your admin to check the RelayState "
                       "of the Chorus app in your identity provider.")
NO_SSO_FOR_DOMAIN = ("Single sign-on is not set up for this email domain. Log in with your password, "
                     "or ask your Chorus admin to turn on SAML sign-in in Settings > SSO.")


class SamlAcsView(AssertionConsumerServiceView):
    """POST /login/saml. djangosaml2 + pysaml2 verify the Response against the IdP
    that ``acs.saml_config_loader`` chose from its Issuer; our checks follow in
    ``custom_validation`` (issuer binding, SHA-256, replay) and in the backend
    (user by email within that org). Any refusal: a page saying why, no session."""

    def get(self, request, *args, **kwargs):
        return redirect("sso-login")

    def custom_validation(self, response):
        try:
            saml_response_verify(config=getattr(self.request, "chorus_saml_config", None), response=response)
        except SamlLoginRefused as refusal:
            self.request.chorus_saml_refusal = refusal
            raise

    def handle_acs_failure(self, request, exception=None, status=403, **kwargs):
        refusal = getattr(request, "chorus_saml_refusal", None)
        if refusal is None:
            if getattr(request, "chorus_saml_config", None) is None:
                refusal = SamlLoginRefused("unknown_idp")
            elif isinstance(exception, ResponseLifetimeExceed | ToEarly):
                refusal = SamlLoginRefused("expired")
            else:
                refusal = SamlLoginRefused("invalid")
        logger.info("SAML sign-in refused: %s (%s)", refusal.reason, type(exception).__name__)
        request.saml_session.flush()  # no half-finished SAML state survives a failure
        return render(request, "sso/saml_error.html", {"refusal": refusal}, status=403)

    def custom_redirect(self, user, relay_state, session_info):
        """Where the RelayState asks to go, if that is a page on Chorus. A target on
        another site is never followed, but the person is signed in and told on the
        home page: a wrong default in the IdP must not lock everyone out."""
        target = relay_state_target(self.request.POST.get("RelayState"))
        if target.refused:
            logger.info("SAML RelayState leads outside Chorus; user %s sent to the home page", user.pk)
            messages.warning(self.request, FOREIGN_RELAY_STATE)
        return target.path


@method_decorator(never_cache, name="dispatch")
class SsoLoginView(View):
    """GET/POST /login/sso/: SP-initiated sign-in. The email's domain picks the
    organisation; the browser goes to its IdP with an AuthnRequest."""

    template_name = "sso/sso_login.html"

    def get(self, request):
        next_path = safe_local_path(request.GET.get("next")) or "/"
        return render(request, self.template_name, {"form": SsoLoginForm(), "next": next_path})

    def post(self, request):
        form = SsoLoginForm(request.POST)
        next_path = safe_local_path(request.POST.get("next")) or "/"
        if form.is_valid():
            config = saml_config_for_email(email=form.cleaned_data["email"])
            if config is None:
                form.add_error("email", NO_SSO_FOR_DOMAIN)
            else:
                try:
                    request_id, location = saml_authn_request(config=config, next_path=next_path)
                except ValidationError:
                    logger.warning("SAML config of org %s cannot start a sign-in", config.org_id)
                    form.add_error("email", NO_SSO_FOR_DOMAIN)
                else:
                    OutstandingQueriesCache(request.saml_session).set(request_id, next_path)
                    return HttpResponseRedirect(location)
        return render(request, self.template_name, {"form": form, "next": next_path}, status=400)
