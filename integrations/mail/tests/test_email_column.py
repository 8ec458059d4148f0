"""The Email column of CRM Objects Creation, end to end over the wire: an email read
from a mailbox (the Gmail fake) becomes a CRM task (Salesforce, HubSpot, Dynamics
fakes) only when "Create a task" is ticked for Email."""

import pytest

from chorus.models import Engagement
from crm.push.models import CELLS
from integrations.mail.sync import mailbox_sync
from integrations.mail.tests.conftest import ago, mailbox_for
from testutils import crm_fakes

pytestmark = pytest.mark.django_db
TASKS = {"salesforce": "Task", "hubspot": "tasks", "dynamics": "tasks"}
BODY = {"salesforce": lambda r: r["Description"], "hubspot": lambda r: r["properties"]["hs_task_body"],
        "dynamics": lambda r: r["description"]}
SUBJECT = {"salesforce": lambda r: r["Subject"], "hubspot": lambda r: r["properties"]["hs_task_subject"],
           "dynamics": lambda r: r["subject"]}


@pytest.fixture(params=sorted(TASKS))
def push_crm(request, push_settings):
    return request.param


def only(org, *cells):
    crm_fakes.matrix(org, **{name: name in cells for name in CELLS})


def test_an_email_becomes_a_task_only_when_the_email_column_says_so(org, push_crm, connection, rep, fake, gmail):
    mail = gmail()
    mailbox = mailbox_for(rep, "google", "G-ACCESS")
    only(org, "task_recording", "task_unrecorded")  # every column's task but Email's
    mail.add(subject="Pricing follow-up", sender="Rey Rep <rep@acme.example>",
             to=["Willy Wonka <willy@wonka.example>"], sent=ago(hours=2), labels=("SENT",))
    assert mailbox_sync(mailbox=mailbox).status == "ok"
    crm_fakes.drain()
    assert Engagement.objects.filter(kind="email").count() == 1
    assert not fake.records.get(TASKS[push_crm])

    only(org, "task_email")
    mail.add(subject="Contract questions", sender="Willy Wonka <willy@wonka.example>", to=["rep@acme.example"],
             sent=ago(hours=1))
    assert mailbox_sync(mailbox=mailbox).status == "ok"
    crm_fakes.drain()
    (task,) = fake.records[TASKS[push_crm]]
    assert SUBJECT[push_crm](task) == "Chorus - Contract questions"
    body = BODY[push_crm](task)
    assert "ATTENDEES:" in body and "Willy Wonka" in body and "RECORDING:" not in body and "NEXT STEPS" not in body
    assert not {k for k, v in fake.records.items() if v} - {TASKS[push_crm], "associations"}


def test_the_email_column_creates_contacts_as_ticked(org, push_crm, connection, rep, fake, gmail):
    mail = gmail()
    mailbox = mailbox_for(rep, "google", "G-ACCESS")
    only(org, "contact_email")
    mail.add(subject="Intro", sender="Rey Rep <rep@acme.example>", to=["Willy Wonka <willy@wonka.example>"],
             sent=ago(hours=2), labels=("SENT",))
    assert mailbox_sync(mailbox=mailbox).status == "ok"
    crm_fakes.drain()
    contacts = {"salesforce": "Contact", "hubspot": "contacts", "dynamics": "contacts"}[push_crm]
    assert len(fake.records[contacts]) == 1 and not fake.records.get(TASKS[push_crm])
