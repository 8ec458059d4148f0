"""Every dialer of the seed's table is in the catalogue, with the seed's exact
directions, credential fields, CRM field, CRM exemption and importer family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dialers.catalogue import CATALOGUE, DIALERS, dialer_get, dialers_search
from integrations.registry import PROVIDERS, providers_in

SEED = Path(os.environ.get("CHORUS_SEED_GUIDE", "/work/shared/seed/chorus-integrations-guide.txt"))

SF = "salesforce"
# The seed's table, verbatim: label → (credential field labels, CRM field, importer family).
EXPECTED = {
    "3CLogic": (["3CLogic Username", "3CLogic Password"], SF, "crm_task"),
    "8x8": (["8x8 Username", "8x8 Password"], SF, "crm_task"),
    "Aircall - Hubspot": (["Aircall API Key", "Auth Secret Key"], "", "dialer_api"),
    "Amazon Connect": (["AmazonConnect Auth Key", "AmazonConnect Auth Secret Key"], SF, "s3_bucket"),
    "Apollo": ([], SF, "crm_task"),
    "CloudTalk": ([], SF, "crm_task"),
    "ConnectAndSell": ([], SF, "crm_task"),
    "Koncert (formerly ConnectLeader)": ([], SF, "crm_task"),
    "Conquer (formerly DialSource)": ([], SF, "crm_task"),
    "DialPad": ([], SF, "crm_task"),
    "Engage Dialer": ([], "", "none"),  # ZoomInfo publishes no API for Engage calls: not importable
    "Five9": (["Five9 Auth Key", "Auth Secret Key", "S3 Bucket Link"], SF, "s3_bucket"),
    "FrontSpin": ([], SF, "crm_task"),
    "Fuze": ([], SF, "crm_task"),
    "Generic S3 Dialer": ([], SF, "crm_task"),
    "Genesys Pureconnect": (["Genesys Username", "Genesys Password"], SF, "crm_task"),
    "Groove": ([], SF, "crm_task"),
    # Beyond the seed: a HubSpot key of its own for when HubSpot is not the connected CRM.
    "Hubspot Dialer": (["HubSpot service key"], "blank", "crm_task"),
    "InsideSales.com (XANT)": (["InsideSales Auth Key", "Auth Secret Key", "S3 Bucket Link"], SF, "s3_bucket"),
    "InsideSales Playbook (XANT Playbook)": (["InsideSales Playbook API Key"], SF, "crm_task"),
    "MixMax Dialer": ([], SF, "crm_task"),
    "NewVoice Media": (["NewVoiceMedia Username", "NewVoiceMedia Password", "NewVoiceMedia Region"], SF, "crm_task"),
    "Orum": ([], SF, "crm_task"),
    "Outreach": ([], SF, "crm_task"),
    "PhoneBurner": ([], SF, "crm_task"),
    "RingCentral": ([], SF, "crm_task"),
    "Salesforce Lightning Dialer": ([], SF, "crm_task"),
    "SalesLoft": ([], SF, "crm_task"),
    "Shoretel": (["Shoretel Username", "Shoretel Password"], SF, "crm_task"),  # no public Mitel API: CRM Tasks
    "Talkdesk": (["Talkdesk Username", "Talkdesk Password"], SF, "crm_task"),
    "Truly": (["Truly Auth ID", "Auth Secret Key"], SF, "crm_task"),
    "RingCentral for HubSpot": ([], "hubspot", "crm_task"),
    "RingDNA S3": ([], SF, "crm_task"),
    "Zendesk Talk": (["Username", "Password", "Domain"], "", "dialer_api"),
    "Zoom Phone": ([], "optional", "zoom_phone"),
}
# Seed note: "Exceptions include the following dialers: ZoomInfo Engage, HubSpot
# Dialer, Zoom Phone, or Shoretel Sky/Mitel."
EXEMPT = {"Engage Dialer", "Hubspot Dialer", "Zoom Phone", "Shoretel"}


def seed_table() -> dict[str, str]:
    """The rows of the seed's dialer table (three tab-separated blocks)."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index("3. Locate your dialer in the following table")
    end = text.index("4. Click **Sync Dialer**", start)
    rows = {}
    for line in text[start:end].splitlines():
        if "\t" in line and not line.startswith("Dialer Name"):
            label, directions = line.split("\t", 1)
            rows[label.strip()] = directions.strip()
    return rows


