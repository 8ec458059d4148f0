"""SCIM filters (RFC 7644 §3.4.2.2): every operator on every attribute answers 200 or a
SCIM 400 ``invalidFilter``, never a 500; the supported ones find the right resources,
case-insensitively where the attribute is not ``caseExact``."""

import pytest

from sso.tests.conftest import GROUP_SCHEMA, USER_SCHEMA

pytestmark = pytest.mark.django_db

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
# A string, a boolean, a number, a DateTime, null, an empty string, and a value
# that is valid text but no id of ours.
VALUES = ('"acme"', "true", "false", "7", '"2024-05-13T04:42:34Z"', "null", '""', '"99999999999999999999"')

STRING, BOOLEAN, DATETIME, ID = "string", "boolean", "dateTime", "id"
USER_ATTRIBUTES = {
    "userName": STRING, f"{USER_SCHEMA}:userName": STRING, "id": ID, "externalId": STRING, "displayName": STRING,
    "name.givenName": STRING, "name.familyName": STRING, "emails": STRING, "emails.value": STRING,
    "emails.type": STRING, "emails.primary": BOOLEAN, "title": STRING, "active": BOOLEAN,
    "chorus_role": STRING, f"{USER_SCHEMA}:chorus_role": STRING, "chorus_license_type": STRING,
    "manager_email": STRING, "groups": ID, "groups.value": ID, "groups.display": STRING,
    "meta.created": DATETIME, "meta.lastModified": DATETIME,
    f"{ENTERPRISE}:manager": ID, f"{ENTERPRISE}:manager.value": ID,
    # Not filterable: every operator is a 400 invalidFilter.
    "name": None, "name.formatted": None, "nickName": None, "phoneNumbers.value": None, "password": None,
    "meta.resourceType": None, "meta.location": None, "manager.value": None, "schemas": None,
    f"{ENTERPRISE}:department": None, "urn:example:custom:2.0:User:thing": None,
}
GROUP_ATTRIBUTES = {
    "displayName": STRING, f"{GROUP_SCHEMA}:displayName": STRING, "id": ID, "externalId": STRING,
    "members": ID, "members.value": ID, "meta.created": DATETIME, "meta.lastModified": DATETIME,
    "members.display": None, "members.type": None, "name": None, "userName": None, "meta.version": None,
    f"{USER_SCHEMA}:userName": None,
}


def expected_status(kind: str | None, op: str, value: str) -> int:
    """What RFC 7644 asks for the attribute's type: booleans take eq/ne/pr with
    true/false (gt…le on a boolean SHALL be invalidFilter), DateTimes take every
    operator but co/sw/ew with a DateTime value, strings and ids every operator."""
    if kind is None:
        return 400
    if op == "pr" or kind in (STRING, ID):
        return 200
    if kind == BOOLEAN:
        return 200 if op in ("eq", "ne") and value in ("true", "false") else 400
    return 200 if op not in ("co", "sw", "ew") and value.startswith('"20') else 400


def assert_scim_answer(response, status: int, flt: str):
    body = response.json()
    assert response["Content-Type"].startswith("application/scim+json"), flt
    assert response.status_code == status, (flt, body)
    if status == 200:
        assert body["schemas"] == [LIST] and isinstance(body["totalResults"], int), flt
    else:
        assert body["schemas"] == [ERROR] and body["scimType"] == "invalidFilter" and body["status"] == "400", flt


def matrix(attributes: dict) -> list:
    return [pytest.param(attr, kind, id=attr.rsplit(":", 1)[-1] + ("-urn" if ":" in attr else ""))
            for attr, kind in attributes.items()]


