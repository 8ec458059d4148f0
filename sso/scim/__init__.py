"""SCIM 2.0 provisioning (django-scim2) at /api/scim/v2/: identity providers create,
update and deactivate Chorus users and teams with the organisation's bearer token.

Modules: ``auth`` (bearer token → organisation), ``provisioning`` (the on/off switch),
``filters`` (SCIM filters in SQL), ``patch`` (request bodies → one canonical state),
``adapters`` (state ↔ users and teams), ``schemas`` and ``discovery`` (what the
server says it supports), ``projection``, ``views``, ``urls`` and ``conf`` (settings,
read by chorus.settings before apps are loaded, so this package imports nothing).
"""
