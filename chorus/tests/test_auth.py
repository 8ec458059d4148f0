"""Signing in: the login page (email and password) and personal API tokens."""

from chorus import services
from testutils.factories import UserFactory


def test_login_with_email_and_password(client, org):
    UserFactory(org=org, email="Ada@Acme.example", password="a-good-password-1")
    response = client.post("/login/", {"username": "ada@acme.example", "password": "a-good-password-1"})
    assert response.status_code == 302
    client.logout()
    bad = client.post("/login/", {"username": "ada@acme.example", "password": "nope"})
    assert bad.status_code == 200 and "do not match an active account" in bad.content.decode()


def test_deactivated_users_cannot_log_in(client, org):
    UserFactory(org=org, email="gone@acme.example", password="a-good-password-1", is_active=False)
    response = client.post("/login/", {"username": "gone@acme.example", "password": "a-good-password-1"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_public_api_authenticates_with_personal_token(client, rep_user):
    """The DRF authentication class accepts a live token and refuses others."""
    from rest_framework.test import APIRequestFactory

    from chorus.api_auth import PersonalTokenAuthentication

    _, raw = services.api_token_create(user=rep_user, name="Zapier")
    rep_user.org.api_access = True
    rep_user.org.save()
    request = APIRequestFactory().get("/api/v1/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    user, token = PersonalTokenAuthentication().authenticate(request)
    assert user == rep_user and token.last_used_at is None  # updated in the database only
