import django_filters
from django.db.models import Q

from chorus.models import Engagement, User


class RecordingFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="search")
    kind = django_filters.ChoiceFilter(label="Type", choices=Engagement.Kind.choices, empty_label="All types")
    owner = django_filters.ModelChoiceFilter(label="Owner", queryset=User.objects.none(), empty_label="Everyone")

    class Meta:
        model = Engagement
        fields = ["q", "kind", "owner"]

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        # The people who own recordings (not every user: an org of thousands would list
        # them all on every Recordings and Analytics page; the rest match nothing).
        owners = Engagement.objects.for_org(org).values("owner_id")
        self.filters["owner"].queryset = User.objects.for_org(org).filter(pk__in=owners).order_by(
            "first_name", "last_name")

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        matching = Q(title__icontains=value) | Q(participants__name__icontains=value) | Q(
            participants__email__icontains=value
        )
        return queryset.filter(pk__in=queryset.filter(matching).values("pk"))
