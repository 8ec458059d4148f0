"""django-q2 tasks: thin wrappers that call services."""


def mailbox_sync_task(mailbox_id: int) -> str | None:
    from integrations.mail.models import Mailbox
    from integrations.mail.sync import mailbox_sync

    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    return mailbox_sync(mailbox=mailbox).status if mailbox else None


def mailboxes_sync_due_task() -> int:
    from integrations.mail.sync import mailboxes_sync_due

    return mailboxes_sync_due()
