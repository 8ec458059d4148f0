"""Every dialer of the seed's "Dialer Integration" table, described as data.

A dialer is not a class: it is a row (label, the credential fields the seed asks
for, which CRM field it needs, the importer family that fetches its calls). The
families (``dialers/importers/``) are the only code; adding a dialer is adding a
row. ``directions`` is the seed's text, shown on the dialer's form.
"""

from __future__ import annotations

from dataclasses import dataclass

# Importer families (see dialers/importers/__init__.py).
CRM_TASK = "crm_task"  # call Tasks of the connected CRM; recording URL in the chosen field
S3_BUCKET = "s3_bucket"  # call Tasks index the calls; media is in the dialer's S3 bucket
DIALER_API = "dialer_api"  # the dialer's own paged HTTP API
ZOOM_PHONE = "zoom_phone"  # Zoom's phone recordings API through the org's Zoom app
NO_IMPORTER = "none"  # no public API to read its calls from: the form says so, nothing is imported

# Which CRM field the form asks for.
SALESFORCE_FIELD = "salesforce"  # "Select the Salesforce API field name …"
HUBSPOT_FIELD = "hubspot"  # "Select the HubSpot API field name …"
BLANK_FIELD = "blank"  # HubSpot Dialer: 'Leave the "Call Disposition" field blank.'
OPTIONAL_FIELD = "optional"  # Zoom Phone: "If you do not have a field for this, leave this drop down blank."
NO_FIELD = ""

SF_SELECT = ("select the Salesforce API field name your organization uses for your call outcome "
             "(e.g. Call_Recording__c)")
SF_DIRECTION = SF_SELECT[0].upper() + SF_SELECT[1:]
ENGAGE_DIRECTION = "See this section for Engage Dialer integration"
ZOOM_DIRECTION = "See this section for Zoom Phone integration"


@dataclass(frozen=True)
class CredentialField:
    name: str  # key in the connection's encrypted secrets / config
    label: str  # the seed's wording
    secret: bool = True
    help: str = ""
    # Not asked while this CRM is the connected one: its CRM Connect sign-in is used instead.
    unless_crm: str = ""


# Zoom Phone (seed): "This integration is for Salesforce only no other CRMs are
# supported at this time."
ZOOM_PHONE_SALESFORCE_ONLY = ("Zoom Phone works with Salesforce only: this integration is for Salesforce only, "
                              "no other CRMs are supported at this time.")
READS_ANOTHER_CRM = "{label} reads calls from {crm}, but your connected CRM is not {crm}."

# Where no public API lets Chorus read a dialer's calls, the form says so instead of
# pretending (searched in December 2026; see the README's dialer notes).
ENGAGE_NO_API = (
    "Chorus cannot import from ZoomInfo Engage automatically yet: ZoomInfo publishes no API for reading Engage "
    "Dialer calls or their recordings (its public API, api-docs.zoominfo.com, covers company and contact data "
    "only), so there is nothing Chorus could connect to. For assistance, contact your ZoomInfo CSM or Chorus "
    "Support.")
SHORETEL_NO_API = (
    "Chorus cannot import from Shoretel Sky/Mitel automatically yet: Mitel publishes no API that lists ShoreTel "
    "Sky (MiCloud Connect) calls and their recordings (its CloudLink API, developer.mitel.io, covers call "
    "control, chat and administration). Connect your CRM under CRM Connect first: Chorus then imports Shoretel "
    "calls from the call recording URL on the CRM's call Task, downloading it with your Shoretel Username and "
    "Password.")
# HubSpot Dialer reads HubSpot's call objects: through CRM Connect when HubSpot is the
# connected CRM, otherwise with a key of its own. HubSpot sends both kinds as a Bearer
# token; its calls API needs crm.objects.contacts.read, its owners API
# crm.objects.owners.read (developers.hubspot.com/docs/api-reference/latest/crm/activities/calls/guide,
# …/crm/owners/guide, …/apps/developer-platform/build-apps/authentication/account-service-keys).
HUBSPOT_SCOPES = ("crm.objects.contacts.read", "crm.objects.owners.read")
HUBSPOT_KEY_HELP = (
    "Needed only while HubSpot is not your connected CRM. In HubSpot, go to Development > Keys > Service keys > "
    "Create service key, add the scopes crm.objects.contacts.read (to read call records) and "
    "crm.objects.owners.read (to match each call's owner to a Chorus user), create it and paste the key here. "
    "An existing private app's access token with the same scopes works too.")


