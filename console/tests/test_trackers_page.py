"""Settings > Trackers: the services (validation, audit, defaults), who may use the
page, tenant isolation, forms that lose nothing, and a bounded number of queries."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from chorus import services
from chorus.models import AuditEvent, Moment, Tracker
from chorus.trackers import (
    DEFAULT_TRACKERS,
    phrases_from_text,
    tracker_create,
    tracker_delete,
    tracker_update,
    trackers_seed_defaults,
)
from integrations.processing.analysis import DEFAULT_TRACKERS as PROCESSING_DEFAULTS
from integrations.processing.analysis import default_tracker_specs
from testutils.factories import EngagementFactory, MomentFactory, TrackerFactory

URL = "/settings/trackers/"


def errors(exc: pytest.ExceptionInfo) -> dict:
    return exc.value.message_dict


# --- Defaults ---------------------------------------------------------------------------------


def test_the_defaults_live_in_the_ground_and_processing_reads_them():
    assert PROCESSING_DEFAULTS is DEFAULT_TRACKERS
    assert list(DEFAULT_TRACKERS) == ["Pricing", "Budget", "Competitors", "Next Steps", "Timing", "Pain",
                                      "Authority", "Need", "Metrics", "Use Case"]
    assert [name for name, _, _ in default_tracker_specs()] == list(DEFAULT_TRACKERS)


def test_a_new_organisation_gets_the_default_trackers(db):
    org = services.organization_create(slug="initech", name="Initech")
    trackers = {t.name: t.keywords for t in Tracker.objects.for_org(org)}
    assert trackers == {name: list(phrases) for name, phrases in DEFAULT_TRACKERS.items()}


def test_creating_the_organisation_again_does_not_bring_back_a_deleted_default(db):
    org = services.organization_create(slug="initech", name="Initech")
    Tracker.objects.for_org(org).get(name="Pain").delete()
    services.organization_create(slug="initech", name="Initech Inc")
    assert not Tracker.objects.for_org(org).filter(name="Pain").exists()


def test_seeding_is_idempotent_and_never_overwrites_an_edit(org, admin_user):
    assert len(trackers_seed_defaults(org=org)) == 10
    pricing = Tracker.objects.for_org(org).get(name="Pricing")
    tracker_update(tracker=pricing, actor=admin_user, name="pricing", phrases=["rate card"])
    Tracker.objects.for_org(org).get(name="Budget").delete()

    assert trackers_seed_defaults(org=org, actor=admin_user) == ["Budget"]
    assert trackers_seed_defaults(org=org) == []
    assert Tracker.objects.for_org(org).count() == 10
    assert Tracker.objects.for_org(org).get(name="pricing").keywords == ["rate card"]
    assert AuditEvent.objects.for_org(org).filter(action="trackers.defaults_restored", target="Budget").exists()


def test_the_migration_seeded_existing_organisations(org):
    """Organisations the tests make skip organization_create; the data migration's own
    seeding is checked through the function it runs."""
    from importlib import import_module

    from django.apps import apps

    seed = import_module("chorus.migrations.0005_seed_default_trackers").seed
    TrackerFactory(org=org, name="budget", keywords=["our own"])
    seed(apps, None)
    seed(apps, None)  # idempotent
    names = sorted(Tracker.objects.for_org(org).values_list("name", flat=True))
    assert len(names) == 10 and "budget" in names and "Budget" not in names
    assert Tracker.objects.for_org(org).get(name="budget").keywords == ["our own"]


# --- Services: validation and audit -----------------------------------------------------------


def test_create_normalises_and_audits(org, admin_user):
    tracker = tracker_create(org=org, actor=admin_user, name="  Security   review ",
                             phrases=[" SOC 2 ", "soc 2", "", "pen   test", "SSO"])
    assert (tracker.name, tracker.keywords) == ("Security review", ["SOC 2", "pen test", "SSO"])
    event = AuditEvent.objects.for_org(org).get(action="tracker.created")
    assert (event.actor, event.target, event.changes) == (admin_user, "Security review",
                                                          {"phrases": ["", "SOC 2, pen test, SSO"]})


@pytest.mark.parametrize(("name", "phrases", "expected"), [
    ("", ["x"], {"name": ["Enter a name for the tracker."]}),
    ("   ", ["x"], {"name": ["Enter a name for the tracker."]}),
    ("n" * 121, ["x"], {"name": ["Keep the name to 120 characters (it has 121)."]}),
    ("Ok", [], {"phrases": ["Enter at least one word or phrase to listen for."]}),
    ("Ok", ["  ", ""], {"phrases": ["Enter at least one word or phrase to listen for."]}),
    ("Ok", ["---", "?!"], {"phrases": ["“---” has no letters or digits to listen for.",
                                       "“?!” has no letters or digits to listen for."]}),
    ("Ok", ["p" * 101], {"phrases": [f"“{'p' * 30}…” is longer than 100 characters."]}),
    ("Ok", [f"phrase {i}" for i in range(101)],
     {"phrases": ["A tracker listens for at most 100 phrases (this one has 101)."]}),
    ("", [], {"name": ["Enter a name for the tracker."],
              "phrases": ["Enter at least one word or phrase to listen for."]}),
])
def test_create_refuses_bad_input_with_field_errors(org, name, phrases, expected):
    with pytest.raises(ValidationError) as exc:
        tracker_create(org=org, actor=None, name=name, phrases=phrases)
    assert errors(exc) == expected
    assert not Tracker.objects.for_org(org).exists()
    assert not AuditEvent.objects.for_org(org).exists()


def test_a_hundred_phrases_and_long_names_are_fine(org, admin_user):
    tracker = tracker_create(org=org, actor=admin_user, name="n" * 120, phrases=[f"p{i}" for i in range(100)]
                             + ["P0"])  # a repeat, ignoring case, is not counted
    assert len(tracker.keywords) == 100


def test_names_are_unique_per_organisation_ignoring_case(org, other_org, admin_user):
    tracker_create(org=org, actor=admin_user, name="Security", phrases=["soc 2"])
    with pytest.raises(ValidationError) as exc:
        tracker_create(org=org, actor=admin_user, name="SECURITY", phrases=["sso"])
    assert errors(exc) == {"name": ["A tracker named “SECURITY” already exists."]}
    tracker_create(org=other_org, actor=None, name="Security", phrases=["sso"])  # another org's is its own


def test_update_audits_what_changed(org, admin_user):
    tracker = tracker_create(org=org, actor=admin_user, name="Security", phrases=["soc 2"])
    other = tracker_create(org=org, actor=admin_user, name="Legal", phrases=["msa"])
    tracker_update(tracker=tracker, actor=admin_user, name="Security", phrases=["soc 2"])  # no change
    assert not AuditEvent.objects.for_org(org).filter(action="tracker.changed").exists()

    tracker_update(tracker=tracker, actor=admin_user, name="Security review", phrases=["soc 2", "sso"])
    event = AuditEvent.objects.for_org(org).get(action="tracker.changed")
    assert event.changes == {"name": ["Security", "Security review"], "phrases": ["soc 2", "soc 2, sso"]}
    tracker_update(tracker=tracker, actor=admin_user, name="security REVIEW", phrases=["sso"])  # own name: fine
    with pytest.raises(ValidationError) as exc:
        tracker_update(tracker=tracker, actor=admin_user, name="legal", phrases=["sso"])
    assert errors(exc) == {"name": ["A tracker named “legal” already exists."]}
    tracker.refresh_from_db()
    assert tracker.name == "security REVIEW" and other.name == "Legal"


def test_delete_takes_the_moments_and_audits(org, admin_user):
    tracker = tracker_create(org=org, actor=admin_user, name="Security", phrases=["soc 2"])
    MomentFactory.create_batch(3, engagement=EngagementFactory(org=org, owner=admin_user), org=org, tracker=tracker)
    assert tracker_delete(tracker=tracker, actor=admin_user) == 3
    assert not Moment.objects.for_org(org).exists()
    event = AuditEvent.objects.for_org(org).get(action="tracker.deleted")
    assert (event.target, event.changes) == ("Security", {"moments": [3, 0]})


@pytest.mark.parametrize(("typed", "phrases"), [
    ("price\nquote", ["price", "quote"]),
    ("price, quote,  per seat", ["price", " quote", "  per seat"]),
    ("a, b\r\nc", ["a", " b", "c"]),
    ("", []),
])
def test_phrases_are_typed_one_a_line_or_comma_separated(typed, phrases):
    assert phrases_from_text(typed) == phrases


# --- The page: who may use it -----------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, "/settings/trackers/1/"])
def test_anonymous_users_are_sent_to_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_non_admins_are_refused(rep_client, org):
    tracker = TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    assert rep_client.get(URL).status_code == 403
    assert rep_client.post(URL, {"name": "Mine", "phrases": "x"}).status_code == 403
    assert rep_client.get(f"{URL}{tracker.pk}/").status_code == 403
    assert rep_client.post(f"{URL}{tracker.pk}/", {"name": "Hacked", "phrases": "x"}).status_code == 403
    assert rep_client.post(f"{URL}{tracker.pk}/delete/").status_code == 403
    assert rep_client.post(f"{URL}restore/").status_code == 403
    assert list(Tracker.objects.for_org(org).values_list("name", flat=True)) == ["Security"]


def test_the_settings_navigation_shows_trackers_to_admins_only(admin_client, admin_user, rep_user):
    assert f'href="{URL}"' in admin_client.get("/settings/roles/").content.decode()
    admin_client.force_login(rep_user)
    assert f'href="{URL}"' not in admin_client.get("/settings/personal/").content.decode()


def test_another_organisations_tracker_is_a_404(admin_client, org, other_org):
    theirs = TrackerFactory(org=other_org, name="Globex secret", keywords=["launch"])
    assert admin_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert admin_client.post(f"{URL}{theirs.pk}/", {"name": "Mine now", "phrases": "x"}).status_code == 404
    assert admin_client.post(f"{URL}{theirs.pk}/delete/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Globex secret"
    assert "Globex secret" not in admin_client.get(URL).content.decode()


def test_delete_and_restore_only_answer_post(admin_client, org):
    tracker = TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    assert admin_client.get(f"{URL}{tracker.pk}/delete/").status_code == 405
    assert admin_client.get(f"{URL}restore/").status_code == 405
    assert Tracker.objects.filter(pk=tracker.pk).exists()


# --- The page: what an admin does -------------------------------------------------------------


def test_the_list_shows_names_phrases_and_moments(admin_client, org, admin_user):
    trackers_seed_defaults(org=org)
    pricing = Tracker.objects.for_org(org).get(name="Pricing")
    MomentFactory.create_batch(2, engagement=EngagementFactory(org=org, owner=admin_user), org=org, tracker=pricing)
    response = admin_client.get(reverse("settings-trackers"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="chip">per seat</span>' in html
    assert response.context["trackers"][[t.name for t in response.context["trackers"]].index("Pricing")] \
        .moment_count == 2
    assert response.context["missing_defaults"] == []
    assert "Every Chorus default tracker is here." in html


def test_adding_a_tracker(admin_client, org, admin_user):
    response = admin_client.post(URL, {"name": "Security", "phrases": "SOC 2\npen test, SSO"}, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Tracker “Security” added." in response.content.decode()
    assert Tracker.objects.for_org(org).get(name="Security").keywords == ["SOC 2", "pen test", "SSO"]


def test_a_refused_form_keeps_what_was_typed(admin_client, org):
    TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    response = admin_client.post(URL, {"name": "security", "phrases": "pen test\n---"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A tracker named “security” already exists." in html
    assert "“---” has no letters or digits to listen for." in html
    assert 'value="security"' in html and ">\npen test\n---</textarea>" in html
    assert Tracker.objects.for_org(org).count() == 1


def test_editing_a_tracker(admin_client, org):
    tracker = TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    page = admin_client.get(f"{URL}{tracker.pk}/").content.decode()
    assert 'value="Security"' in page and ">\nsoc 2</textarea>" in page
    response = admin_client.post(f"{URL}{tracker.pk}/", {"name": "Security review", "phrases": "soc 2\nsso"})
    assert response.status_code == 302 and response["Location"] == URL
    tracker.refresh_from_db()
    assert (tracker.name, tracker.keywords) == ("Security review", ["soc 2", "sso"])


def test_a_refused_edit_keeps_what_was_typed_and_the_saved_name(admin_client, org):
    TrackerFactory(org=org, name="Legal", keywords=["msa"])
    tracker = TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    response = admin_client.post(f"{URL}{tracker.pk}/", {"name": "LEGAL", "phrases": "soc 2\nnew one"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>Security</h1>" in html and 'value="LEGAL"' in html and "soc 2\nnew one</textarea>" in html
    tracker.refresh_from_db()
    assert (tracker.name, tracker.keywords) == ("Security", ["soc 2"])


def test_deleting_a_tracker(admin_client, org, admin_user):
    tracker = TrackerFactory(org=org, name="Security", keywords=["soc 2"])
    MomentFactory(engagement=EngagementFactory(org=org, owner=admin_user), org=org, tracker=tracker)
    response = admin_client.post(f"{URL}{tracker.pk}/delete/", follow=True)
    assert "Tracker “Security” and its 1 Moment deleted." in response.content.decode()
    assert not Tracker.objects.filter(pk=tracker.pk).exists()


def test_restoring_the_defaults(admin_client, org):
    TrackerFactory(org=org, name="Pricing", keywords=["our own"])
    response = admin_client.post(f"{URL}restore/", follow=True)
    assert "Added 9 default trackers: Budget, Competitors," in response.content.decode()
    assert Tracker.objects.for_org(org).get(name="Pricing").keywords == ["our own"]
    again = admin_client.post(f"{URL}restore/", follow=True)
    assert "Every default tracker is already here." in again.content.decode()


def test_the_list_page_costs_a_bounded_number_of_queries(admin_client, org, admin_user, django_assert_max_num_queries,
                                                         django_assert_num_queries):
    trackers_seed_defaults(org=org)
    with django_assert_max_num_queries(10) as few:
        assert admin_client.get(URL).status_code == 200
    engagement = EngagementFactory(org=org, owner=admin_user)
    for i in range(40):
        tracker = TrackerFactory(org=org, name=f"Extra {i}", keywords=["a", "b"])
        MomentFactory(engagement=engagement, org=org, tracker=tracker)
    with django_assert_num_queries(len(few.captured_queries)):
        assert admin_client.get(URL).status_code == 200
