"""Personal API tokens for the public REST API (``Authorization: Bearer <token>``
or ``Token <token>``)."""

from rest_framework import authentication, exceptions

from chorus import services


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        token = services.api_token_authenticate(raw=header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        if not token.org.api_access:
            raise exceptions.PermissionDenied("API access is not enabled for this organisation.")
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"