@pytest.mark.skipif(not SEED.exists(), reason="the seed guide is not on this machine")
def test_every_row_of_the_seed_table_is_in_the_catalogue_with_its_directions():
    rows = seed_table()
    assert len(rows) == 35
    by_label = {d.label: d for d in DIALERS}
    assert set(rows) == set(by_label)
    for label, directions in rows.items():
        assert by_label[label].directions == directions, label
    assert set(rows) == set(EXPECTED)


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_exact_fields_crm_field_family_and_exemption(label):
    fields, crm_field, family = EXPECTED[label]
    dialer = next(d for d in DIALERS if d.label == label)
    assert [f.label for f in dialer.credentials] == fields
    assert dialer.crm_field == crm_field
    assert dialer.family == family
    assert dialer.crm_exempt == (label in EXEMPT)
    for f in dialer.credentials:  # every field is named in its directions ("log in credentials" for Genesys)
        if f.unless_crm:
            continue  # not the seed's: stands in for a CRM connection the seed assumes
        word = f.label.split()[-1].lower()
        assert word in dialer.directions.lower() or "log in credentials" in dialer.directions


def test_secrets_are_the_passwords_keys_and_secrets_only():
    secret = {(d.key, f.name) for d in DIALERS for f in d.credentials if f.secret}
    plain = {(d.key, f.name) for d in DIALERS for f in d.credentials if not f.secret}
    assert all(name in ("password", "api_key", "auth_key", "auth_secret_key", "access_token") for _, name in secret)
    assert all(name in ("username", "region", "domain", "s3_bucket_link", "auth_id") for _, name in plain)


def test_which_dialers_need_a_crm_and_which_chorus_cannot_import():
    """The seed's exceptions, as far as they are true: HubSpot Dialer (its own HubSpot
    key) and Zoom Phone import without a CRM; Shoretel's calls can only come from the
    CRM (no public Mitel API); Engage cannot be imported at all (no public ZoomInfo API)."""
    without_crm = {d.label for d in DIALERS if d.importable and not d.requires_crm}
    assert without_crm == {"Hubspot Dialer", "Zoom Phone"}
    assert CATALOGUE["shoretel"].requires_crm and CATALOGUE["shoretel"].no_api.startswith(
        "Chorus cannot import from Shoretel Sky/Mitel automatically yet")
    assert not CATALOGUE["engage"].importable and CATALOGUE["engage"].no_api.startswith(
        "Chorus cannot import from ZoomInfo Engage automatically yet")
    assert [f.name for f in CATALOGUE["hubspot_dialer"].credentials_asked("hubspot")] == []
    assert [f.name for f in CATALOGUE["hubspot_dialer"].credentials_asked("salesforce")] == ["access_token"]


def test_the_catalogue_is_registered_as_dialer_providers():
    assert len(CATALOGUE) == 35
    dialer_providers = providers_in("dialer")
    assert {p.key for p in dialer_providers} == set(CATALOGUE)
    five9 = PROVIDERS["five9"]
    assert [(p.label, p.secret) for p in five9.params] == [
        ("Five9 Auth Key", True), ("Auth Secret Key", True), ("S3 Bucket Link", False)]


def test_connect_dialer_search():
    assert [d.label for d in dialers_search("five")] == ["Five9"]
    assert [d.label for d in dialers_search("Zoom Phone")] == ["Zoom Phone"]
    assert "Conquer (formerly DialSource)" in [d.label for d in dialers_search("dialsource")]
    assert "Engage Dialer" in [d.label for d in dialers_search("zoominfo")]
    assert len(dialers_search("")) == 35
    assert dialers_search("no such dialer") == []
    assert dialer_get("outreach").label == "Outreach"