@pytest.fixture
def people(scim, scim_org):
    """Three users and two teams, made over SCIM as IdPs make them."""
    def user(body):
        response = scim.post("/Users", {"schemas": [USER_SCHEMA, ENTERPRISE], **body})
        assert response.status_code == 201, response.content
        return response.json()

    ava = user({"userName": "Ava.Okta@acme.com", "externalId": "ext-AVA", "title": "AE",
                "name": {"givenName": "Ava", "familyName": "Okta"}, "chorus_role": "Rep (AE/Other)"})
    bob = user({"userName": "okta.bob@acme.com", "title": "SDR Manager", "active": False,
                "name": {"givenName": "Bob", "familyName": "Builder"}, "chorus_role": "Manager (SDR)",
                "chorus_license_type": "listener", "manager_email": "ava.okta@acme.com"})
    carol = user({"userName": "Carol.Azure@acme.onmicrosoft.com", "externalId": "EXT-carol",
                  "emails": [{"value": "carol@acme.example", "type": "work", "primary": True}],
                  ENTERPRISE: {"manager": {"value": ava["id"]}}})
    west = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "West Sales", "externalId": "aad-west",
                                 "members": [{"value": ava["id"]}, {"value": bob["id"]}]}).json()
    east = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "East",
                                 "members": [{"value": carol["id"]}]}).json()
    empty = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Nobody Yet"}).json()
    # Teams follow managers: Ava's own team was made for Bob and Carol, and is empty now.
    teams = {g["id"] for g in scim.get("/Groups", {"count": 200}).json()["Resources"]}
    return {"ava": ava["id"], "bob": bob["id"], "carol": carol["id"],
            "west": west["id"], "east": east["id"], "empty": empty["id"], "teams": teams}


# --- Every operator × every attribute -----------------------------------------------------------


@pytest.mark.parametrize(("attr", "kind"), matrix(USER_ATTRIBUTES))
def test_every_operator_on_every_user_attribute_is_200_or_invalid_filter(scim, people, attr, kind):
    assert_scim_answer(scim.get("/Users", {"filter": f"{attr} pr"}), expected_status(kind, "pr", ""), f"{attr} pr")
    for op in OPERATORS:
        for value in VALUES:
            flt = f"{attr} {op} {value}"
            assert_scim_answer(scim.get("/Users", {"filter": flt}), expected_status(kind, op, value), flt)
            # Negated, combined, grouped and in a value path: the same answer.
            for wrapped in (f"not ({flt})", f"({flt}) and userName pr", f"userName eq \"x\" or {flt}"):
                assert_scim_answer(scim.get("/Users", {"filter": wrapped}), expected_status(kind, op, value), wrapped)


@pytest.mark.parametrize(("attr", "kind"), matrix(GROUP_ATTRIBUTES))
def test_every_operator_on_every_group_attribute_is_200_or_invalid_filter(scim, people, attr, kind):
    assert_scim_answer(scim.get("/Groups", {"filter": f"{attr} pr"}), expected_status(kind, "pr", ""), f"{attr} pr")
    for op in OPERATORS:
        for value in VALUES:
            flt = f"{attr} {op} {value}"
            assert_scim_answer(scim.get("/Groups", {"filter": flt}), expected_status(kind, op, value), flt)
            wrapped = f"not ({flt}) or displayName pr"
            assert_scim_answer(scim.get("/Groups", {"filter": wrapped}), expected_status(kind, op, value), wrapped)


@pytest.mark.parametrize(("resource", "parent", "subs"), [
    ("/Users", "emails", {"value": STRING, "type": STRING, "primary": BOOLEAN, "display": None}),
    ("/Users", "groups", {"value": ID, "display": STRING, "type": None}),
    ("/Groups", "members", {"value": ID, "display": None, "type": None}),
])
def test_every_operator_inside_value_paths(scim, people, resource, parent, subs):
    for sub, kind in subs.items():
        for op in OPERATORS:
            for value in ('"acme"', "true", '"2024-05-13T04:42:34Z"'):
                status = expected_status(kind, op, value)
                for flt in (f"{parent}[{sub} {op} {value}]", f"{parent}[not ({sub} {op} {value})]",
                            f"{parent}[{sub} {op} {value} and {sub} pr]", f"{parent}[{sub} pr] and not "
                            f"({parent}[{sub} {op} {value} or {sub} pr])"):
                    assert_scim_answer(scim.get(resource, {"filter": flt}), status, flt)


@pytest.mark.parametrize("flt", [
    'userName eq', 'userName zz "x"', 'userName regex "x"', '(userName pr', 'userName pr)', 'and userName pr',
    'emails[type eq "work"', 'emails[emails[type eq "work"]]', 'emails.value[type eq "work"]',
    'emails[type.value eq "x"]', 'emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq "x"]',
    'userName eq "a\x00b"', 'userName eq "x" ' + "or userName pr " * 300, "(" * 60 + "userName pr" + ")" * 60,
    'userName eq "x"]', '"just a string"', "   ", 'userName eq \'single\'',
])
def test_malformed_filters_are_invalid_filter(scim, people, flt):
    assert_scim_answer(scim.get("/Users", {"filter": flt}), 400, flt)
    assert_scim_answer(scim.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                                     "filter": flt}), 400, flt)


