"""A rate limit per personal API token (not per user or address: a person's
Zapier token and script token are limited separately)."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from chorus.models import PersonalApiToken


class PersonalTokenRateThrottle(SimpleRateThrottle):
    """Answered with 429 and ``Retry-After`` (seconds) by DRF. Counts live in the
    default cache, so a deployment with several processes needs a shared cache
    (Redis) for the limit to be exact."""

    scope = "api_token"

    def get_rate(self):
        # Read at each request (not at import as DRF does), so settings changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, PersonalApiToken):
            return None  # the schema and docs pages: no token, no limit
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