@dataclass(frozen=True)
class Dialer:
    key: str
    label: str
    directions: str
    family: str
    credentials: tuple[CredentialField, ...] = ()
    crm_field: str = SALESFORCE_FIELD
    # Seed: "Exceptions include the following dialers: ZoomInfo Engage, HubSpot
    # Dialer, Zoom Phone, or Shoretel Sky/Mitel." The others need a CRM first.
    crm_exempt: bool = False
    aliases: tuple[str, ...] = ()  # other names the search box finds it by
    api_base_url: str = ""  # dialer_api family: the vendor's API root ({domain} filled in)
    api_auth: str = ""  # dialer_api family: "basic" (first two fields)
    api_style: str = ""  # dialer_api family: "" (Aircall-shaped call list) or "zendesk" (Talk incremental export)
    # The one CRM it works with (a CRM provider key), and what the page says when
    # another CRM is connected ("" = the standard sentence).
    only_crm: str = ""
    only_crm_refusal: str = ""
    # The CRM whose call records it reads whichever CRM is connected (HubSpot Dialer),
    # with a credential of its own (a field with ``unless_crm``) when that CRM is not connected.
    reads_crm: str = ""
    # Why Chorus cannot read its calls from the dialer itself ("" = it can, or its family needs no API).
    no_api: str = ""

    @property
    def importable(self) -> bool:
        return self.family != NO_IMPORTER

    @property
    def requires_crm(self) -> bool:
        """A CRM must be connected before its calls can be imported: every dialer the
        seed does not exempt, and an exempt one whose calls only a CRM lists (Shoretel)."""
        if not self.importable:
            return False
        return not self.crm_exempt or (self.family in (CRM_TASK, S3_BUCKET) and not self.reads_crm)

    @property
    def asks_crm_field(self) -> bool:
        return self.crm_field in (SALESFORCE_FIELD, HUBSPOT_FIELD, BLANK_FIELD, OPTIONAL_FIELD)

    @property
    def only_crm_key(self) -> str:
        return self.only_crm or ("hubspot" if self.crm_field == HUBSPOT_FIELD else "")

    @property
    def crm_field_required(self) -> bool:
        """The CRM task family needs to know which field holds the recording URL."""
        return self.family in (CRM_TASK, S3_BUCKET) and self.crm_field in (SALESFORCE_FIELD, HUBSPOT_FIELD)

    def credentials_asked(self, crm_key: str = "") -> tuple[CredentialField, ...]:
        """The fields its form asks for beside the connected CRM ``crm_key``: one that
        CRM's own sign-in replaces (HubSpot Dialer's key while HubSpot is the CRM) is left out."""
        return tuple(f for f in self.credentials if not (f.unless_crm and f.unless_crm == crm_key))

    @property
    def secret_fields(self) -> tuple[CredentialField, ...]:
        return tuple(f for f in self.credentials if f.secret)

    def matches(self, query: str) -> bool:
        q = " ".join(query.lower().split())
        return not q or any(q in name.lower() for name in (self.label, self.key, *self.aliases))


def _f(name: str, label: str, secret: bool = True, help: str = "", unless_crm: str = "") -> CredentialField:
    return CredentialField(name=name, label=label, secret=secret, help=help, unless_crm=unless_crm)


def _userpass(vendor: str) -> tuple[CredentialField, ...]:
    return (_f("username", f"{vendor} Username", secret=False), _f("password", f"{vendor} Password"))


def _sf(key, label, family=CRM_TASK, credentials=(), directions=None, **kw) -> Dialer:
    return Dialer(key=key, label=label, family=family, credentials=credentials,
                  directions=directions or SF_DIRECTION, **kw)


NOT_SURE = "Not sure? Ask your {} rep."

