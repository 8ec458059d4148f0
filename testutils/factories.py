import factory
from django.utils import timezone

from chorus import services
from chorus.models import Engagement, Moment, Organization, Participant, Role, Tracker, User


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    email_domains = factory.LazyAttribute(lambda o: [f"{o.slug}.example"])

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        if create:
            services.roles_ensure_builtin(org=obj)


def role(org, name="Rep (AE/Other)") -> Role:
    return Role.objects.for_org(org).get(name=name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    org = factory.SubFactory(OrganizationFactory)
    email = factory.LazyAttributeSequence(lambda o, n: f"user{n}@{o.org.email_domains[0]}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    role = factory.LazyAttribute(lambda o: role(o.org))

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw-for-tests-123")
        if create:
            obj.save(update_fields=["password"])


class TrackerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tracker

    org = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Tracker {n}")


class EngagementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Engagement

    org = factory.SubFactory(OrganizationFactory)
    kind = Engagement.Kind.RECORDING
    title = factory.Sequence(lambda n: f"Meeting {n}")
    started_at = factory.LazyFunction(timezone.now)
    duration_seconds = 1800
    owner = factory.SubFactory(UserFactory, org=factory.SelfAttribute("..org"))
    source = "test"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    engagement = factory.SubFactory(EngagementFactory)
    org = factory.SelfAttribute("engagement.org")
    name = factory.Sequence(lambda n: f"Prospect {n}")
    email = factory.Sequence(lambda n: f"prospect{n}@customer.example")


class MomentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Moment

    engagement = factory.SubFactory(EngagementFactory)
    org = factory.SelfAttribute("engagement.org")
    tracker = factory.SubFactory(TrackerFactory, org=factory.SelfAttribute("..org"))
    at_seconds = 60
    text = "we compared you with Competitor 1"
