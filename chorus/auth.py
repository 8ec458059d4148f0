"""Email + password sign-in for local and support accounts.

Email is unique per organisation, not globally, so several accounts may share an
address; the password decides which one signs in. Inactive users never do.
"""

from django.contrib.auth.backends import ModelBackend

from chorus.models import User


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = (email or username or "").strip()
        if not email or not password:
            return None
        candidates = list(User.objects.with_email(email).filter(is_active=True).select_related("org")[:20])
        if not candidates:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        for user in candidates:
            if user.check_password(password):
                return user
        return None