DIALERS: tuple[Dialer, ...] = (
    _sf("3clogic", "3CLogic", credentials=_userpass("3CLogic"),
        directions="Input your 3CLogic Username and Password and " + SF_SELECT),
    _sf("8x8", "8x8", credentials=_userpass("8x8"),
        directions="Input your 8x8 Username and Password and " + SF_SELECT),
    Dialer(key="aircall_hubspot", label="Aircall - Hubspot", family=DIALER_API, crm_field=NO_FIELD,
           directions="Input your Aircall API Key and Auth Secret Key. Not sure? Ask your Aircall rep.",
           credentials=(_f("api_key", "Aircall API Key", help=NOT_SURE.format("Aircall")),
                        _f("auth_secret_key", "Auth Secret Key", help=NOT_SURE.format("Aircall"))),
           aliases=("Aircall",), api_base_url="https://api.aircall.io/v1", api_auth="basic"),
    _sf("amazon_connect", "Amazon Connect", family=S3_BUCKET,
        credentials=(_f("auth_key", "AmazonConnect Auth Key", help=NOT_SURE.format("AmazonConnect")),
                     _f("auth_secret_key", "AmazonConnect Auth Secret Key", help=NOT_SURE.format("AmazonConnect"))),
        directions="Input your AmazonConnect Auth Key and Auth Secret Key (not sure? Ask your AmazonConnect rep) "
                   "and " + SF_SELECT,
        aliases=("AmazonConnect", "AWS")),
    _sf("apollo", "Apollo"),
    _sf("cloudtalk", "CloudTalk"),
    _sf("connectandsell", "ConnectAndSell"),
    _sf("koncert", "Koncert (formerly ConnectLeader)", aliases=("ConnectLeader",)),
    _sf("conquer", "Conquer (formerly DialSource)", aliases=("DialSource",)),
    _sf("dialpad", "DialPad"),
    Dialer(key="engage", label="Engage Dialer", family=NO_IMPORTER, crm_field=NO_FIELD, crm_exempt=True,
           directions=ENGAGE_DIRECTION, aliases=("ZoomInfo Engage", "ZoomInfo"), no_api=ENGAGE_NO_API),
    _sf("five9", "Five9", family=S3_BUCKET,
        credentials=(_f("auth_key", "Five9 Auth Key", help=NOT_SURE.format("Five9")),
                     _f("auth_secret_key", "Auth Secret Key", help=NOT_SURE.format("Five9")),
                     _f("s3_bucket_link", "S3 Bucket Link", secret=False,
                        help="e.g. s3://your-bucket/recordings/. " + NOT_SURE.format("Five9"))),
        directions="Input your Five9 Auth Key, Auth Secret Key, and S3 Bucket Link (not sure? Ask your Five9 rep) "
                   "and " + SF_SELECT),
    _sf("frontspin", "FrontSpin"),
    _sf("fuze", "Fuze"),
    _sf("generic_s3", "Generic S3 Dialer"),
    _sf("genesys_pureconnect", "Genesys Pureconnect", credentials=_userpass("Genesys"),
        directions="Input your Genesys log in credentials and " + SF_SELECT,
        aliases=("Genesys",)),
    _sf("groove", "Groove"),
    Dialer(key="hubspot_dialer", label="Hubspot Dialer", family=CRM_TASK, crm_field=BLANK_FIELD, crm_exempt=True,
           directions='Leave the "Call Disposition" field blank.', aliases=("HubSpot Calling",), reads_crm="hubspot",
           credentials=(_f("access_token", "HubSpot service key", help=HUBSPOT_KEY_HELP, unless_crm="hubspot"),)),
    _sf("insidesales", "InsideSales.com (XANT)", family=S3_BUCKET,
        credentials=(_f("auth_key", "InsideSales Auth Key", help=NOT_SURE.format("InsideSales")),
                     _f("auth_secret_key", "Auth Secret Key", help=NOT_SURE.format("InsideSales")),
                     _f("s3_bucket_link", "S3 Bucket Link", secret=False,
                        help="e.g. s3://your-bucket/recordings/. " + NOT_SURE.format("InsideSales"))),
        directions="Input your InsideSales Auth Key, Auth Secret Key, and S3 Bucket Link (not sure? Ask your "
                   "InsideSales rep) and select the Salesforce API field name your call outcome "
                   "(e.g. Call_Recording__c)",
        aliases=("XANT",)),
    _sf("insidesales_playbook", "InsideSales Playbook (XANT Playbook)",
        credentials=(_f("api_key", "InsideSales Playbook API Key", help=NOT_SURE.format("InsideSales Playbook")),),
        directions="Input your InsideSales Playbook API Key (not sure? Ask your InsideSales Playbook rep) and "
                   + SF_SELECT,
        aliases=("XANT Playbook",)),
    _sf("mixmax", "MixMax Dialer"),
    _sf("newvoicemedia", "NewVoice Media",
        credentials=(*_userpass("NewVoiceMedia"),
                     _f("region", "NewVoiceMedia Region", secret=False, help="e.g. EMEA, NA, APAC")),
        directions="Input your NewVoiceMedia Username, Password, and Region and "
                   + SF_SELECT,
        aliases=("NewVoiceMedia", "Vonage")),
    _sf("orum", "Orum"),
    _sf("outreach", "Outreach", aliases=("Outreach.io", "Outreach Voice")),
    _sf("phoneburner", "PhoneBurner"),
    _sf("ringcentral", "RingCentral"),
    _sf("salesforce_lightning", "Salesforce Lightning Dialer"),
    _sf("salesloft", "SalesLoft"),
    # The note names it "Shoretel Sky/Mitel" among the exceptions, but Mitel publishes
    # no call-recordings API; its row asks for the Salesforce field, so its calls come
    # from the CRM's call Tasks like the other username/password rows.
    Dialer(key="shoretel", label="Shoretel", family=CRM_TASK, crm_field=SALESFORCE_FIELD, crm_exempt=True,
           credentials=_userpass("Shoretel"),
           directions="Input your Shoretel Username and Password and " + SF_SELECT,
           aliases=("Shoretel Sky", "Mitel"), no_api=SHORETEL_NO_API),
    _sf("talkdesk", "Talkdesk", credentials=_userpass("Talkdesk"),
        directions="Input your Talkdesk Username and Password and " + SF_SELECT),
    _sf("truly", "Truly",
        credentials=(_f("auth_id", "Truly Auth ID", secret=False, help=NOT_SURE.format("Truly")),
                     _f("auth_secret_key", "Auth Secret Key", help=NOT_SURE.format("Truly"))),
        directions="Input your Truly Auth ID and Auth Secret Key (not sure? Ask your Truly rep) and "
                   + SF_SELECT),
    Dialer(key="ringcentral_hubspot", label="RingCentral for HubSpot", family=CRM_TASK, crm_field=HUBSPOT_FIELD,
           directions="Select the HubSpot API field name your organization uses for your call outcome "
                      "(e.g. Call_Recording__c)"),
    _sf("ringdna_s3", "RingDNA S3", aliases=("RingDNA", "Revenue.io")),
    Dialer(key="zendesk_talk", label="Zendesk Talk", family=DIALER_API, crm_field=NO_FIELD,
           credentials=(_f("username", "Username", secret=False), _f("password", "Password"),
                        _f("domain", "Domain", secret=False, help="Your Zendesk subdomain, e.g. acme for "
                                                                  "acme.zendesk.com")),
           directions="Input your Username, Password and Domain", aliases=("Zendesk",),
           api_base_url="https://{domain}.zendesk.com/api/v2", api_auth="basic", api_style="zendesk"),
    Dialer(key="zoom_phone", label="Zoom Phone", family=ZOOM_PHONE, crm_field=OPTIONAL_FIELD, crm_exempt=True,
           directions=ZOOM_DIRECTION, aliases=("Zoom",), only_crm="salesforce",
           only_crm_refusal=ZOOM_PHONE_SALESFORCE_ONLY),
)

