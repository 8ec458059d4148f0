"""The Chorus for Salesforce managed package (salesforce-package/) and the push
cannot drift apart: everything the push writes to the package's objects and fields
exists in the package's metadata with a compatible type and length; the package's
own pieces (permission set, report types, reports, layouts, the Chorus component)
reference only what it defines; the download zip is the source with the canvas URL
set. The folder itself is also converted by Salesforce's tooling (make
test-salesforce-package)."""

import io
import json
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from chorus.models import Tracker
from crm.models import CrmContact
from crm.providers.salesforce import push
from crm.providers.salesforce.package import (
    ACTIVITY_OBJECTS,
    CANVAS_URL_PLACEHOLDER,
    MD,
    NAMESPACE,
    PACKAGE_DIR,
    SOURCE_DIR,
    api_name,
    package_objects,
    package_zip,
)
from integrations.models import Delivery
from testutils import crm_fakes as testing
from testutils.crm_fakes import drain, matrix
from testutils.factories import MomentFactory, ParticipantFactory

SEED = Path("/work/shared/seed/chorus-integrations-guide.txt")
TEXT = {"Text", "TextArea", "LongTextArea", "Url"}
SF_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
ENGAGEMENT, MOMENT = api_name("Chorus_Engagement__c"), api_name("Chorus_Moment__c")


@pytest.fixture(autouse=True)
def push_crm(push_settings):
    return "salesforce"


def xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 (the repo's own files)


def _md(path: str) -> str:
    return "/".join(MD + part for part in path.split("/"))


def one(root: ET.Element, path: str) -> str:
    found = root.find(_md(path))
    return found.text if found is not None else ""


# --- (a) what the push writes is what the metadata defines ------------------------------------


def _writes(fake) -> list[tuple[str, str, object]]:
    """(sObject, field, value) of every record body the push sent: Collections
    creates/updates and Composite Graph nodes."""
    out = []
    for method, path, body in fake.calls:
        if not isinstance(body, dict):
            continue
        if path.endswith("composite/sobjects") and method in ("POST", "PATCH"):
            for rec in body["records"]:
                out += [(rec["attributes"]["type"], k, v) for k, v in rec.items() if k not in ("attributes", "id")]
        elif path.endswith("composite/graph"):
            for graph in body["graphs"]:
                for node in graph["compositeRequest"]:
                    sobject = node["url"].rsplit("/", 3)[1]
                    out += [(sobject, k, v) for k, v in node["body"].items()]
    return out


def _compatible(sobject: str, field: str, value) -> str:
    """Why ``value`` does not fit ``field`` as the package defines it ("" when it does)."""
    objects = package_objects()
    spec = objects[sobject].get(field)
    if isinstance(value, dict):  # a parent named by its external id (affectlayer__Engagement__r)
        ref = next((f for f in objects[sobject].values() if f.is_reference and f.relationship == field), None)
        if ref is None:
            return "no reference field has this relationship name"
        external = [f.name for f in objects[ref.reference_to].values() if f.external_id]
        return "" if set(value) <= set(external) else f"{set(value)} is not an external id of {ref.reference_to}"
    if spec is None:
        return "not in the package metadata"
    if spec.is_reference:
        prefix = testing.FakeSalesforce.prefix.get(spec.reference_to, "?")
        return "" if isinstance(value, str) and value.startswith(prefix) else f"not an id of {spec.reference_to}"
    if isinstance(value, bool):
        return "" if spec.type == "Checkbox" else f"a boolean for a {spec.type}"
    if isinstance(value, int | float):
        return "" if spec.type == "Number" else f"a number for a {spec.type}"
    if isinstance(value, str) and SF_DATETIME.match(value):
        return "" if spec.type == "DateTime" else f"a datetime for a {spec.type}"
    if isinstance(value, str):
        if spec.type not in TEXT:
            return f"text for a {spec.type}"
        return "" if len(value) <= spec.length else f"{len(value)} characters, the field holds {spec.length}"
    return f"unexpected value {value!r}"


def _everything(org, rep, *, person_id: str, kind: str, title: str):
    e = testing.budget_meeting(org, rep, account="001A00000000001", opportunity="006A00000000001",
                               duration_seconds=1800, title=title)
    email = f"{kind}@pickle.example"
    ParticipantFactory(engagement=e, name=f"Known {kind}", email=email)
    CrmContact.objects.create(org=org, provider="salesforce", remote_id=person_id, kind=kind, email=email,
                              name=f"Known {kind}")
    for i, name in enumerate(["Competitor " + "x" * 109, "Pricing"]):
        tracker = Tracker.objects.get_or_create(org=org, name=name)[0]
        MomentFactory(engagement=e, org=org, tracker=tracker, at_seconds=60 * (i + 1), text="word " * 5000,
                      speaker="S" * 200)
    return e


def test_everything_the_push_writes_exists_in_the_package_metadata(org, rep, connection, fake):
    from crm.push.services import engagement_push_prepare

    cells = {f"{r}_recording": True for r in ("task", "tracker", "custom_object", "contact")}
    matrix(org, **cells, contacts_for_moments=True)
    with_contact = _everything(org, rep, person_id="003A00000000009", kind="contact", title="T" * 300)
    with_lead = _everything(org, rep, person_id="00QA00000000001", kind="lead", title="A lead call")
    for e in (with_contact, with_lead):
        engagement_push_prepare(engagement=e)
    drain()
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists(), list(
        Delivery.objects.exclude(status=Delivery.Status.SENT).values_list("kind", "last_error"))

    objects = package_objects()
    writes = _writes(fake)
    package_writes = [(o, f, v) for o, f, v in writes if o in (ENGAGEMENT, MOMENT) or f.startswith(f"{NAMESPACE}__")]
    assert {o for o, _, _ in package_writes} >= {ENGAGEMENT, MOMENT, "Opportunity"}
    problems = []
    for sobject, field, value in package_writes:
        if field == "OwnerId":  # standard; only objects that are not a master-detail child have an owner
            if any(f.type == "MasterDetail" for f in objects[sobject].values()):
                problems.append(f"{sobject}.OwnerId: a master-detail child has no owner")
            continue
        if sobject not in objects:
            problems.append(f"{sobject}: not an object of the package")
        elif why := _compatible(sobject, field, value):
            problems.append(f"{sobject}.{field}: {why}")
    assert not problems, problems

    # Every optional part went: the Lead lookup for the lead's call, the Contact lookup for the other.
    engagements = {r[api_name("Chorus_Id__c")]: r for r in fake.records[ENGAGEMENT]}
    assert len(engagements) == 2
    lead_row = next(r for r in engagements.values() if r["Name"] == "A lead call")
    contact_row = next(r for r in engagements.values() if r["Name"] != "A lead call")
    assert lead_row[api_name("Lead__c")] == "00QA00000000001" and api_name("Contact__c") not in lead_row
    assert contact_row[api_name("Contact__c")].startswith("003") and api_name("Lead__c") not in contact_row
    assert len(contact_row["Name"]) == 80 and contact_row[api_name("Recording_URL__c")]
    moments = fake.records[MOMENT]
    assert len(moments) == 6 and all("OwnerId" not in m for m in moments)  # the Budget one + 2, twice
    assert max(len(m[api_name("Speaker__c")]) for m in moments) == 200
    written = {(o, f) for o, f, _ in package_writes}
    for local in ("Type__c", "Start_Time__c", "Duration_Seconds__c", "Recording_URL__c", "Account__c",
                  "Opportunity__c", "Contact__c", "Lead__c"):
        assert (ENGAGEMENT, api_name(local)) in written, local
    for local in ("Engagement__r", "Tracker__c", "Seconds__c", "Text__c", "Speaker__c", "Contact__c"):
        assert (MOMENT, api_name(local)) in written, local
    assert ("Opportunity", api_name("Chorus_Trackers__c")) in written


def test_a_field_the_metadata_lacks_fails_the_check():
    assert _compatible(ENGAGEMENT, api_name("Sentiment__c"), "up") == "not in the package metadata"
    assert "holds 255" in _compatible(MOMENT, api_name("Tracker__c"), "x" * 256)
    assert _compatible(ENGAGEMENT, api_name("Lead__c"), "003A00000000001") == "not an id of Lead"
    assert _compatible(ENGAGEMENT, api_name("Duration_Seconds__c"), "long") == "text for a Number"


def test_the_fake_refuses_values_the_fields_do_not_take(connection, fake):
    from crm.providers.salesforce.push import salesforce_client

    sf, _ = salesforce_client(instance_url=connection.config["instance_url"], access_token="t")
    answers = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "id": "006A00000000001", api_name("Chorus_Trackers__c"): "x" * 256},
        {"attributes": {"type": "Opportunity"}, "id": "006A00000000002", api_name("Chorus_Trackers__c"): "ok"}]})
    assert answers[0]["success"] is False and answers[0]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert answers[0]["errors"][0]["fields"] == [api_name("Chorus_Trackers__c")]
    assert answers[1]["success"] is True
    key = api_name("Chorus_Id__c")
    graph = sf.restful("composite/graph", method="POST", json={"graphs": [{"graphId": "g1", "compositeRequest": [
        {"method": "PATCH", "referenceId": "engagement", "url": f"/services/data/v59.0/sobjects/{ENGAGEMENT}/{key}/k1",
         "body": {"Name": "x", api_name("Account__c"): "003A00000000001"}}]}]})["graphs"][0]
    assert graph["isSuccessful"] is False
    assert graph["graphResponse"]["compositeResponse"][0]["body"][0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    graph = sf.restful("composite/graph", method="POST", json={"graphs": [{"graphId": "g2", "compositeRequest": [
        {"method": "PATCH", "referenceId": "engagement", "url": f"/services/data/v59.0/sobjects/{ENGAGEMENT}/{key}/k2",
         "body": {"Name": "x", api_name("Duration_Seconds__c"): "long"}}]}]})["graphs"][0]
    assert graph["graphResponse"]["compositeResponse"][0]["body"][0]["errorCode"] == "JSON_PARSER_ERROR"
    assert not fake.records[ENGAGEMENT]


def test_the_push_names_come_from_the_package():
    assert push.ENGAGEMENT_OBJECT == "affectlayer__Chorus_Engagement__c"
    assert push.EXTERNAL_ID == "affectlayer__Chorus_Id__c" and push.TRACKERS_FIELD == "affectlayer__Chorus_Trackers__c"
    assert push.ENGAGEMENT_RELATIONSHIP == "affectlayer__Engagement__r"
    assert api_name("Name") == "Name" and api_name("OwnerId") == "OwnerId" and api_name("Account") == "Account"
    assert api_name("affectlayer__Text__c") == "affectlayer__Text__c"
    # The "package missing" sentence still recognises the package's (namespaced) names.
    assert "Chorus object or field" in push.missing_sentence(
        "No such column 'affectlayer__Type__c' on sobject of type Opportunity", "INVALID_FIELD")


# --- (b) the external ids the push upserts on ----------------------------------------------------


def test_every_upsert_key_is_an_external_unique_id():
    objects = package_objects()
    for sobject in (push.ENGAGEMENT_OBJECT, push.MOMENT_OBJECT):
        spec = objects[sobject][push.EXTERNAL_ID]
        assert spec.external_id and spec.unique and spec.type == "Text", sobject
    assert testing.FakeSalesforce.prefix  # the fake's external ids are the metadata's
    from testutils.crm_fakes.salesforce import EXTERNAL_IDS
    assert EXTERNAL_IDS == {push.ENGAGEMENT_OBJECT: push.EXTERNAL_ID, push.MOMENT_OBJECT: push.EXTERNAL_ID}


def test_activity_fields_apply_to_tasks_and_events():
    objects = package_objects()
    for name in ACTIVITY_OBJECTS:
        assert objects[name] == objects["Activity"]


# --- (c) the folder is consistent with itself ----------------------------------------------------


def _local_fields() -> dict[str, dict[str, ET.Element]]:
    out: dict[str, dict[str, ET.Element]] = {}
    for path in sorted(SOURCE_DIR.glob("objects/*/fields/*.field-meta.xml")):
        out.setdefault(path.parts[-3], {})[path.name.split(".")[0]] = xml(path)
    return out


def _relationships() -> dict[str, dict[str, tuple[str, str]]]:
    """{parent object: {relationshipName__r: (child object, field)}} of the package's references."""
    out: dict[str, dict[str, tuple[str, str]]] = {"Account": {"Opportunities": ("Opportunity", "AccountId")}}
    for obj, fields in _local_fields().items():
        for name, root in fields.items():
            if one(root, "type") in ("Lookup", "MasterDetail"):
                out.setdefault(one(root, "referenceTo"), {})[one(root, "relationshipName") + "__r"] = (obj, name)
    return out


def test_every_xml_file_parses_and_the_project_has_the_namespace():
    files = [p for p in PACKAGE_DIR.rglob("*.xml") if "node_modules" not in p.parts and "build" not in p.parts]
    assert len(files) > 30
    for path in files:
        xml(path)
    project = json.loads((PACKAGE_DIR / "sfdx-project.json").read_text())
    assert project["namespace"] == NAMESPACE and project["sourceApiVersion"] == "59.0"
    assert [d["path"] for d in project["packageDirectories"] if d.get("default")] == ["force-app"]


def test_the_permission_set_covers_every_eligible_field_and_both_objects():
    root = xml(SOURCE_DIR / "permissionsets/Chorus_Admin.permissionset-meta.xml")
    assert one(root, "label") == "Chorus Admin"
    eligible = {f"{obj}.{name}" for obj, fields in _local_fields().items() for name, f in fields.items()
                if one(f, "type") != "MasterDetail" and one(f, "required") != "true"}
    granted = {one(fp, "field") for fp in root.iterfind(_md("fieldPermissions"))}
    assert granted == eligible
    objects = {one(op, "object"): op for op in root.iterfind(_md("objectPermissions"))}
    assert set(objects) == {"Chorus_Engagement__c", "Chorus_Moment__c"}
    for op in objects.values():
        for perm in ("allowCreate", "allowRead", "allowEdit", "allowDelete", "viewAllRecords"):
            assert one(op, perm) == "true"
    assert [one(c, "apexClass") for c in root.iterfind(_md("classAccesses"))] == ["ChorusSyncService"]
    tabs = {one(t, "tab") for t in root.iterfind(_md("tabSettings"))}
    assert tabs == {p.name.split(".")[0] for p in SOURCE_DIR.glob("tabs/*.tab-meta.xml")}


def _report_types() -> dict[str, dict[str, set[str]]]:
    """{report type: {table: {columns}}}, checking each join on the way."""
    relationships = _relationships()
    fields = _local_fields()
    out = {}
    for path in sorted(SOURCE_DIR.glob("reportTypes/*.reportType-meta.xml")):
        root = xml(path)
        assert one(root, "deployed") == "true"
        table, obj, tables = one(root, "baseObject"), one(root, "baseObject"), {}
        tables[table] = obj
        join = root.find(_md("join"))
        while join is not None:
            rel = one(join, "relationship")
            assert rel in relationships.get(obj, {}), f"{path.name}: {obj} has no relationship {rel}"
            obj, table = relationships[obj][rel][0], f"{table}.{rel}"
            tables[table] = obj
            join = join.find(_md("join"))
        columns: dict[str, set[str]] = {}
        for section in root.iterfind(_md("sections")):
            for col in section.iterfind(_md("columns")):
                t, f = one(col, "table"), one(col, "field")
                assert t in tables, f"{path.name}: no table {t}"
                if f.endswith("__c"):
                    assert f in fields.get(tables[t], {}), f"{path.name}: {tables[t]} has no field {f}"
                columns.setdefault(t, set()).add(f)
        out[path.name.split(".")[0]] = columns
    return out


def test_report_types_join_on_the_package_relationships():
    types = _report_types()
    assert set(types) == {"Account_Opportunities_with_engagement", "Opportunity_With_Engagement",
                          "Opportunity_With_Moment"}
    assert set(types["Account_Opportunities_with_engagement"]) == {
        "Account", "Account.Opportunities", "Account.Opportunities.Chorus_Engagements__r",
        "Account.Opportunities.Chorus_Engagements__r.Moments__r"}  # the seed's A → B → C → D
    label = one(xml(SOURCE_DIR / "reportTypes/Opportunity_With_Moment.reportType-meta.xml"), "label")
    assert label == "Opportunity With Moment"


def test_reports_use_existing_report_types_and_columns():
    types = _report_types()
    folder = xml(SOURCE_DIR / "reports/ChorusReports.reportFolder-meta.xml")
    assert one(folder, "name") == "ChorusReports"
    reports = sorted(SOURCE_DIR.glob("reports/ChorusReports/*.report-meta.xml"))
    assert len(reports) >= 3
    for path in reports:
        root = xml(path)
        rtype = one(root, "reportType")
        assert rtype.endswith("__c") and rtype[:-3] in types, f"{path.name}: no report type {rtype}"
        columns = types[rtype[:-3]]
        used = ([one(c, "field") for c in root.iterfind(_md("columns"))]
                + [one(g, "field") for g in root.iterfind(_md("groupingsDown"))]
                + [one(c, "column") for c in root.iterfind(_md("filter/criteriaItems"))]
                + [one(root, "timeFrameFilter/dateColumn")])
        for ref in filter(None, used):
            table, field = ref.split("$")
            assert field in columns.get(table, set()), f"{path.name}: {ref} is not a column of {rtype}"


def test_layouts_related_lists_name_existing_relationships():
    fields = _local_fields()
    layouts = sorted(SOURCE_DIR.glob("layouts/*.layout-meta.xml"))
    names = {p.name.split("-")[0] for p in layouts}
    assert {"Opportunity", "Contact", "Chorus_Engagement__c", "Chorus_Moment__c"} <= names
    for path in layouts:
        parent = path.name.split("-")[0]
        for related in xml(path).iterfind(_md("relatedLists")):
            name = one(related, "relatedList")
            if "." not in name:
                continue  # a standard related list (RelatedActivityList)
            child, field = name.split(".")
            spec = fields.get(child, {}).get(field)
            assert spec is not None and one(spec, "referenceTo") == parent, f"{path.name}: {name}"
            for column in (c.text for c in related.iterfind(_md("fields"))):
                assert column == "NAME" or column in fields[child], f"{path.name}: {child} has no {column}"
        for item in xml(path).iterfind(_md("layoutSections/layoutColumns/layoutItems")):
            field = one(item, "field")
            assert not field.endswith("__c") or field in fields.get(parent, {}), f"{path.name}: {field}"
    opportunity = xml(SOURCE_DIR / "layouts/Opportunity-Chorus Opportunity Layout.layout-meta.xml")
    assert "Chorus_Engagement__c.Opportunity__c" in {one(r, "relatedList") for r in
                                                     opportunity.iterfind(_md("relatedLists"))}


def test_the_chorus_component_is_the_seeds_snippet():
    seed = SEED.read_text()
    snippet = seed[seed.index("<aura:component description=\"canvasly\""):seed.index("</aura:component>")]
    snippet += "</aura:component>"
    assert (SOURCE_DIR / "aura/Chorus/Chorus.cmp").read_text().strip() == snippet.strip()
    app = xml(SOURCE_DIR / "connectedApps/AffectLayer_Notes.connectedApp-meta.xml")
    assert one(app, "canvasConfig/accessMethod") == "Post"
    assert one(app, "canvasConfig/canvasUrl") == CANVAS_URL_PLACEHOLDER
    assert {e.text for e in app.iterfind(_md("canvasConfig/locations"))} >= {"Aura", "PageLayout", "Visualforce"}
    oauth = xml(SOURCE_DIR / "connectedApps/Chorus_ai.connectedApp-meta.xml")
    assert one(oauth, "label") == "Chorus.ai"
    assert {e.text for e in oauth.iterfind(_md("oauthConfig/scopes"))} >= {"Api", "RefreshToken"}


def test_the_apex_service_queries_the_package_fields():
    source = (SOURCE_DIR / "classes/ChorusSyncService.cls").read_text()
    assert "global with sharing class ChorusSyncService" in source
    used = set(re.findall(r"\b(\w+__[cr])\b", source))
    known = {n for fields in _local_fields().values() for n in fields} | {"Chorus_Engagement__c", "Chorus_Moment__c"}
    known |= {rel for rels in _relationships().values() for rel in rels}  # parent to children (Moments__r)
    known |= {n[:-3] + "__r" for fields in _local_fields().values() for n in fields}  # child to parent
    assert used <= known, used - known


# --- (d) the download ----------------------------------------------------------------------------


def test_the_package_zip_is_the_source_with_the_canvas_url():
    data = package_zip(canvas_url="https://chorus.test/integrations/salesforce/canvas/?a=1&b=2")
    assert data == package_zip(canvas_url="https://chorus.test/integrations/salesforce/canvas/?a=1&b=2")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert "sfdx-project.json" in names
        assert "force-app/main/default/aura/Chorus/Chorus.cmp" in names
        assert "force-app/main/default/objects/Chorus_Engagement__c/fields/Lead__c.field-meta.xml" in names
        assert not [n for n in names if n.startswith("tools/") or "node_modules" in n or n.startswith("build/")]
        app = zf.read("force-app/main/default/connectedApps/AffectLayer_Notes.connectedApp-meta.xml").decode()
        assert CANVAS_URL_PLACEHOLDER not in app
        assert not [n for n in names if CANVAS_URL_PLACEHOLDER.encode() in zf.read(n)]
        assert {n.split("/")[0] for n in names} == {"sfdx-project.json", "force-app"}
        assert "<canvasUrl>https://chorus.test/integrations/salesforce/canvas/?a=1&amp;b=2</canvasUrl>" in app
        ET.fromstring(app)  # noqa: S314 (our own output)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
