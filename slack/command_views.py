"""``/integrations/slack/commands``: the ``/chorus`` slash command endpoint. Thin:
the signature first (401), then the form (400), then ``slack.commands``."""

from __future__ import annotations

import logging

from django.http import JsonResponse

from slack import commands
from slack.signing import SlackSignedView

log = logging.getLogger(__name__)


class SlackCommandView(SlackSignedView):
    """Answers within Slack's 3 seconds with an ephemeral message; when Slack itself
    is slow to describe the channel the answer follows through ``response_url``
    (``slack.commands`` says why)."""

    def handle(self, request):
        try:
            command = commands.SlashCommand.from_form(request.POST)
        except ValueError as exc:
            return JsonResponse({"error": f"malformed slash command: {exc}"}, status=400)
        try:
            answer = commands.command_run(command=command)
        except commands.Deferred:
            commands.command_defer(command=command)
            answer = commands.ephemeral(commands.CHECKING)
        return JsonResponse(answer)
