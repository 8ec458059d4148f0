"""The Chorus solution for Dataverse, described once: the tables and columns Chorus
writes that are not Dataverse's own.

The push builds its rows with :func:`row`, which refuses a name the solution does not
define (Dataverse would answer 400 "Could not find a property named …" for good —
https://learn.microsoft.com/troubleshoot/power-platform/dataverse/dataverse-web-api-and-sdk/web-api-client-errors),
and the test server's ``$metadata`` is generated from these same definitions, so the
two cannot drift apart.

Engagement and Moment rows are written by id (a UUID derived from the Chorus key) and
carry the key in ``chorus_chorusid`` too, the solution's alternate key.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    logical_name: str
    entity_set: str
    primary_key: str
    columns: dict[str, str]  # logical name → Edm type
    lookups: dict[str, str] = field(default_factory=dict)  # navigation property → target table (logical name)
    alternate_key: str = ""


ENGAGEMENT = Table(
    "chorus_engagement", "chorus_engagements", "chorus_engagementid",
    columns={"chorus_name": "Edm.String", "chorus_chorusid": "Edm.String", "chorus_startedat": "Edm.DateTimeOffset",
             "chorus_durationseconds": "Edm.Int32", "chorus_recordingurl": "Edm.String"},
    lookups={"chorus_Account": "account", "chorus_Opportunity": "opportunity", "chorus_Contact": "contact"},
    alternate_key="chorus_chorusid",
)
MOMENT = Table(
    "chorus_moment", "chorus_moments", "chorus_momentid",
    columns={"chorus_name": "Edm.String", "chorus_chorusid": "Edm.String", "chorus_tracker": "Edm.String",
             "chorus_seconds": "Edm.Int32", "chorus_text": "Edm.String", "chorus_speaker": "Edm.String"},
    lookups={"chorus_Engagement": "chorus_engagement"},
    alternate_key="chorus_chorusid",
)
TABLES = (ENGAGEMENT, MOMENT)

# Columns the solution adds to Dataverse's own tables: the trackers heard, for a
# workflow to react to (the seed's "Chorus Competitor").
TRACKERS_COLUMN = "chorus_trackers"
EXTENSIONS = {"account": {TRACKERS_COLUMN: "Edm.String"}, "opportunity": {TRACKERS_COLUMN: "Edm.String"}}

NOT_INSTALLED = ("Dynamics has no {what}: the Chorus solution is not installed (or is out of date) in this "
                 "environment. Import the Chorus solution under Power Apps > Solutions > Import, then use Push "
                 "again. ({detail})")


def row(table: Table, values: dict) -> dict:
    """``values`` as a row of ``table``: every name must be a column or a lookup
    (``<navigation property>@odata.bind``) the solution defines."""
    unknown = sorted(k for k in values
                     if k.split("@", 1)[0] not in (table.columns if "@" not in k else table.lookups))
    if unknown:
        raise ValueError(f"The Chorus solution's {table.logical_name} has no {', '.join(unknown)}.")
    return values
