"""Zapier's endpoints under ``/api/v1/zapier/``: the auth test, REST-hook subscribe
and unsubscribe, and the polling fallbacks (also the Zap editor's sample items).

Token only: a hook belongs to the token that subscribed it (revoking the token stops
the Zap), so a browser session is not accepted here. The token's organisation needs
API access (checked by the authentication) and the Enterprise package (seed: "This
feature is for Enterprise customers only and requires API")."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import error_responses
from api.zapier.models import ZapierHook
from api.zapier.selectors import zapier_action_items_poll, zapier_briefs_poll
from api.zapier.services import zapier_hook_subscribe, zapier_hook_unsubscribe
from chorus.api_auth import PersonalTokenAuthentication
from chorus.models import PersonalApiToken
from chorus.tenancy import get_for_org_or_404

NOT_ENTERPRISE = "Zapier is available to organisations with the Chorus Enterprise package."


class ZapierAllowed(permissions.BasePermission):
    message = NOT_ENTERPRISE

    def has_permission(self, request, view) -> bool:
        token = request.auth
        return isinstance(token, PersonalApiToken) and token.org.is_enterprise


class ZapierView(APIView):
    authentication_classes = [PersonalTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated, ZapierAllowed]


class ZapierMeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    organization = serializers.CharField()


class ZapierSaidSerializer(serializers.Serializer):
    text = serializers.CharField()
    speaker = serializers.CharField(allow_blank=True)


class ZapierMeetingSerializer(serializers.Serializer):
    """The meeting fields every Zapier item carries."""

    engagement_id = serializers.IntegerField()
    title = serializers.CharField()
    started_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField()
    recording_url = serializers.CharField(allow_blank=True)
    owner_email = serializers.CharField(allow_blank=True)
    owner_name = serializers.CharField(allow_blank=True)
    account_name = serializers.CharField(allow_blank=True)


class ZapierBriefSerializer(ZapierMeetingSerializer):
    id = serializers.CharField(help_text="The engagement id: stable, what Zapier deduplicates on.")
    meeting_summary = serializers.CharField(help_text="Meeting Summary")
    action_items = ZapierSaidSerializer(many=True, help_text="Action Items")
    action_items_text = serializers.CharField(allow_blank=True)


class ZapierActionItemSerializer(ZapierMeetingSerializer):
    id = serializers.CharField(help_text="<engagement id>-<index>: stable.")
    text = serializers.CharField()
    speaker = serializers.CharField(allow_blank=True)


class ZapierHookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    target_url = serializers.CharField()


class MeView(ZapierView):
    """Zapier's authentication test and connection label."""

    @extend_schema(responses={200: ZapierMeSerializer, **error_responses()})
    def get(self, request):
        user, org = request.user, request.auth.org
        return Response({"id": user.pk, "email": user.email, "name": user.full_name,
                         "organization": org.name})


class ZapierHookSubscribeSerializer(serializers.Serializer):
    event = serializers.CharField()
    target_url = serializers.CharField()


class HookListView(ZapierView):
    """``POST {event, target_url}`` → 201 ``{"id"}``: Zapier's performSubscribe."""

    @extend_schema(request=ZapierHookSubscribeSerializer,
                   responses={201: ZapierHookSerializer, **error_responses(400, 401, 403, 429)})
    def post(self, request):
        data = ZapierHookSubscribeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            hook = zapier_hook_subscribe(token=request.auth, **data.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response({"id": hook.pk, "event": hook.event, "target_url": hook.target_url},
                        status=status.HTTP_201_CREATED)


class HookDetailView(ZapierView):
    """``DELETE`` → 204: Zapier's performUnsubscribe (another user's hook is a 404)."""

    @extend_schema(responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request, pk: int):
        hook = get_for_org_or_404(ZapierHook.objects.filter(user=request.user, deleted_at__isnull=True),
                                  request.auth.org, pk=pk)
        zapier_hook_unsubscribe(hook=hook)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BriefsPollView(ZapierView):
    """"New Post-Meeting Brief" polling: a JSON array, newest first, ``id`` stable."""

    @extend_schema(responses={200: ZapierBriefSerializer(many=True), **error_responses()})
    def get(self, request):
        return Response(zapier_briefs_poll(org=request.auth.org))


class ActionItemsPollView(ZapierView):
    """"New Action Items" polling: a JSON array, newest first, ``id`` stable."""

    @extend_schema(responses={200: ZapierActionItemSerializer(many=True), **error_responses()})
    def get(self, request):
        return Response(zapier_action_items_poll(org=request.auth.org))
