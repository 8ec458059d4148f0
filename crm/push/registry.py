"""Registration of CRM Objects Creation: its section on Settings > Integrations, one
outbox sender per CRM, and its Django admin. Called from ``CrmConfig.ready``; safe
to call more than once."""

from __future__ import annotations


def register() -> None:
    from crm.push.admin import register_admin
    from crm.push.section import SECTION_KEY, SECTION_TITLE, crm_objects_section
    from crm.push.senders import SENDER_CLASSES
    from integrations.registry import Section, register_section, register_sender

    register_section(Section(key=SECTION_KEY, title=SECTION_TITLE, order=20,
                             template="crm_push/section.html", context=crm_objects_section))
    for target, cls in SENDER_CLASSES.items():
        register_sender(target, cls())
    register_admin()
