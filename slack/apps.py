from django.apps import AppConfig


class SlackConfig(AppConfig):
    name = "slack"
    verbose_name = "Slack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.registry import PERSONAL_PAGE, Provider, Section, register_provider, register_section
        from slack import services

        register_provider(Provider(key="slack", label="Slack", category="collaboration", enterprise_only=True))
        register_section(Section(key="slack", title="Slack", order=70, template="slack/section.html",
                                 context=services.slack_section))
        register_section(Section(key="slack-personal", title="Chorus for Slack Integration", order=30,
                                 template="slack/section_personal.html", context=services.slack_personal_section,
                                 page=PERSONAL_PAGE))

        # Post-meeting briefs by DM and channel summaries: outbox rows written when an
        # engagement is ready (after account matching), sent by the outbox workers.
        from integrations.ready import register_ready_listener
        from integrations.registry import register_sender
        from slack import delivery

        register_ready_listener("slack.briefs", delivery.slack_ready, order=60)
        register_sender("slack", delivery.SlackSender())