CATALOGUE: dict[str, Dialer] = {d.key: d for d in DIALERS}
assert len(CATALOGUE) == len(DIALERS), "dialer keys must be unique"

ZOOM_PHONE_ACCOUNT_NOTE = ("The Zoom phone API requires a Business or Enterprise Zoom account. If you do not have "
                           "a Business or Enterprise account, Chorus will be unable to pull in calls.")


def dialer_get(key: str) -> Dialer | None:
    return CATALOGUE.get(key)


def dialers_search(query: str = "") -> list[Dialer]:
    """The "Connect Dialer" search box: by label, key or a former name, alphabetical."""
    return sorted((d for d in DIALERS if d.matches(query)), key=lambda d: d.label.lower())

# Seed, "Push Outreach Recordings to Salesforce": Settings > Plugins > Salesforce >
# Tasks (Calls) > Fields in Outreach. (Outreach call field, Salesforce Task field,
# updates in, updates out.)
OUTREACH_MAPPING = (
    ("Completed At", "Due Date Only", False, True),
    ("User", "Assigned To ID", True, True),
    ("Prospect", "Name ID", True, True),
    ("Note", "Description", True, True),
    ("Custom Template...", "Subject", False, True),
    ("Call Direction", "Call Type", False, True),
    ("Call Disposition Name", "Call Result", False, True),
    ("Recording URL", "Call Recording", False, True),
)