# --- Results: the right resources, case-insensitive where the RFC says so ----------------------


def ids(scim, flt, resource="/Users"):
    response = scim.get(resource, {"filter": flt})
    assert response.status_code == 200, response.json()
    return {r["id"] for r in response.json()["Resources"]}


def test_username_operators_from_the_issue(scim, people):
    """The three filters of the report: 500 before, now the users they name."""
    assert ids(scim, 'userName co "acme.com"') == {people["ava"], people["bob"]}
    assert ids(scim, 'userName sw "okta."') == {people["bob"]}
    assert ids(scim, "userName pr") == {people["ava"], people["bob"], people["carol"]}


@pytest.mark.parametrize(("flt", "who"), [
    ('userName co "ACME.COM"', {"ava", "bob"}),
    ('userName sw "OKTA."', {"bob"}),
    ('userName ew "@Acme.OnMicrosoft.com"', {"carol"}),
    ('userName eq "carol.azure@ACME.onmicrosoft.com"', {"carol"}),
    ('userName ne "ava.okta@acme.com"', {"bob", "carol"}),
    ('userName gt "C"', {"carol", "bob"}),      # lexicographic, case-insensitive: "carol…", "okta…" > "c"
    ('userName lt "b"', {"ava"}),
    ('userName le "AVA.OKTA@ACME.COM"', {"ava"}),
    ('emails.value co "Carol@"', {"carol"}),
    ('emails eq "BOB" or emails sw "okta.BOB"', {"bob"}),
    ('emails[type eq "work" and value ew "ACME.EXAMPLE"]', {"carol"}),
    ('emails[type eq "work"].value eq "AVA.OKTA@acme.com"', {"ava"}),
    ('emails[primary eq true]', {"ava", "bob", "carol"}),
    ('name.givenName eq "ava"', {"ava"}),
    ('name.familyName sw "b"', {"bob"}),
    ('displayName eq "bob builder"', {"bob"}),
    ('displayName eq "carol@acme.example"', {"carol"}),  # no name: the email, as the answer shows it
    ('title pr', {"ava", "bob"}),
    ('not (title pr)', {"carol"}),
    ('title gt "b"', {"bob"}),
    ('active eq false', {"bob"}),
    ('active ne true', {"bob"}),
    ('active eq "False"', {"bob"}),                # Entra's strings
    ('externalId eq "ext-AVA"', {"ava"}),
    ('externalId eq "EXT-AVA"', set()),            # caseExact (RFC 7643 §3.1)
    ('externalId pr', {"ava", "carol"}),
    ('chorus_role eq "manager (sdr)"', {"bob"}),
    ('chorus_role co "rep"', {"ava", "carol"}),    # Carol got the default role
    ('chorus_license_type eq "LISTENER"', {"bob"}),
    ('chorus_license_type ne "listener"', {"ava", "carol"}),
    ('manager_email eq "AVA.OKTA@acme.com"', {"bob", "carol"}),  # Carol's enterprise manager is Ava too
    ('manager_email pr', {"bob", "carol"}),
    ('manager_email co "nobody"', set()),
    ('groups.display eq "west sales"', {"ava", "bob"}),
    ('groups[display sw "EAST"]', {"carol"}),
    ('not (groups pr)', set()),
    ('meta.created gt "2000-01-01T00:00:00Z"', {"ava", "bob", "carol"}),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
    ('meta.created ge "2000-01-01"', {"ava", "bob", "carol"}),
])
def test_user_filter_results(scim, people, flt, who):
    assert ids(scim, flt) == {people[name] for name in who}


def test_id_and_manager_filters(scim, people):
    ava = people["ava"]
    assert ids(scim, f'id eq "{ava}"') == {ava}
    assert ids(scim, f'id ne "{ava}"') == {people["bob"], people["carol"]}
    assert ids(scim, 'id eq "not-a-number"') == set()
    assert ids(scim, 'id eq "²"') == set()
    # Bob's manager_email and Carol's enterprise manager both name Ava.
    assert ids(scim, f'{ENTERPRISE}:manager.value eq "{ava}"') == {people["bob"], people["carol"]}
    assert ids(scim, f'{ENTERPRISE}:manager.value eq "99999999999999999999"') == set()
    assert ids(scim, f'{ENTERPRISE}:manager pr and not (active eq false)') == {people["carol"]}
    west = people["west"]
    assert ids(scim, f'groups.value eq "{west.upper()}"') == {ava, people["bob"]}
    assert ids(scim, 'groups sw "team-"') == {ava, people["bob"], people["carol"]}


