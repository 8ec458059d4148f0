"""Registration of CRM Objects Creation: its section on Settings > Integrations and
its Django admin (each CRM's outbox sender is registered with the CRM). Called from ``CrmConfig.ready``; safe
to call more than once."""

from __future__ import annotations


def register() -> None:
    from crm.push.admin import register_admin
    from crm.push.section import SECTION_KEY, SECTION_TITLE, crm_objects_section
    from integrations.registry import Section, register_section

    register_section(Section(key=SECTION_KEY, title=SECTION_TITLE, order=20,
                             template="crm_push/section.html", context=crm_objects_section))
    register_admin()
