"""Slack (Enterprise): the Chorus app installed in the org's workspace, users' linked
Slack identities, post-meeting briefs by DM, and /chorus channel tracking of accounts
and opportunities whose meeting summaries go to those channels."""
