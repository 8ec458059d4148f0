"""Required CRM fields after calls: the admin picks CRM picklists; after each meeting
or call its owner is asked for them (a pending list in the console, with the CRM's
own picklist values), and each answer is pushed to the CRM record through the outbox."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chorus.models import Engagement, Organization, User
from chorus.services import audit_record
from crm.models import CrmField
from crm.providers import get_provider
from crm.push.models import CrmFieldRequest, RequiredCrmField
from crm.push.services import crm_connection_for_push, deliveries_enqueue, push_key

# Where an answer is written: the opportunity, or the task Chorus pushed.
FIELD_OBJECTS = ("Opportunity", "Task")
ASKED_FOR = (Engagement.Kind.RECORDING, Engagement.Kind.DIALER_CALL, Engagement.Kind.UNRECORDED_MEETING)
NOT_A_CHOICE = "Choose one of {crm}'s values for {label}."


def required_field_choices(*, org: Organization) -> list[CrmField]:
    """The imported picklists an admin may require (of the connected CRM)."""
    connection = crm_connection_for_push(org=org)
    if connection is None:
        return []
    return list(CrmField.objects.for_org(org).filter(
        provider=connection.provider, object_name__in=FIELD_OBJECTS, field_type="Picklist", supported=True,
        missing_since__isnull=True).order_by("object_name", "label"))


def required_fields_set(*, org: Organization, actor: User | None, field_ids: list[int]) -> list[RequiredCrmField]:
    allowed = {f.id: f for f in required_field_choices(org=org)}
    unknown = [i for i in field_ids if i not in allowed]
    if unknown:
        raise ValidationError({"fields": "Choose picklists of Opportunities or Tasks imported from your CRM."})
    with transaction.atomic():
        current = set(RequiredCrmField.objects.for_org(org).values_list("field_id", flat=True))
        wanted = set(field_ids)
        RequiredCrmField.objects.for_org(org).exclude(field_id__in=wanted).delete()
        RequiredCrmField.objects.bulk_create(
            [RequiredCrmField(org=org, field=allowed[i], added_by=actor) for i in wanted - current])
        if current != wanted:
            audit_record(org=org, actor=actor, action="crm_required_fields.update", target="Required CRM fields",
                         changes={"added": sorted(str(allowed[i]) for i in wanted - current),
                                  "removed": sorted(str(i) for i in current - wanted)})
    return list(RequiredCrmField.objects.for_org(org).select_related("field"))


def crm_field_requests_create(*, engagement: Engagement, task_pushed: bool) -> int:
    """Ask the owner for the required fields after this engagement (once each)."""
    return crm_field_requests_create_many(org=engagement.org, asked=[(engagement, task_pushed)])


def crm_field_requests_create_many(*, org: Organization, asked: list[tuple[Engagement, bool]]) -> int:
    """``crm_field_requests_create`` for many engagements: two queries at most."""
    asked = [(e, task) for e, task in asked if e.kind in ASKED_FOR and e.owner_id is not None]
    if not asked:
        return 0
    fields = [r.field for r in RequiredCrmField.objects.for_org(org).select_related("field")]
    rows = [CrmFieldRequest(org=org, engagement=e, user_id=e.owner_id, field=f)
            for e, task_pushed in asked for f in fields
            if (f.object_name == "Opportunity" and e.crm_opportunity_id) or (f.object_name == "Task" and task_pushed)]
    CrmFieldRequest.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def crm_field_requests_pending(*, user: User):
    return (CrmFieldRequest.objects.for_org(user.org).filter(user=user, answered_at__isnull=True)
            .select_related("engagement", "field").order_by("-engagement__started_at", "field__label"))


def crm_field_answers_submit(*, user: User, answers: dict[int, str]) -> list[CrmFieldRequest]:
    """Save a rep's answers (only their own pending questions, only the CRM's own
    values) and queue each for the CRM."""
    requests = {r.id: r for r in crm_field_requests_pending(user=user).filter(id__in=list(answers))}
    connection = crm_connection_for_push(org=user.org)
    errors = {}
    for rid, value in answers.items():
        r = requests.get(rid)
        if r is None or not value:
            continue
        if value not in (r.field.picklist_values or []):
            crm = get_provider(connection.provider).label if connection else "the CRM"
            errors[f"answer_{rid}"] = NOT_A_CHOICE.format(crm=crm, label=r.field.label)
    if errors:
        raise ValidationError(errors)
    answered = []
    now = timezone.now()
    with transaction.atomic():
        for rid, value in answers.items():
            r = requests.get(rid)
            if r is None or not value:
                continue
            r.value, r.answered_at = value, now
            answered.append(r)
        CrmFieldRequest.objects.bulk_update(answered, ["value", "answered_at"])
        if connection and answered:
            provider = connection.provider
            deliveries_enqueue(org=user.org, target=provider, rows=[
                ("field_update", push_key(provider, "field", r.id), r.engagement, {
                    "object": r.field.object_name, "field": r.field.api_name,
                    # The CRM's own value for the label the rep picked (Dynamics: the option number).
                    "value": (r.field.picklist_codes or {}).get(r.value, r.value),
                    "record_id": r.engagement.crm_opportunity_id if r.field.object_name == "Opportunity" else "",
                    "activity_key": push_key(provider, "task", r.engagement_id)
                    if r.field.object_name == "Task" else ""})
                for r in answered])
    return answered
