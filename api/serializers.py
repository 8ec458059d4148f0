"""What the public API answers. Read-only: every field is declared so the OpenAPI
schema says exactly what a response holds."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chorus.models import Engagement, Organization, Participant, User
from crm.models import CrmAccount, CrmOpportunity
from integrations.processing.models import ProcessingStatus, TranscriptSegment


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="full_name")

    class Meta:
        model = User
        fields = ["id", "email", "name"]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "package"]


class MeUserSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="full_name")

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "name", "title"]


class TokenRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()


class MeSerializer(serializers.Serializer):
    """The token's user and organisation (Zapier's authentication test)."""

    user = MeUserSerializer()
    organization = OrganizationSerializer()
    token = TokenRefSerializer()


class EngagementSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(allow_null=True)
    status = serializers.SerializerMethodField(help_text="Processing status; null when nothing is processed.")
    account_id = serializers.SerializerMethodField(help_text="The matched account (/accounts/{id}).")
    opportunity_id = serializers.SerializerMethodField(help_text="The matched opportunity (/opportunities/{id}).")
    crm_account_id = serializers.CharField(help_text="The matched account's id in the CRM.")
    crm_opportunity_id = serializers.CharField(help_text="The matched opportunity's id in the CRM.")
    updated_at = serializers.DateTimeField(
        source="api_updated_at", help_text="Last change: created, processed or matched to an account.")

    class Meta:
        model = Engagement
        fields = ["id", "kind", "title", "started_at", "duration_seconds", "owner", "source", "recording_url",
                  "status", "account_id", "opportunity_id", "crm_account_id", "crm_opportunity_id",
                  "created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=ProcessingStatus.choices, allow_null=True))
    def get_status(self, obj) -> str | None:
        processing = _one_to_one(obj, "processing")
        return processing.status if processing else None

    def get_account_id(self, obj) -> int | None:
        match = _one_to_one(obj, "account_match")
        return match.account_id if match else None

    def get_opportunity_id(self, obj) -> int | None:
        match = _one_to_one(obj, "account_match")
        return match.opportunity_id if match else None


def _one_to_one(obj, name):
    try:
        return getattr(obj, name)
    except Exception:  # RelatedObjectDoesNotExist: no row (yet)
        return None


class ParticipantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ["id", "name", "title", "email", "is_internal"]


class MomentSerializer(serializers.Serializer):
    tracker_id = serializers.IntegerField()
    tracker = serializers.CharField(source="tracker.name")
    at_seconds = serializers.IntegerField()
    text = serializers.CharField()
    speaker = serializers.CharField()


class SaidSerializer(serializers.Serializer):
    text = serializers.CharField()
    speaker = serializers.CharField()
    at_seconds = serializers.FloatField(allow_null=True)


class BriefSerializer(serializers.Serializer):
    summary = serializers.CharField()
    action_items = SaidSerializer(many=True)
    engine = serializers.CharField(help_text="The engine that wrote the brief; empty when there is none.")


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TranscriptSegment
        fields = ["position", "speaker", "start_seconds", "end_seconds", "text"]


class TranscriptSerializer(serializers.Serializer):
    text = serializers.CharField()
    segments = SegmentSerializer(many=True)


class EngagementDetailSerializer(EngagementSerializer):
    participants = ParticipantSerializer(many=True)
    moments = MomentSerializer(many=True)
    next_steps = SaidSerializer(many=True, source="next_step_items")
    brief = serializers.SerializerMethodField()
    transcript = serializers.SerializerMethodField()
    recording_notification_detected = serializers.BooleanField(allow_null=True)

    class Meta(EngagementSerializer.Meta):
        fields = [*EngagementSerializer.Meta.fields, "recording_notification_detected", "participants",
                  "moments", "next_steps", "brief", "transcript"]

    @extend_schema_field(BriefSerializer)
    def get_brief(self, obj):
        processing = _one_to_one(obj, "processing")
        return BriefSerializer({"summary": obj.summary, "action_items": obj.action_item_items,
                                "engine": processing.brief_engine if processing else ""}).data

    @extend_schema_field(TranscriptSerializer)
    def get_transcript(self, obj):
        return TranscriptSerializer({"text": obj.transcript, "segments": obj.segments.all()}).data


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrmAccount
        fields = ["id", "provider", "remote_id", "name", "website", "remote_modified_at", "synced_at"]


class OpportunitySerializer(serializers.ModelSerializer):
    account_id = serializers.IntegerField(allow_null=True, help_text="The account (/accounts/{id}).")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True, coerce_to_string=True)

    class Meta:
        model = CrmOpportunity
        fields = ["id", "provider", "remote_id", "account_id", "name", "stage", "amount", "close_date",
                  "is_closed", "is_won", "remote_modified_at", "synced_at"]
