"""The console's pages as the apps below it see them: by URL name.

Console is the top layer: no app imports it. An app's POST view that fails
validation still shows the whole page again with its section's errors in place
(Settings > Integrations for the CRM Objects matrix, Roles and Permissions for the
dialers' notification detection). It leaves its bound form on the request, where
its section's ``context(request, org)`` picks it up, and renders the page through
its URL, the way a link reaches it.
"""

from __future__ import annotations

from django.urls import resolve, reverse


class ConsolePage:
    def __init__(self, url_name: str):
        self.url_name = url_name

    def as_view(self):
        def view(request, *args, **kwargs):
            match = resolve(reverse(self.url_name))
            return match.func(request, *match.args, **match.kwargs)

        return view

    def render_again(self, request, *, status: int):
        """The page as a GET would show it, answering a POST that was refused."""
        request.method = "GET"
        response = self.as_view()(request)
        response.status_code = status
        return response


integrations_page = ConsolePage("settings-integrations")
roles_page = ConsolePage("settings-roles")
