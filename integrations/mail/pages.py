"""What the console shows of the mailboxes: Personal Settings > Emails."""

from __future__ import annotations

from integrations.mail.models import Mailbox


def emails_section(request, org) -> dict:
    """The signed-in user's mailboxes (one per OAuth calendar), with the sentence
    to reconnect when the connection predates the mail scope."""
    user = request.user
    return {"mailboxes": list(Mailbox.objects.for_org(org).filter(calendar__user=user)
                              .select_related("calendar"))}