def test_and_binds_tighter_than_or(scim, people):
    """RFC 7644 §3.4.2.2: "not", then "and", then "or". (scim2-filter-parser alone
    reads ``a or b and c`` as ``(a or b) and c``, which would drop Bob here.)"""
    assert ids(scim, 'active eq false or title eq "AE" and active eq true') == {people["bob"], people["ava"]}
    assert ids(scim, '(active eq false or title eq "AE") and active eq true') == {people["ava"]}
    assert ids(scim, 'title eq "AE" and active eq true or active eq false') == {people["ava"], people["bob"]}
    assert ids(scim, 'not (userName co "okta") and not (title pr)') == {people["carol"]}
    assert ids(scim, 'userName sw "ava" or userName sw "bob" or userName sw "carol" or userName sw "okta"') == {
        people["ava"], people["bob"], people["carol"]}
    # A long list of alternatives is not "nested too deeply".
    many = " or ".join(f'userName eq "nobody{n}@acme.com"' for n in range(100))
    assert ids(scim, f'{many} or userName sw "okta."') == {people["bob"]}


@pytest.mark.parametrize(("flt", "teams"), [
    ('displayName co "WEST"', {"west"}),
    ('displayName eq "east"', {"east"}),
    ('displayName sw "nobody" or displayName ew "SALES"', {"west", "empty"}),
    ('externalId eq "aad-west"', {"west"}),
    ('externalId eq "AAD-WEST"', set()),
    ('members pr', {"west", "east"}),
])
def test_group_filter_results(scim, people, flt, teams):
    assert ids(scim, flt, "/Groups") == {people[name] for name in teams}


def test_group_filters_over_every_team(scim, people):
    teams = people["teams"]
    assert people["empty"] in teams and len(teams) == 4
    assert ids(scim, "not (members pr)", "/Groups") == teams - {people["west"], people["east"]}
    assert ids(scim, 'meta.created gt "2000-01-01T00:00:00Z"', "/Groups") == teams
    assert ids(scim, 'meta.lastModified le "2000-01-01T00:00:00Z"', "/Groups") == set()
    assert ids(scim, 'id sw "TEAM-"', "/Groups") == teams
    assert ids(scim, f'id eq "{people["east"].upper()}"', "/Groups") == {people["east"]}
    assert ids(scim, f'id ne "{people["east"]}"', "/Groups") == teams - {people["east"]}


def test_group_member_filters_match_one_member_each(scim, people):
    ava, bob, carol = people["ava"], people["bob"], people["carol"]
    west, east = people["west"], people["east"]
    assert ids(scim, f'members[value eq "{ava}"]', "/Groups") == {west}
    assert ids(scim, f'members.value eq "{carol}"', "/Groups") == {east}
    assert ids(scim, f'id eq "{west}" and members[value eq "{bob}"]', "/Groups") == {west}
    # Both conditions on one member: nobody is Ava and Bob at once.
    assert ids(scim, f'members[value eq "{ava}" and value eq "{bob}"]', "/Groups") == set()
    # Two value paths: a team with a member Ava and a member Bob.
    assert ids(scim, f'members[value eq "{ava}"] and members[value eq "{bob}"]', "/Groups") == {west}
    assert ids(scim, f'members[value eq "{ava}" or value eq "{carol}"]', "/Groups") == {west, east}
    assert ids(scim, f'not (members[value eq "{ava}"])', "/Groups") == people["teams"] - {west}
    assert ids(scim, 'members[value eq "99999999999999999999"]', "/Groups") == set()


def test_filters_never_see_another_organisation(scim, other_scim, people):
    other_scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "okta.spy@acme.com"})
    assert ids(scim, 'userName sw "okta."') == {people["bob"]}
    assert ids(other_scim, 'userName co "acme.com"') != set()
    assert people["ava"] not in ids(other_scim, "userName pr")
    assert ids(other_scim, f'members[value eq "{people["ava"]}"]', "/Groups") == set()
