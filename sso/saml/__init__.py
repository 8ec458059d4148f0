"""SAML single sign-on (djangosaml2 + pysaml2): one service provider for every organisation.

How an incoming Response finds its organisation, and why it is safe:

1. ``acs.saml_config_loader`` (djangosaml2's ``SAML_CONFIG_LOADER``) peeks at the
   *unverified* Response for its Issuer and loads the identity provider metadata of
   the one organisation whose ``SamlConfig.idp_entity_id`` is that Issuer, and of no
   other. pysaml2 then checks the signature only against that organisation's
   certificate(s) (``only_use_keys_in_metadata``: never a certificate carried inside
   the message).
2. ``acs.saml_response_verify`` (after pysaml2 verified signature, audience,
   destination and times) checks that the Response and Assertion Issuers are that IdP,
   that the signatures use SHA-256 or stronger, and burns the assertion id (replay
   protection: IdP-initiated logins have no InResponseTo to tie them to a request).
3. ``acs.saml_user_for_login`` finds the person by email, case-insensitively, inside
   that organisation only. IdP A can therefore never sign in a user of organisation B.

Modules: ``sp`` (the service provider and its pysaml2 config), ``acs`` (checking a
Response and finding the user), ``relay_state``, ``idp_metadata`` (certificates,
metadata import and fetch, certificate roll-over), ``configure`` (the SSO page and the
``configure_saml`` command), ``login`` (SP-initiated sign-in), ``backend``, ``views``,
``urls`` and ``conf`` (settings, read by chorus.settings before apps are loaded, so
this package imports nothing when it is loaded).
"""
