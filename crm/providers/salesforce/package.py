"""The Chorus for Salesforce managed package, read from its SFDX source folder
(``salesforce-package/``): the objects and fields it defines (the push writes
exactly these, under the package's namespace) and the zip an admin downloads from
Settings > Integrations > Install Salesforce Package.

Interface (callers rely on these names):

* ``NAMESPACE`` — the package's namespace prefix (``affectlayer``).
* ``api_name(local)`` — a package component's API name in a subscriber org
  (``Chorus_Engagement__c`` → ``affectlayer__Chorus_Engagement__c``).
* ``package_objects()`` — {object API name: {field API name: FieldSpec}} as the
  metadata defines them (namespaced).
* ``package_zip(*, canvas_url: str) -> bytes`` — the source folder as a zip, the
  connected app's canvas URL set to ``canvas_url``.

In a subscriber org every custom component of a managed package carries the
namespace prefix (``affectlayer__Chorus_Id__c``); standard objects and fields keep
their names. Salesforce defines Task and Event custom fields on ``Activity``
("Activity Custom Fields", Metadata API Developer Guide, CustomField): the fields
under ``objects/Activity`` apply to both (``ACTIVITY_OBJECTS``).
"""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

NAMESPACE = "affectlayer"
PACKAGE_DIR = Path(__file__).resolve().parents[3] / "salesforce-package"
SOURCE_DIR = PACKAGE_DIR / "force-app" / "main" / "default"
MD = "{http://soap.sforce.com/2006/04/metadata}"
# The canvas connected app's canvasUrl in the source; package_zip sets the real one.
CANVAS_URL_PLACEHOLDER = "https://chorus.invalid/__CHORUS_CANVAS_URL__"
CANVAS_APP_FILE = "force-app/main/default/connectedApps/AffectLayer_Notes.connectedApp-meta.xml"
# What the downloadable zip holds: the SFDX project, never tools/ (node_modules) or build output.
ZIP_ROOTS = ("sfdx-project.json", "force-app")
ZIP_EXCLUDE = {"node_modules", "build", ".sfdx", ".sf", "__pycache__"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Task and Event custom fields are defined on Activity.
ACTIVITY_OBJECTS = ("Task", "Event")
TEXT_TYPES = {"Text", "TextArea", "LongTextArea", "Url", "Html", "EncryptedText", "Email", "Phone"}
REFERENCE_TYPES = {"Lookup", "MasterDetail"}
URL_LENGTH = 255


def api_name(local: str) -> str:
    """``Chorus_Engagement__c`` → ``affectlayer__Chorus_Engagement__c`` (also
    ``__r`` relationship names); standard names (``Name``, ``OwnerId``) unchanged,
    names already namespaced unchanged."""
    if not local.endswith(("__c", "__r")) or local.count("__") > 1:
        return local
    return f"{NAMESPACE}__{local}"


@dataclass(frozen=True)
class FieldSpec:
    name: str  # API name, namespaced (affectlayer__Chorus_Id__c)
    type: str  # Text, TextArea, LongTextArea, Url, Number, DateTime, Lookup, MasterDetail, …
    label: str = ""
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    external_id: bool = False
    unique: bool = False
    required: bool = False
    reference_to: str | None = None  # namespaced object API name
    relationship_name: str | None = None  # namespaced (affectlayer__Moments)

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_reference(self) -> bool:
        return self.type in REFERENCE_TYPES

    @property
    def relationship(self) -> str:
        """The ``__r`` name a record uses to name its parent (``affectlayer__Engagement__r``)."""
        return self.name[:-3] + "__r" if self.name.endswith("__c") else self.name.removesuffix("Id")


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(MD + tag)
    return child.text.strip() if child is not None and child.text else None


def _int(el: ET.Element, tag: str) -> int | None:
    value = _text(el, tag)
    return int(value) if value is not None else None


def _bool(el: ET.Element, tag: str) -> bool:
    return (_text(el, tag) or "false").lower() == "true"


def parse_field(path: Path) -> FieldSpec:
    root = ET.parse(path).getroot()  # noqa: S314 (the repo's own metadata files)
    local = _text(root, "fullName") or path.name.split(".")[0]
    kind = _text(root, "type") or ""
    reference = _text(root, "referenceTo")
    relationship = _text(root, "relationshipName")
    return FieldSpec(
        name=api_name(local), type=kind, label=_text(root, "label") or "",
        # A Url field has no length in its metadata: Salesforce holds 255 characters.
        length=_int(root, "length") or (URL_LENGTH if kind == "Url" else None),
        precision=_int(root, "precision"), scale=_int(root, "scale"), external_id=_bool(root, "externalId"),
        unique=_bool(root, "unique"), required=_bool(root, "required") or kind == "MasterDetail",
        reference_to=api_name(reference) if reference else None,
        relationship_name=f"{NAMESPACE}__{relationship}" if relationship else None)


def _name_field(object_dir: Path) -> FieldSpec | None:
    meta = object_dir / f"{object_dir.name}.object-meta.xml"
    if not meta.exists():
        return None
    name = ET.parse(meta).getroot().find(MD + "nameField")  # noqa: S314 (the repo's own files)
    if name is None:
        return None
    kind = _text(name, "type") or "Text"
    # A custom object's Text name field holds 80 characters (CustomObject, nameField).
    return FieldSpec(name="Name", type=kind, label=_text(name, "label") or "Name",
                     length=80 if kind == "Text" else None)


@functools.cache
def package_objects() -> dict[str, dict[str, FieldSpec]]:
    """{object API name: {field API name: FieldSpec}}: the package's custom objects
    (with their Text ``Name``) and the fields it adds to standard objects (keyed by
    the standard name; ``Activity`` fields also listed under Task and Event)."""
    out: dict[str, dict[str, FieldSpec]] = {}
    for object_dir in sorted(p for p in (SOURCE_DIR / "objects").iterdir() if p.is_dir()):
        fields: dict[str, FieldSpec] = {}
        if name := _name_field(object_dir):
            fields["Name"] = name
        for path in sorted((object_dir / "fields").glob("*.field-meta.xml")):
            spec = parse_field(path)
            fields[spec.name] = spec
        out[api_name(object_dir.name)] = fields
    for alias in ACTIVITY_OBJECTS:
        if "Activity" in out:
            out[alias] = dict(out["Activity"])
    return out


def custom_objects() -> list[str]:
    """The package's own objects (namespaced), not the standard ones it adds fields to."""
    return [name for name in package_objects() if name.endswith("__c")]


def field(sobject: str, local_field: str) -> FieldSpec:
    """The spec of a package field by local names (``field("Chorus_Moment__c", "Text__c")``)."""
    return package_objects()[api_name(sobject)][api_name(local_field)]


def _zip_files() -> list[Path]:
    files: list[Path] = []
    for root in ZIP_ROOTS:
        path = PACKAGE_DIR / root
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file()
                      and not ZIP_EXCLUDE.intersection(p.relative_to(PACKAGE_DIR).parts)]
    return sorted(files, key=lambda p: p.relative_to(PACKAGE_DIR).as_posix())


def package_zip(*, canvas_url: str) -> bytes:
    """The SFDX source folder (sfdx-project.json, force-app/…) as a zip, in a fixed
    order with fixed timestamps, the canvas app's URL set to ``canvas_url``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _zip_files():
            name = path.relative_to(PACKAGE_DIR).as_posix()
            data = path.read_bytes()
            if name == CANVAS_APP_FILE:
                data = data.replace(CANVAS_URL_PLACEHOLDER.encode(), escape(canvas_url).encode())
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()
