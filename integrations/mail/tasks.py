"""django-q2 tasks: thin wrappers that call services."""


def mailboxes_sync_due_task() -> int:
    """The tick: one task per due mailbox (integrations/scheduler.py)."""
    from integrations.mail.sync import mailboxes_sync_due

    return mailboxes_sync_due()
