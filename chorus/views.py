"""What every app's views stand on: the permission mixins (signed in, belonging to
an organisation, an org admin), putting a service's ``ValidationError`` on a form,
and the login page. The pages themselves live in ``console``."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError

from chorus.forms import EmailLoginForm


class OrgMemberMixin(LoginRequiredMixin):
    """Signed in and belonging to an organisation. Support staff without an org
    work in the Django admin."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.user.org_id is None:
            raise PermissionDenied("Support accounts have no organisation: use the Django admin.")
        self.org = request.user.org
        return super().dispatch(request, *args, **kwargs)


class OrgAdminMixin(OrgMemberMixin):
    """Admin-only settings pages answer 403 to everyone else."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.org_id and not request.user.is_org_admin:
            raise PermissionDenied("Only Chorus admins can change these settings.")
        return super().dispatch(request, *args, **kwargs)


def form_errors_to(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True
